// The read-only checkpoint mounts at /.sprite/checkpoints/<name> (SPRITES-API.md §12.3: the last
// five checkpoints, for diffing against the live disk).
//
// The daemon sends the complete list each time, with one detached, idmapped, read-only mount per
// name (it cannot reach into our mount namespace itself). We make the directory match the list.
// Checkpoints never change, so a name that is already mounted keeps its mount and the new
// descriptor is simply closed: a shell sitting in /.sprite/checkpoints/v3 is not disturbed.
import CHobShim
import Glibc
import HobAgentProtocol

enum Checkpoints {
    static let directory = "/.sprite/checkpoints"

    /// The request itself is wrong (names, descriptor count); reported as `invalid`, not `failed`.
    struct InvalidRequest: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// Mounts `fds[i]` at /.sprite/checkpoints/`names[i]` and removes every other entry.
    /// The caller closes the descriptors afterwards, used or not.
    static func mount(_ names: [String], fds: [Int32]) throws {
        guard fds.count == names.count else {
            throw InvalidRequest("received \(fds.count) mount descriptors for \(names.count) checkpoints")
        }
        for name in names {
            if let problem = checkpointMountNameProblem(name) { throw InvalidRequest(problem) }
        }
        let wanted = Set(names)
        guard wanted.count == names.count else { throw InvalidRequest("a checkpoint is named twice") }

        try ensureDirectory(directory)
        for entry in try entries(of: directory) where !wanted.contains(entry) {
            try remove("\(directory)/\(entry)")
        }
        for (name, fd) in zip(names, fds) {
            let path = "\(directory)/\(name)"
            if try isMountRoot(path) { continue }
            try ensureDirectory(path)
            try check("attach checkpoint \(name) at \(path)") { hob_move_mount_fd(fd, path) }
        }
    }

    /// A real directory with mode 0755 at `path`; anything else found there is removed first.
    static func ensureDirectory(_ path: String) throws {
        var st = stat()
        if lstat(path, &st) == 0 {
            if (st.st_mode & S_IFMT) == S_IFDIR { return }
            try check("remove \(path)") { hob_remove_tree(path) }
        }
        try check("mkdir \(path)") { mkdir(path, 0o755) }
        try check("chmod \(path)") { chmod(path, 0o755) }  // mkdir's mode is filtered by the umask
    }

    /// Unmounts whatever is mounted at `path` (stacked mounts included) and removes it.
    static func remove(_ path: String) throws {
        // UMOUNT_NOFOLLOW: an entry the sprite turned into a symlink must not unmount its target.
        var unmounts = 0
        while try isMountRoot(path), unmounts < 16 {
            try check("unmount \(path)") { umount2(path, Int32(MNT_DETACH) | Int32(UMOUNT_NOFOLLOW)) }
            unmounts += 1
        }
        try check("remove \(path)") { hob_remove_tree(path) }
    }

    static func isMountRoot(_ path: String) throws -> Bool {
        let rc = hob_is_mount_root(path)
        if rc >= 0 { return rc == 1 }
        let e = errno
        if e == ENOENT { return false }
        throw SysError(operation: "check whether \(path) is mounted", errno: e)
    }

    /// Names in `path`, without "." and "..".
    static func entries(of path: String) throws -> [String] {
        guard let dir = opendir(path) else { throw SysError(operation: "list \(path)", errno: errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: entry.pointee.d_name)) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}
