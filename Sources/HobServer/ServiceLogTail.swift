// The saved part of `GET …/services/{svc}/logs`: the last lines of the service's log file,
// read from the sprite's disk through RootedDirectory (so a sprite that made the log path a
// symlink reaches only its own files) without booting or waking the sprite.
import Foundation
import HobAgentProtocol
import HobOS

enum ServiceLogTail {
    /// Most bytes read from the end of a log (a log is rotated once it passes 10 MiB).
    static let maxBytes = 16 << 20

    /// The log's last `count` lines (all of them when nil), each with its newline; none when the
    /// service has not written a log yet.
    static func read(_ files: RootedDirectory, service: String, count: Int?) throws -> [String] {
        let path = try RootedPath(serviceLogPath(service))
        let file: Descriptor
        let size: Int64
        do {
            (file, size) = try files.openForReading(path)
        } catch let error as FileError where error.errno == ENOENT {
            return []
        }
        let start = max(0, size - Int64(maxBytes))
        var bytes = [UInt8](repeating: 0, count: Int(size - start))
        var filled = 0
        while filled < bytes.count {
            let n = try bytes.withUnsafeMutableBytes { space in
                try file.read(into: UnsafeMutableRawBufferPointer(rebasing: space[filled...]), at: start + Int64(filled))
            }
            if n == 0 { break }  // truncated meanwhile
            filled += n
        }
        var text = bytes[..<filled]
        // A read that began mid-file begins mid-line: drop that partial line.
        if start > 0, let newline = text.firstIndex(of: UInt8(ascii: "\n")) { text = text[(newline + 1)...] }
        return lines(text, last: count)
    }

    /// The last `count` lines of `bytes` (all when nil), each ending with "\n" (one is added to an
    /// unfinished last line). Invalid UTF-8 is replaced, as a JSON string must be text.
    static func lines(_ bytes: ArraySlice<UInt8>, last count: Int?) -> [String] {
        var result: [String] = []
        var lineStart = bytes.startIndex
        for i in bytes.indices where bytes[i] == UInt8(ascii: "\n") {
            result.append(String(decoding: bytes[lineStart...i], as: UTF8.self))
            lineStart = i + 1
        }
        if lineStart < bytes.endIndex { result.append(String(decoding: bytes[lineStart...], as: UTF8.self) + "\n") }
        guard let count else { return result }
        return Array(result.suffix(max(0, count)))
    }
}
