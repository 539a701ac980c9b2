// Changing what is in a RootedDirectory: delete, rename, copy and chmod, recursively where asked.
// Walks never follow a symlink and never leave the tree (children are opened with
// RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), whatever the tree's owner does meanwhile.
import CHobShim
import Glibc

extension RootedDirectory {
    // MARK: - Delete

    /// Deletes what `path` names; a symlink itself, never its target. A directory must be empty
    /// unless `recursive`. Returns how many entries were removed (everything below included).
    public func delete(_ path: RootedPath, recursive: Bool) throws -> Int {
        let (directory, name) = try locate(path, operation: "delete")
        var st = stat()
        guard fstatat(directory.raw, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
            throw FileError("delete", path.description, errno: errno)
        }
        if FileKind(st.st_mode) == .directory {
            if recursive {
                return try removeTree(directory, EntryName(name), display: path.description, depth: 1)
            }
            guard unlinkat(directory.raw, name, AT_REMOVEDIR) == 0 else { throw FileError("delete", path.description, errno: errno) }
            return 1
        }
        guard unlinkat(directory.raw, name, 0) == 0 else { throw FileError("delete", path.description, errno: errno) }
        return 1
    }

    /// Removes the directory `name` in `parent` and everything in it.
    func removeTree(_ parent: Descriptor, _ name: EntryName, display: String, depth: Int) throws -> Int {
        guard depth <= Self.maxDepth else {
            throw FileError("delete", display, errno: ELOOP, reason: "more than \(Self.maxDepth) directory levels deep")
        }
        guard let directory = openChild(parent, name, O_RDONLY | O_DIRECTORY) else {
            // Replaced by a file or a symlink meanwhile: that is removed instead.
            if errno == ENOTDIR || errno == ELOOP { return try unlink(name, in: parent, display: display) }
            if errno == ENOENT { return 0 }
            throw FileError("delete", display, errno: errno)
        }
        var removed = 0
        for child in try Self.names(in: directory, operation: "delete", display: display) {
            let childDisplay = display + "/" + child.display
            guard let st = status(of: child, in: directory) else { continue }
            if FileKind(st.st_mode) == .directory {
                removed += try removeTree(directory, child, display: childDisplay, depth: depth + 1)
            } else {
                removed += try unlink(child, in: directory, display: childDisplay)
            }
        }
        guard name.withCString({ unlinkat(parent.raw, $0, AT_REMOVEDIR) }) == 0 || errno == ENOENT else {
            throw FileError("delete", display, errno: errno)
        }
        return removed + 1
    }

    private func unlink(_ name: EntryName, in directory: Descriptor, display: String) throws -> Int {
        if name.withCString({ unlinkat(directory.raw, $0, 0) }) == 0 { return 1 }
        if errno == ENOENT { return 0 }
        throw FileError("delete", display, errno: errno)
    }

    // MARK: - Rename

    /// Renames `source` to `destination` (rename(2): an existing file there is replaced, an
    /// existing empty directory too; a symlink is renamed itself). The parent of `destination`
    /// must exist.
    public func rename(_ source: RootedPath, to destination: RootedPath) throws {
        let (from, fromName) = try locate(source, operation: "rename")
        let (to, toName) = try locate(destination, operation: "rename")
        guard renameat(from.raw, fromName, to.raw, toName) == 0 else {
            let e = errno
            var st = stat()
            if e == ENOENT, fstatat(from.raw, fromName, &st, AT_SYMLINK_NOFOLLOW) != 0 {
                throw FileError("rename", source.description, errno: e)
            }
            throw FileError("rename \(source) to", destination.description, errno: e)
        }
    }

    // MARK: - Copy

    public struct CopyResult: Sendable, Equatable {
        /// Entries made (files, directories, symlinks, FIFOs).
        public var entries: Int
        /// Bytes of the regular files copied.
        public var bytes: Int64

