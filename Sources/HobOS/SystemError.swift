// A failed system call or host command, naming the step that failed.
import Glibc

public struct SystemError: Error, Sendable, CustomStringConvertible {
    /// What was being done, e.g. "mount tmpfs on /dev" or "btrfs snapshot images/base → sprites/x/root".
    public var operation: String
    /// The errno, or 0 when the failure is not an errno (a command's exit status, bad output).
    public var errno: Int32
    public var detail: String?

    public init(operation: String, errno: Int32, detail: String? = nil) {
        self.operation = operation
        self.errno = errno
        self.detail = detail
    }

    public var description: String {
        var text = operation
        if errno != 0 { text += ": \(String(cString: strerror(errno))) (errno \(errno))" }
        if let detail, !detail.isEmpty { text += ": \(detail)" }
        return text
    }
}

/// Runs a libc-style call returning -1 on failure, retrying on EINTR. errno is read immediately.
@discardableResult
@inline(never)
public func syscall(_ operation: @autoclosure () -> String, _ body: () -> Int32) throws(SystemError) -> Int32 {
    while true {
        let rc = body()
        if rc != -1 { return rc }
        let e = Glibc.errno
        if e == EINTR { continue }
        throw SystemError(operation: operation(), errno: e)
    }
}
