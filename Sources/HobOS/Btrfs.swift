// btrfs subvolume operations through ioctls (no process spawn on the create/destroy path).
import CHobShim
import Glibc

public enum Btrfs {
    public static func isBtrfs(_ path: String) -> Bool { hob_is_btrfs(path) == 1 }

    public static func isSubvolume(_ path: String) -> Bool { hob_btrfs_is_subvolume(path) == 1 }

    public static func createSubvolume(_ path: String) throws(SystemError) {
        let (dir, name) = split(path)
        try syscall("btrfs subvolume create \(path)") { hob_btrfs_subvol_create(dir, name) }
    }

    /// `qgroup`: a quota group the new subvolume joins in the same transaction (see BtrfsQuota).
    public static func snapshot(_ source: String, to destination: String, readOnly: Bool, qgroup: Qgroup? = nil) throws(SystemError) {
        let (dir, name) = split(destination)
        try syscall("btrfs snapshot \(source) → \(destination)") {
            hob_btrfs_snapshot_in_qgroup(source, dir, name, readOnly ? 1 : 0, qgroup?.rawValue ?? 0)
        }
    }

    /// The id of the subvolume `path` belongs to (its level-0 quota group is 0/<id>).
    public static func subvolumeID(_ path: String) throws(SystemError) -> UInt64 {
        var id: UInt64 = 0
        try syscall("btrfs subvolume id of \(path)") { hob_btrfs_subvolume_id(path, &id) }
        return id
    }

    /// Deletes a subvolume, first deleting any subvolumes nested inside it (a sprite's root may
    /// create its own with `btrfs subvolume create`).
    public static func deleteSubvolume(_ path: String) throws(SystemError) {
        let (dir, name) = split(path)
        if hob_btrfs_subvol_delete(dir, name) == 0 { return }
        let first = errno
        guard first == ENOTEMPTY || first == EPERM || first == EACCES else {
            throw SystemError(operation: "btrfs subvolume delete \(path)", errno: first)
        }
        // Read-only subvolumes (images, later checkpoints) and nested subvolumes need extra work.
        try? setReadOnly(path, false)
        for nested in nestedSubvolumes(path) { try deleteSubvolume(nested) }
        try syscall("btrfs subvolume delete \(path)") { hob_btrfs_subvol_delete(dir, name) }
    }

    /// Commits the filesystem's transaction and waits for it (BTRFS_IOC_SYNC).
    public static func sync(_ path: String) throws(SystemError) {
        try syscall("btrfs sync \(path)") { hob_btrfs_sync(path) }
    }

    public static func setReadOnly(_ path: String, _ readOnly: Bool) throws(SystemError) {
        let fd = try syscall("open \(path)") { open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        defer { close(fd) }
        // BTRFS_IOC_SUBVOL_GETFLAGS / SETFLAGS, BTRFS_SUBVOL_RDONLY = 1 << 1.
        var flags: UInt64 = 0
        try syscall("get subvolume flags \(path)") { ioctl(fd, 0x8008_9419, &flags) }
        flags = readOnly ? flags | 2 : flags & ~2
        try syscall("set subvolume flags \(path)") { ioctl(fd, 0x4008_941a, &flags) }
    }

    /// Subvolumes below `path` (depth-first, deepest first), found by their inode number 256.
    static func nestedSubvolumes(_ path: String) -> [String] {
        var found: [String] = []
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name == "." || name == ".." { continue }
            guard entry.pointee.d_type == UInt8(DT_DIR) else { continue }
            let child = "\(path)/\(name)"
            if isSubvolume(child) {
                found += nestedSubvolumes(child)
                found.append(child)
            } else {
                found += nestedSubvolumes(child)
            }
        }
        return found
    }

    static func split(_ path: String) -> (String, String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let dir = String(path[..<slash])
        return (dir.isEmpty ? "/" : dir, String(path[path.index(after: slash)...]))
    }
}
