// ExtentScan on trees a sprite could make of its disk: the scan must finish, with bounded
// descriptors, whatever the shape.
import Foundation
import Glibc
import HobOS
import Testing

@Suite("ExtentScan")
struct ExtentScanTests {
    /// A temporary directory, removed with `rm -rf` (which walks a deep tree with openat).
    final class Tree {
        let path: String

        init() throws {
            var template = Array("/tmp/hob-extents-XXXXXX".utf8CString)
            guard let made = mkdtemp(&template) else { throw SystemError(operation: "mkdtemp", errno: errno) }
            path = String(cString: made)
        }

        deinit {
            let rm = Process()
            rm.executableURL = URL(fileURLWithPath: "/bin/rm")
            rm.arguments = ["-rf", path]
            try? rm.run()
            rm.waitUntilExit()
        }

        /// A chain of `depth` directories named `d` under the root, built with relative calls
        /// (its full path is far longer than PATH_MAX), with `bottom` written at the end.
        func chain(depth: Int, bottom: [UInt8]) throws {
            var fd = try syscall("open \(path)") { open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
            for _ in 0..<depth {
                try syscall("mkdirat") { mkdirat(fd, "d", 0o755) }
                let next = try syscall("openat") { openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
                close(fd)
                fd = next
            }
            defer { close(fd) }
            let file = try syscall("create bottom") { openat(fd, "bottom", O_WRONLY | O_CREAT | O_CLOEXEC, 0o644) }
            defer { close(file) }
            _ = bottom.withUnsafeBytes { Glibc.write(file, $0.baseAddress, $0.count) }
        }

        func write(_ name: String, _ bytes: [UInt8]) throws {
            try Data(bytes).write(to: URL(fileURLWithPath: path + "/" + name))
        }
    }

    /// This process's descriptors open on something under `path` (other tests run in parallel in
    /// the same process, so a plain count would see their descriptors come and go).
    /// A descriptor deep in the chain has a path too long to read back (ENAMETOOLONG): it is one
    /// of the scan's; one closed meanwhile (ENOENT) is another test's.
    static func openDescriptors(under path: String) -> [String] {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return fds.compactMap { fd -> String? in
            var buffer = [CChar](repeating: 0, count: 4096)
            let n = readlink("/proc/self/fd/\(fd)", &buffer, buffer.count - 1)
            if n < 0 { return errno == ENAMETOOLONG ? "fd \(fd): a path too long to read" : nil }
            let target = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return target.hasPrefix(path) ? target : nil
        }
    }

    @Test("a directory chain 20,000 deep is scanned without a crash, the part past maxDepth skipped")
    func deepChain() throws {
        let tree = try Tree()
        try tree.write("top", [UInt8](repeating: 7, count: 64 << 10))
        try tree.chain(depth: 20_000, bottom: [UInt8](repeating: 9, count: 64 << 10))
        let scan = try ExtentScan.scan(tree.path)

        #expect(scan.skippedDirectories == 1, "the one directory at maxDepth + 1 is not entered")
        #expect(scan.exclusiveBytes >= 64 << 10, "the file at the top is counted: \(scan.exclusiveBytes)")
        #expect(scan.exclusiveBytes < 128 << 10, "the file at the bottom is not: \(scan.exclusiveBytes)")
        let left = Self.openDescriptors(under: tree.path)
        #expect(left.isEmpty, "every directory opened was closed: \(left.count) still open, e.g. \(left.first ?? "")")
    }

    @Test("a tree within maxDepth is counted whole")
    func shallowTree() throws {
        let tree = try Tree()
        try tree.write("top", [UInt8](repeating: 7, count: 64 << 10))
        try tree.chain(depth: 100, bottom: [UInt8](repeating: 9, count: 64 << 10))

        let scan = try ExtentScan.scan(tree.path)

        #expect(scan.skippedDirectories == 0)
        #expect(scan.exclusiveBytes >= 128 << 10, "both files are counted: \(scan.exclusiveBytes)")
    }
}
