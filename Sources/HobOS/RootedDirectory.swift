// A directory tree that every path resolves inside of: a sprite's disk seen from the host, for
// the file API. Root on the host opens these files, and the tree's owner (root in the sprite, or
// anyone who can run code there) controls every name and symlink in it, so one rule holds
// throughout: nothing is ever resolved by the host's own path walk.
//
//  - A client's path is opened with openat2 relative to a descriptor of the root, with
//    RESOLVE_IN_ROOT: "..", absolute paths and absolute symlinks are resolved as if that
//    descriptor were "/" (a link to /etc/shadow reaches the tree's /etc/shadow, never the host's).
//    RESOLVE_NO_MAGICLINKS refuses /proc-style links, RESOLVE_NO_XDEV any mount crossing (a
//    sprite's disk is one btrfs subvolume; nothing is mounted inside it on the host).
//  - The last component is then acted on with *at calls from its directory's descriptor, and only
//    with calls that never follow a symlink there (unlinkat, renameat, mkdirat, fstatat with
//    AT_SYMLINK_NOFOLLOW, readlinkat, symlinkat). Permission changes go through /proc/self/fd/N of
//    an O_PATH descriptor, because fchmodat follows a final symlink with the host's path walk.
//  - Below a directory being walked (recursive list, delete, copy, chmod), each child is opened
//    with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS: a walk never leaves the tree and never follows a
//    link, even if the tree changes under it.
//  - Only regular files are ever opened for reading or writing, and only after an O_PATH open and
//    fstat say so, so a device node or FIFO is never opened (no side effects, no blocking).
//
// Every method blocks (disk I/O): call them through `offload`. They throw FileError.
import CHobShim
import Glibc

public final class RootedDirectory: Sendable {
    let root: Descriptor
    /// The root's identity, where a walk up through ".." must stop.
    let rootID: FileID

