// Kernel files (/proc, /sys) read to their end. Foundation's readers trust the size a file reports,
// and procfs reports 0 and hands out about a page per read: on a host with many mounts or routes
// they stop at ~4 KB.
import Glibc

enum KernelFile {
    /// The whole file as text; empty when it cannot be opened.
    static func text(_ path: String) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                bytes.append(contentsOf: chunk[0..<n])
            } else if n == 0 || errno != EINTR {
                break
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
