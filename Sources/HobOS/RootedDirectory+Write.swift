// Writing into a RootedDirectory: whole files, replaced atomically, and the directories above them.
import CHobShim
import Glibc
import Synchronization

/// A file being written. It is made unnamed (O_TMPFILE) in its destination's directory, filled,
/// then linked in under a temporary name and renamed over the destination: readers see the old
/// file or the whole new one, never a part, and a crash or a dropped connection leaves nothing
/// behind (where O_TMPFILE is unsupported, a named temporary file is removed instead).
/// `write` and `commit` block: call them through `offload`, one at a time.
public final class FileUpload: Sendable {
    /// The destination inside the root, as the client named it.
    public let path: String
    /// True when nothing was at the destination before.
    public let creates: Bool
    let directory: Descriptor
    let name: String
    let file: Descriptor
    /// The temporary name, when the file could not be made unnamed.
    let temporaryName: String?
    let owner: (uid: uid_t, gid: gid_t)?
    let mode: UInt32
    private let progress = Mutex<(written: Int64, committed: Bool)>((0, false))

    init(in directory: Descriptor, name: String, path: String, owner: (uid: uid_t, gid: gid_t)?, mode: UInt32, creates: Bool) throws {
        self.path = path
        self.creates = creates
        self.directory = directory
        self.name = name
        self.owner = owner
        self.mode = mode & 0o7777
        var fd = openat(directory.raw, ".", Int32(HOB_O_TMPFILE) | O_WRONLY | O_CLOEXEC, 0o600)
        var temporary: String?
        if fd < 0, [EOPNOTSUPP, EISDIR, EINVAL].contains(errno) {
            for _ in 0..<16 {
                let candidate = ".hob-upload-\(randomSuffix())"
                fd = openat(directory.raw, candidate, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0o600)
                if fd >= 0 { temporary = candidate }
                if fd >= 0 || errno != EEXIST { break }
            }
        }
        guard fd >= 0 else { throw FileError("write", path, errno: errno) }
        file = Descriptor(fd)
        temporaryName = temporary
    }

    deinit {
        if let temporaryName, !progress.withLock({ $0.committed }) { unlinkat(directory.raw, temporaryName, 0) }
    }

    /// Appends `bytes`.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard let start = bytes.baseAddress else { return }
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(file.raw, start + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError("write", path, errno: errno)
            }
            offset += n
        }
        progress.withLock { $0.written += Int64(bytes.count) }
    }

    /// Appends everything `source` holds from its current offset (shared extents where the
    /// filesystem can, as btrfs does; copied bytes otherwise).
    func copy(from source: Descriptor) throws {
        var sharing = true
        var buffer: [UInt8] = []
        while true {
            if sharing {
                let n = hob_copy_file_range(source.raw, file.raw, 1 << 30)
                if n > 0 {
                    progress.withLock { $0.written += Int64(n) }
                    continue
                }
                if n == 0 { return }
                if errno == EINTR { continue }
                guard [EXDEV, EINVAL, ENOSYS, EOPNOTSUPP].contains(errno) else { throw FileError("copy", path, errno: errno) }
                sharing = false
                buffer = [UInt8](repeating: 0, count: 1 << 20)
            }
            let n = buffer.withUnsafeMutableBytes { Glibc.read(source.raw, $0.baseAddress, $0.count) }
            if n == 0 { return }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError("copy", path, errno: errno)
            }
            try buffer.withUnsafeBytes { try write(UnsafeRawBufferPointer(rebasing: $0[..<n])) }
        }
    }

    /// Gives the file its owner (the replaced file's, or root for a new one) and mode, flushes it
    /// to disk and puts it in place. Returns its size and mode.
    @discardableResult
    public func commit(times: (access: timespec, modification: timespec)? = nil) throws -> (size: Int64, mode: UInt32) {
        if let owner, fchown(file.raw, owner.uid, owner.gid) != 0 { throw FileError("write", path, errno: errno) }
        // After fchown, which clears setuid and setgid.
        guard fchmod(file.raw, mode_t(mode)) == 0 else { throw FileError("write", path, errno: errno) }
        if let times {
            var pair = [times.access, times.modification]
            guard futimens(file.raw, &pair) == 0 else { throw FileError("write", path, errno: errno) }
        }
        guard fsync(file.raw) == 0 else { throw FileError("write", path, errno: errno) }
        let staged = try temporaryName ?? link()
        guard renameat(directory.raw, staged, directory.raw, name) == 0 else {
            let e = errno
            unlinkat(directory.raw, staged, 0)
            throw FileError("write", path, errno: e)
        }
        return progress.withLock {
            $0.committed = true
            return ($0.written, mode)
        }
    }

    /// Gives the unnamed file a temporary name in its directory.
    private func link() throws -> String {
        for _ in 0..<16 {
            let candidate = ".hob-upload-\(randomSuffix())"
            if linkat(AT_FDCWD, "/proc/self/fd/\(file.raw)", directory.raw, candidate, AT_SYMLINK_FOLLOW) == 0 { return candidate }
            if errno != EEXIST { throw FileError("write", path, errno: errno) }
        }
        throw FileError("write", path, errno: EEXIST)
    }
}

extension RootedDirectory {
    /// Starts writing the file at `path`. A symlink there is followed (inside the root), as
    /// open(2) would; an existing file keeps its owner, and its mode unless `mode` is given
    /// (new files are root's, 0644). With `makeParents`, missing directories above it are made
    /// (0755); without, a missing one is ENOENT.
    public func beginUpload(_ path: RootedPath, mode: UInt32?, makeParents: Bool) throws -> FileUpload {
        guard !path.isRoot else { throw FileError("write", "/", errno: EISDIR) }
        if makeParents { try makeDirectories(path.parent, operation: "write", display: path.description) }
        let (directory, name) = try locateFollowing(path, operation: "write")
        var st = stat()
        let exists = fstatat(directory.raw, name, &st, AT_SYMLINK_NOFOLLOW) == 0
        if !exists, errno != ENOENT { throw FileError("write", path.description, errno: errno) }
        if exists {
            switch FileKind(st.st_mode) {
            case .file: break
            case .directory: throw FileError("write", path.description, errno: EISDIR)
            default: throw FileError("write", path.description, errno: EINVAL, reason: "not a regular file")
            }
        }
        return try FileUpload(
            in: directory, name: name, path: path.description, owner: exists ? (st.st_uid, st.st_gid) : nil,
            mode: mode ?? (exists ? UInt32(st.st_mode) & 0o7777 : 0o644), creates: !exists)
    }

    /// `mkdir -p` inside the root: each missing directory is made from its parent's descriptor
    /// (root's, 0755). A component that exists and is not a directory is ENOTDIR.
    func makeDirectories(_ path: RootedPath, operation: String, display: String) throws {
        if (try? directory(path, operation: operation)) != nil { return }
        for depth in 1..<(path.components.count + 1) {
            let prefix = RootedPath(components: Array(path.components.prefix(depth)))
            do {
                _ = try directory(prefix, operation: operation, display: display)
                continue
            } catch let error as FileError where error.errno == ENOENT {}
            let parent = try directory(prefix.parent, operation: operation, display: display)
            if mkdirat(parent.raw, path.components[depth - 1], 0o755) != 0 {
                guard errno == EEXIST else {
                    throw FileError(operation, display, errno: errno, reason: "cannot create \(prefix): \(FileError.text(errno))")
                }
                continue  // made meanwhile by someone else; the next step checks it is a directory
            }
            // mkdirat's mode went through the umask.
            try changeMode(try directory(prefix, operation: operation, display: display), 0o755, operation: operation, display: display)
        }
    }
}
