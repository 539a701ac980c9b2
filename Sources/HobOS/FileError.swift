// The error of an operation on a file inside a RootedDirectory. It names the path as the client
// sees it (inside the root, never the host path) and keeps the errno, because the Sprites file
// API answers with the errno's name (`ENOENT`, `EISDIR`…) and SDKs branch on it.
import Glibc

public struct FileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was being done: "open", "write", "delete", "rename /a to"…
    public var operation: String
    /// The path inside the root, e.g. /etc/hosts.
    public var path: String
    public var errno: Int32
    /// Said instead of the errno's text when that would mislead (e.g. "not a regular file").
    public var reason: String?

    public init(_ operation: String, _ path: String, errno: Int32, reason: String? = nil) {
        self.operation = operation
        self.path = path
        self.errno = errno
        self.reason = reason
    }

    /// The errno's symbolic name, as the SDKs expect in `code`.
    public var code: String { Self.names[errno] ?? "EIO" }

    /// Go-style, as the Sprites API words it: "open /app/x: no such file or directory".
    public var description: String { "\(operation) \(path): \(reason ?? Self.text(errno))" }

    /// strerror, starting in lower case.
    static func text(_ errno: Int32) -> String {
        let text = String(cString: strerror(errno))
        guard let first = text.first else { return "errno \(errno)" }
        return first.lowercased() + text.dropFirst()
    }

    private static let names: [Int32: String] = [
        EPERM: "EPERM", ENOENT: "ENOENT", EIO: "EIO", EBADF: "EBADF", EAGAIN: "EAGAIN", ENOMEM: "ENOMEM",
        EACCES: "EACCES", EBUSY: "EBUSY", EEXIST: "EEXIST", EXDEV: "EXDEV", ENODEV: "ENODEV", ENOTDIR: "ENOTDIR",
        EISDIR: "EISDIR", EINVAL: "EINVAL", EMFILE: "EMFILE", ENFILE: "ENFILE", ETXTBSY: "ETXTBSY", EFBIG: "EFBIG",
        ENOSPC: "ENOSPC", EROFS: "EROFS", EMLINK: "EMLINK", ENAMETOOLONG: "ENAMETOOLONG", ENOTEMPTY: "ENOTEMPTY",
        ELOOP: "ELOOP", EDQUOT: "EDQUOT", EOPNOTSUPP: "EOPNOTSUPP", ENOSYS: "ENOSYS", ESTALE: "ESTALE",
    ]
}