        public init(entries: Int, bytes: Int64) {
            self.entries = entries
            self.bytes = bytes
        }
    }

    /// Copies `source` to `destination`. A symlink at `source` is followed; below it, symlinks are
    /// copied as symlinks. A file replaces a file at `destination` atomically; a directory (only
    /// with `recursive`) is built under a temporary name beside `destination`, which must not
    /// exist, and renamed into place when complete. Owners and modes are kept, and times with
    /// `keepTimes`. Sockets and device nodes inside a directory are left out.
    public func copy(_ source: RootedPath, to destination: RootedPath, recursive: Bool, keepTimes: Bool) throws -> CopyResult {
        let handle = try open(source, Int32(HOB_O_PATH), operation: "copy")
        var st = stat()
        guard fstat(handle.raw, &st) == 0 else { throw FileError("copy", source.description, errno: errno) }
        let (directory, name) = try locate(destination, operation: "copy")
        var existing = stat()
        let exists = fstatat(directory.raw, name, &existing, AT_SYMLINK_NOFOLLOW) == 0
        switch FileKind(st.st_mode) {
        case .file:
            if exists {
                switch FileKind(existing.st_mode) {
                case .file, .symlink: break  // replaced (a symlink itself, as rename replaces it)
                case .directory: throw FileError("copy", destination.description, errno: EISDIR)
                default: throw FileError("copy", destination.description, errno: EINVAL, reason: "not a regular file")
                }
            }
            let (input, _) = try openRegularFile(handle, operation: "copy", display: source.description)
            let upload = try FileUpload(
                in: directory, name: name, path: destination.description, owner: (st.st_uid, st.st_gid),
                mode: UInt32(st.st_mode), creates: !exists)
            try upload.copy(from: input)
            let (size, _) = try upload.commit(times: keepTimes ? (st.st_atim, st.st_mtim) : nil)
            return CopyResult(entries: 1, bytes: size)
        case .directory:
            guard recursive else {
                throw FileError("copy", source.description, errno: EISDIR, reason: "is a directory (copy it with recursive)")
            }
            if exists { throw FileError("copy", destination.description, errno: EEXIST) }
            if try isInside(directory, FileID(st), display: destination.description) {
                throw FileError("copy", destination.description, errno: EINVAL, reason: "cannot copy \(source) into itself")
            }
            return try copyDirectory(handle, st, into: directory, as: name, source: source, destination: destination, keepTimes: keepTimes)
        default:
            throw FileError("copy", source.description, errno: EINVAL, reason: "not a regular file or directory")
        }
    }

    private func copyDirectory(
        _ handle: Descriptor, _ st: stat, into parent: Descriptor, as name: String, source: RootedPath, destination: RootedPath,
        keepTimes: Bool
    ) throws -> CopyResult {
        let staging = ".hob-copy-\(randomSuffix())"
        guard mkdirat(parent.raw, staging, 0o700) == 0 else { throw FileError("copy", destination.description, errno: errno) }
        let stagingName = staging.withCString { EntryName($0) }
        do {
            let from = openat2(handle.raw, ".", O_RDONLY | O_DIRECTORY, resolve: Self.beneath)
            guard from >= 0 else { throw FileError("copy", source.description, errno: errno) }
            guard let to = openChild(parent, stagingName, O_RDONLY | O_DIRECTORY) else {
                throw FileError("copy", destination.description, errno: errno)
            }
            var result = CopyResult(entries: 1, bytes: 0)
            try copyContents(of: Descriptor(from), into: to, source: source.description, depth: 1, keepTimes: keepTimes, result: &result)
            try finish(to, like: st, keepTimes: keepTimes, display: destination.description)
            guard hob_renameat2(parent.raw, staging, parent.raw, name, UInt32(HOB_RENAME_NOREPLACE)) == 0 else {
                throw FileError("copy", destination.description, errno: errno)
            }
            return result
        } catch {
            _ = try? removeTree(parent, stagingName, display: destination.description, depth: 1)
            throw error
        }
    }

