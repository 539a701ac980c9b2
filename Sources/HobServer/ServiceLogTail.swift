// The saved part of `GET …/services/{svc}/logs`: the last lines of the service's log file,
// read from the sprite's disk through RootedDirectory (so a sprite that made the log path a
// symlink reaches only its own files) without booting or waking the sprite.
import Foundation
import HobAgentProtocol
import HobOS

enum ServiceLogTail {
    // A sprite decides how big its log is and may hold many API connections: what one request
    // reads and keeps (the bytes, then one string and one NDJSON line each) is bounded by both caps.
    /// Most bytes read from the end of a log (a log is rotated once it passes 10 MiB).
    static let maxBytes = 1 << 20
    /// Most lines returned, whatever `lines` asks (and when it is absent).
    static let maxLines = 10_000

    /// The log's last `count` lines (when nil, as many as the caps allow), each with its newline;
    /// none when the service has not written a log yet.
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
        return lines(text, last: min(count ?? maxLines, maxLines))
    }

    /// The last `count` lines of `bytes` (all when nil), each ending with "\n" (one is added to an
    /// unfinished last line). Invalid UTF-8 is replaced, as a JSON string must be text.
    static func lines(_ bytes: ArraySlice<UInt8>, last count: Int?) -> [String] {
        // Only the lines kept become strings: find where the last `count` begin, from the end.
        var from = bytes.startIndex
        if let count {
            guard count > 0 else { return [] }
            var seen = 0
            var i = bytes.endIndex
            // An unfinished last line counts as a line; a final "\n" only ends the one before it.
            if i > from, bytes[i - 1] == UInt8(ascii: "\n") { i -= 1 }
            while i > from {
                i -= 1
                if bytes[i] == UInt8(ascii: "\n") {
                    seen += 1
                    if seen == count {
                        from = i + 1
                        break
                    }
                }
            }
        }
        var result: [String] = []
        var lineStart = from
        for i in bytes[from...].indices where bytes[i] == UInt8(ascii: "\n") {
            result.append(String(decoding: bytes[lineStart...i], as: UTF8.self))
            lineStart = i + 1
        }
        if lineStart < bytes.endIndex { result.append(String(decoding: bytes[lineStart...], as: UTF8.self) + "\n") }
        return result
    }
}
