// Copying an executable into place while an older copy may be running: write a temporary file
// next to the target and rename it over the target. A running program keeps its old inode, so
// there is no "Text file busy", and nothing ever sees a half-written binary.
import Glibc

extension Files {
    /// Whether two paths name the same file (same device and inode).
    public static func isSameFile(_ a: String, _ b: String) -> Bool {
        var sa = stat()
        var sb = stat()
        guard stat(a, &sa) == 0, stat(b, &sb) == 0 else { return false }
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
    }

    /// Copies `source` to `target` through `<target>.new-<pid>` and a rename; the data is on disk
    /// before the rename.
    public static func copyAtomically(from source: String, to target: String, mode: mode_t = 0o755) throws(SystemError) {
        let input = try syscall("open \(source)") { open(source, O_RDONLY | O_CLOEXEC) }
        defer { close(input) }
        let temporary = "\(target).new-\(getpid())"
        let output = try syscall("create \(temporary)") { open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode) }
        var failure: SystemError?
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        copying: while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(input, $0.baseAddress, $0.count) }
            if count == 0 { break }
            if count < 0 {
                if errno == EINTR { continue }
                failure = SystemError(operation: "read \(source)", errno: errno)
                break
            }
            var offset = 0
            while offset < count {
                let written = buffer[offset..<count].withUnsafeBytes { Glibc.write(output, $0.baseAddress, $0.count) }
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = SystemError(operation: "write \(temporary)", errno: errno)
                    break copying
                }
                offset += written
            }
        }
        if failure == nil, fchmod(output, mode) != 0 { failure = SystemError(operation: "chmod \(temporary)", errno: errno) }
        if failure == nil, fsync(output) != 0 { failure = SystemError(operation: "fsync \(temporary)", errno: errno) }
        close(output)
        if failure == nil, rename(temporary, target) != 0 { failure = SystemError(operation: "rename \(temporary) → \(target)", errno: errno) }
        if let failure {
            unlink(temporary)
            throw failure
        }
    }
}