    /// Opens the directory at `hostPath` (a path the host controls, e.g. a sprite's subvolume).
    public init(opening hostPath: String) throws(SystemError) {
        let fd = try syscall("open \(hostPath)") {
            Glibc.open(hostPath, Int32(HOB_O_PATH) | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        }
        root = Descriptor(fd)
        var st = stat()
        try syscall("stat \(hostPath)") { fstat(fd, &st) }
        rootID = FileID(st)
    }

    /// True when both were opened on the same directory: false once a sprite's disk was replaced
    /// (a restore puts a new subvolume at the same host path).
    public func isSameTree(as other: RootedDirectory) -> Bool { rootID == other.rootID }

    /// How deep a walk (recursive list, delete, copy, chmod) may go: each level holds a descriptor.
    public static let maxDepth = 256

    static let inRoot = UInt64(HOB_RESOLVE_IN_ROOT | HOB_RESOLVE_NO_MAGICLINKS | HOB_RESOLVE_NO_XDEV)
    static let beneath = UInt64(HOB_RESOLVE_BENEATH | HOB_RESOLVE_NO_SYMLINKS | HOB_RESOLVE_NO_MAGICLINKS | HOB_RESOLVE_NO_XDEV)

    // MARK: - Resolution

    /// Opens `path`, symlinks followed inside the root. `flags` without O_CLOEXEC.
    func open(_ path: RootedPath, _ flags: Int32, operation: String) throws -> Descriptor {
        try open(relative: path.relative, flags, operation: operation, display: path.description)
    }

    /// Opens a path relative to the root that need not be clean (a symlink's target joined to
    /// its directory); `display` names it in errors.
    func open(relative path: String, _ flags: Int32, operation: String, display: String) throws -> Descriptor {
        let fd = openat2(root.raw, path, flags, resolve: Self.inRoot)
        guard fd >= 0 else { throw FileError(operation, display, errno: errno) }
        return Descriptor(fd)
    }

    /// The directory `path` names, as an O_PATH descriptor.
    func directory(_ path: RootedPath, operation: String, display: String? = nil) throws -> Descriptor {
        try open(relative: path.relative, Int32(HOB_O_PATH) | O_DIRECTORY, operation: operation, display: display ?? path.description)
    }

    /// The directory holding `path`'s last component, and that component, which is not followed.
    /// The root itself has no such place: operations that need one fail with EBUSY, as
    /// rmdir("/") and rename("/", …) do.
    func locate(_ path: RootedPath, operation: String) throws -> (Descriptor, String) {
        guard let name = path.name else {
            throw FileError(operation, "/", errno: EBUSY, reason: "not possible on the root directory")
        }
        return (try directory(path.parent, operation: operation, display: path.description), name)
    }

    /// Like `locate`, but a last component that is a symlink is followed (inside the root), as
    /// open(2) follows it, even when it dangles: where a write to `path` lands.
    func locateFollowing(_ path: RootedPath, operation: String) throws -> (Descriptor, String) {
        var (directory, name) = try locate(path, operation: operation)
        var directoryPath = path.parent.relative
        for _ in 0..<40 {  // the kernel's own limit on symlinks in one resolution
            var st = stat()
            guard fstatat(directory.raw, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
                if errno == ENOENT { return (directory, name) }  // to be created
                throw FileError(operation, path.description, errno: errno)
            }
            guard FileKind(st.st_mode) == .symlink else { return (directory, name) }
            let target = try readLink(directory, name, operation: operation, display: path.description)
            // Absolute targets are taken from the root (RESOLVE_IN_ROOT), relative ones from the
            // link's directory; the kernel resolves either, so the string needs no cleaning.
            var joined = target.hasPrefix("/") ? target : directoryPath + "/" + target
            while joined.count > 1, joined.hasSuffix("/") { joined.removeLast() }
            let cut = joined.lastIndex(of: "/")
            let last = cut.map { String(joined[joined.index(after: $0)...]) } ?? joined
            guard !last.isEmpty, last != ".", last != ".." else {
                throw FileError(operation, path.description, errno: EISDIR)
            }
            directoryPath = cut.map { joined[..<$0].isEmpty ? "/" : String(joined[..<$0]) } ?? "."
            directory = try open(relative: directoryPath, Int32(HOB_O_PATH) | O_DIRECTORY, operation: operation, display: path.description)
            name = last
        }
        throw FileError(operation, path.description, errno: ELOOP)
    }

    func readLink(_ directory: Descriptor, _ name: String, operation: String, display: String) throws -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlinkat(directory.raw, name, &buffer, buffer.count - 1)
        guard n >= 0 else { throw FileError(operation, display, errno: errno) }
        return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Opens the regular file `name` in `directory` for reading without opening anything else:
    /// O_PATH first, then a reopen through /proc/self/fd once fstat says it is a regular file
    /// (the reopen reaches the very inode the O_PATH descriptor holds).
    func openRegularFile(_ pathDescriptor: Descriptor, operation: String, display: String) throws -> (Descriptor, stat) {
        var st = stat()
        guard fstat(pathDescriptor.raw, &st) == 0 else { throw FileError(operation, display, errno: errno) }
        switch FileKind(st.st_mode) {
        case .file: break
        case .directory: throw FileError(operation, display, errno: EISDIR)
        default: throw FileError(operation, display, errno: EINVAL, reason: "not a regular file")
        }
        let fd = Glibc.open("/proc/self/fd/\(pathDescriptor.raw)", O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw FileError(operation, display, errno: errno) }
        return (Descriptor(fd), st)
    }

    /// Sets the permission bits of what an O_PATH descriptor holds (no fchmod on O_PATH).
    func changeMode(_ pathDescriptor: Descriptor, _ mode: UInt32, operation: String, display: String) throws {
        guard Glibc.chmod("/proc/self/fd/\(pathDescriptor.raw)", mode_t(mode & 0o7777)) == 0 else {
            throw FileError(operation, display, errno: errno)
        }
    }

    /// The child `name` of `directory`, which must not be a symlink, opened beneath it.
    func openChild(_ directory: Descriptor, _ name: EntryName, _ flags: Int32) -> Descriptor? {
        let fd = name.withCString { openat2(directory.raw, $0, flags, resolve: Self.beneath) }
        return fd >= 0 ? Descriptor(fd) : nil
    }
}

// MARK: - Small pieces

/// A file descriptor this process owns, closed when the last reference goes.
public final class Descriptor: Sendable {
    public let raw: Int32
    init(_ raw: Int32) { self.raw = raw }
    deinit { close(raw) }