    private func copyContents(
        of from: Descriptor, into to: Descriptor, source: String, depth: Int, keepTimes: Bool, result: inout CopyResult
    ) throws {
        guard depth <= Self.maxDepth else {
            throw FileError("copy", source, errno: ELOOP, reason: "more than \(Self.maxDepth) directory levels deep")
        }
        for name in try Self.names(in: from, operation: "copy", display: source) {
            let display = source + "/" + name.display
            guard let st = status(of: name, in: from) else { continue }
            switch FileKind(st.st_mode) {
            case .directory:
                guard name.withCString({ mkdirat(to.raw, $0, 0o700) }) == 0,
                    let child = openChild(from, name, O_RDONLY | O_DIRECTORY), let copy = openChild(to, name, O_RDONLY | O_DIRECTORY)
                else { throw FileError("copy", display, errno: errno) }
                try copyContents(of: child, into: copy, source: display, depth: depth + 1, keepTimes: keepTimes, result: &result)
                try finish(copy, like: st, keepTimes: keepTimes, display: display)
            case .file:
                guard let handle = openChild(from, name, Int32(HOB_O_PATH)) else { throw FileError("copy", display, errno: errno) }
                let (input, _) = try openRegularFile(handle, operation: "copy", display: display)
                let fd = name.withCString { openat(to.raw, $0, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0o600) }
                guard fd >= 0 else { throw FileError("copy", display, errno: errno) }
                let output = Descriptor(fd)
                result.bytes += try copyBytes(from: input, to: output, display: display)
                try finish(output, like: st, keepTimes: keepTimes, display: display)
            case .symlink:
                let target = try name.withCString { name in
                    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                    let n = readlinkat(from.raw, name, &buffer, buffer.count - 1)
                    guard n >= 0 else { throw FileError("copy", display, errno: errno) }
                    return Array(buffer[..<(n + 1)])
                }
                guard name.withCString({ symlinkat(target, to.raw, $0) }) == 0 else { throw FileError("copy", display, errno: errno) }
                try finishLink(name, in: to, like: st, keepTimes: keepTimes, display: display)
            case .fifo:
                guard name.withCString({ mkfifoat(to.raw, $0, 0o600) }) == 0,
                    let fifo = openChild(to, name, Int32(HOB_O_PATH))
                else { throw FileError("copy", display, errno: errno) }
                try finishLink(name, in: to, like: st, keepTimes: keepTimes, display: display)
                try changeMode(fifo, UInt32(st.st_mode), operation: "copy", display: display)
            case .socket, .charDevice, .blockDevice:
                continue
            }
            result.entries += 1
        }
    }