    /// Opens a host path the host controls (say /proc/<pid>); nil with errno set when it cannot.
    public static func open(host path: String, _ flags: Int32) -> Descriptor? {
        let fd = Glibc.open(path, flags | O_CLOEXEC)
        return fd >= 0 ? Descriptor(fd) : nil
    }

    /// pread into `buffer` at `offset`; 0 at the end of the file.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(SystemError) -> Int {
        while true {
            let n = pread(raw, buffer.baseAddress, buffer.count, off_t(offset))
            if n >= 0 { return n }
            if errno != EINTR { throw SystemError(operation: "read", errno: errno) }
        }
    }
}

/// openat2 with O_CLOEXEC, retrying EINTR, and EAGAIN, which the kernel answers when a rename
/// elsewhere on the filesystem races a ".." step it must keep inside the root.
func openat2(_ directory: Int32, _ path: UnsafePointer<CChar>, _ flags: Int32, mode: mode_t = 0, resolve: UInt64) -> Int32 {
    var retries = 0
    while true {
        let fd = hob_openat2(directory, path, flags | O_CLOEXEC, mode, resolve)
        if fd >= 0 { return fd }
        guard errno == EINTR || (errno == EAGAIN && retries < 100) else { return -1 }
        retries += 1
    }
}

/// The type bits of st_mode.
public enum FileKind: String, Sendable {
    case file, directory, symlink, fifo, socket
    case charDevice = "char_device"
    case blockDevice = "block_device"

    init(_ mode: mode_t) {
        switch mode & S_IFMT {
        case S_IFDIR: self = .directory
        case S_IFLNK: self = .symlink
        case S_IFIFO: self = .fifo
        case S_IFSOCK: self = .socket
        case S_IFCHR: self = .charDevice
        case S_IFBLK: self = .blockDevice
        default: self = .file
        }
    }
}

/// An inode's identity.
struct FileID: Equatable {
    let device: UInt64
    let inode: UInt64
    init(_ st: stat) {
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
    }
}

/// A name read from a directory, kept as bytes: names need not be UTF-8, and a name turned into
/// a String and back might no longer be the file's.
struct EntryName: Comparable {
    /// NUL-terminated.
    let bytes: [CChar]

    init(_ cString: UnsafePointer<CChar>) {
        bytes = Array(UnsafeBufferPointer(start: cString, count: strlen(cString) + 1))
    }

    var display: String { String(decoding: bytes.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self) }
    var isDotOrDotDot: Bool { bytes == [46, 0] || bytes == [46, 46, 0] }

    func withCString<R>(_ body: (UnsafePointer<CChar>) throws -> R) rethrows -> R { try body(bytes) }

    /// Byte order, as Go's and coreutils' listings sort.
    static func < (a: EntryName, b: EntryName) -> Bool {
        a.bytes.lazy.map { UInt8(bitPattern: $0) }.lexicographicallyPrecedes(b.bytes.lazy.map { UInt8(bitPattern: $0) })
    }
}

extension RootedDirectory {
    /// Every name in the directory `directory` (opened O_RDONLY | O_DIRECTORY), "." and ".."
    /// left out, in byte order. Reads `directory`'s position: call once per descriptor.
    static func names(in directory: Descriptor, operation: String, display: String) throws -> [EntryName] {
        let copy = fcntl(directory.raw, F_DUPFD_CLOEXEC, 0)
        guard copy >= 0, let stream = fdopendir(copy) else {
            let e = errno
            if copy >= 0 { close(copy) }
            throw FileError(operation, display, errno: e)
        }
        defer { closedir(stream) }
        var names: [EntryName] = []
        while true {
            errno = 0
            guard let entry = readdir(stream) else {
                if errno != 0 { throw FileError(operation, display, errno: errno) }
                break
            }
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { EntryName($0) }
            }
            if !name.isDotOrDotDot { names.append(name) }
        }
        return names.sorted()
    }

    /// lstat of `name` in `directory`; nil when it is gone.
    func status(of name: EntryName, in directory: Descriptor) -> stat? {
        var st = stat()
        let rc = name.withCString { fstatat(directory.raw, $0, &st, AT_SYMLINK_NOFOLLOW) }
        return rc == 0 ? st : nil
    }
}

func randomSuffix() -> String {
    var generator = SystemRandomNumberGenerator()
    return String(generator.next() as UInt64, radix: 16)
}