    private func copyBytes(from input: Descriptor, to output: Descriptor, display: String) throws -> Int64 {
        var total: Int64 = 0
        while true {
            let n = hob_copy_file_range(input.raw, output.raw, 1 << 30)
            if n > 0 { total += Int64(n) } else if n == 0 { return total } else if errno != EINTR { break }
        }
        guard [EXDEV, EINVAL, ENOSYS, EOPNOTSUPP].contains(errno) else { throw FileError("copy", display, errno: errno) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(input.raw, $0.baseAddress, $0.count) }
            if n == 0 { return total }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError("copy", display, errno: errno)
            }
            var offset = 0
            while offset < n {
                let w = buffer.withUnsafeBytes { Glibc.write(output.raw, $0.baseAddress! + offset, n - offset) }
                if w < 0 {
                    if errno == EINTR { continue }
                    throw FileError("copy", display, errno: errno)
                }
                offset += w
            }
            total += Int64(n)
        }
    }

    /// Gives a copied file or directory (open, not O_PATH) the original's owner, mode and times.
    private func finish(_ copy: Descriptor, like st: stat, keepTimes: Bool, display: String) throws {
        guard fchown(copy.raw, st.st_uid, st.st_gid) == 0, fchmod(copy.raw, st.st_mode & 0o7777) == 0 else {
            throw FileError("copy", display, errno: errno)
        }
        if keepTimes {
            var times = [st.st_atim, st.st_mtim]
            guard futimens(copy.raw, &times) == 0 else { throw FileError("copy", display, errno: errno) }
        }
    }

    /// The same for a symlink or FIFO, by name and without following it.
    private func finishLink(_ name: EntryName, in directory: Descriptor, like st: stat, keepTimes: Bool, display: String) throws {
        guard name.withCString({ fchownat(directory.raw, $0, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) }) == 0 else {
            throw FileError("copy", display, errno: errno)
        }
        if keepTimes {
            var times = [st.st_atim, st.st_mtim]
            guard name.withCString({ utimensat(directory.raw, $0, &times, AT_SYMLINK_NOFOLLOW) }) == 0 else {
                throw FileError("copy", display, errno: errno)
            }
        }
    }

    /// Whether `directory` is the directory `ancestor` or lies below it, walking up through ".."
    /// until the root.
    func isInside(_ directory: Descriptor, _ ancestor: FileID, display: String) throws -> Bool {
        var current = directory
        for _ in 0..<4096 {
            var st = stat()
            guard fstat(current.raw, &st) == 0 else { throw FileError("copy", display, errno: errno) }
            let id = FileID(st)
            if id == ancestor { return true }
            if id == rootID { return false }
            let up = openat2(current.raw, "..", Int32(HOB_O_PATH) | O_DIRECTORY, resolve: UInt64(HOB_RESOLVE_NO_XDEV | HOB_RESOLVE_NO_SYMLINKS))
            guard up >= 0 else { throw FileError("copy", display, errno: errno) }
            current = Descriptor(up)
        }
        return false
    }

    // MARK: - Chmod

    /// Sets the permission bits of what `path` names (a symlink is followed, inside the root).
    /// With `recursive`, also of everything below a directory, where symlinks are skipped.
    /// Returns how many entries changed.
    public func changeMode(_ path: RootedPath, to mode: UInt32, recursive: Bool) throws -> Int {
        let handle = try open(path, Int32(HOB_O_PATH), operation: "chmod")
        try changeMode(handle, mode, operation: "chmod", display: path.description)
        var st = stat()
        guard recursive, fstat(handle.raw, &st) == 0, FileKind(st.st_mode) == .directory else { return 1 }
        let directory = openat2(handle.raw, ".", O_RDONLY | O_DIRECTORY, resolve: Self.beneath)
        guard directory >= 0 else { throw FileError("chmod", path.description, errno: errno) }
        return 1 + (try changeModeBelow(Descriptor(directory), mode, display: path.description, depth: 1))
    }

    private func changeModeBelow(_ directory: Descriptor, _ mode: UInt32, display: String, depth: Int) throws -> Int {
        guard depth <= Self.maxDepth else {
            throw FileError("chmod", display, errno: ELOOP, reason: "more than \(Self.maxDepth) directory levels deep")
        }
        var changed = 0
        for name in try Self.names(in: directory, operation: "chmod", display: display) {
            let childDisplay = display + "/" + name.display
            guard let st = status(of: name, in: directory), FileKind(st.st_mode) != .symlink else { continue }
            if FileKind(st.st_mode) == .directory {
                guard let child = openChild(directory, name, O_RDONLY | O_DIRECTORY) else { continue }
                guard fchmod(child.raw, mode_t(mode & 0o7777)) == 0 else { throw FileError("chmod", childDisplay, errno: errno) }
                changed += 1 + (try changeModeBelow(child, mode, display: childDisplay, depth: depth + 1))
            } else if let handle = openChild(directory, name, Int32(HOB_O_PATH)) {
                try changeMode(handle, mode, operation: "chmod", display: childDisplay)
                changed += 1
            }
        }
        return changed
    }
}
