// The stdio transport of `hob mcp`: newline-delimited JSON-RPC on stdin and stdout.
//
// The SDK's StdioTransport looks for the end of a line in everything pending after each 4 KiB it
// reads, so one message of a few MiB (a write_file of a binary) took minutes; it also polls stdin
// every 10 ms while idle. Here a thread blocks in read(2) and scans only the bytes that arrived.
import Foundation
import Logging
import MCP

#if canImport(Glibc)
import Glibc
#endif

actor StdioLines: Transport {
    nonisolated let logger: Logger
    private let incoming: AsyncThrowingStream<Data, any Error>
    private let continuation: AsyncThrowingStream<Data, any Error>.Continuation
    private var started = false

    /// A line longer than this (the HTTP transport's body limit) ends the session.
    static let maxLine = 16 << 20

    init(logger: Logger) {
        self.logger = logger
        (incoming, continuation) = AsyncThrowingStream.makeStream()
    }

    func connect() async throws {
        guard !started else { return }
        started = true
        let continuation = self.continuation
        // A thread of its own: a blocking read must not hold one of the concurrency pool's few threads.
        let reader = Thread { Self.readLines(into: continuation) }
        reader.name = "hob-mcp-stdin"
        reader.start()
    }

    func disconnect() async { continuation.finish() }

    func send(_ data: Data) async throws {
        var bytes = [UInt8](data)
        bytes.append(UInt8(ascii: "\n"))
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                throw MCPError.transportError(POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO))
            }
            offset += written
        }
    }

    func receive() -> AsyncThrowingStream<Data, any Error> { incoming }

    /// Reads stdin to its end, yielding each non-empty line without its newline.
    static func readLines(into continuation: AsyncThrowingStream<Data, any Error>.Continuation) {
        var splitter = LineSplitter(maxLine: maxLine)
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            do {
                for line in try splitter.take(buffer[..<count]) { continuation.yield(Data(line)) }
            } catch {
                continuation.finish(throwing: error)
                return
            }
        }
        continuation.finish()
    }
}

/// Cuts a byte stream into lines, looking at each byte once.
struct LineSplitter {
    let maxLine: Int
    private var pending: [UInt8] = []

    init(maxLine: Int) { self.maxLine = maxLine }

    /// The complete, non-empty lines the new bytes finish (a trailing `\r` dropped).
    mutating func take(_ bytes: ArraySlice<UInt8>) throws(MCPError) -> [[UInt8]] {
        var lines: [[UInt8]] = []
        var start = bytes.startIndex
        while let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) {
            var line = pending + bytes[start..<newline]
            pending = []
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            if !line.isEmpty { lines.append(line) }
            start = newline + 1
        }
        pending += bytes[start...]
        guard pending.count <= maxLine else { throw MCPError.parseError("a message longer than \(maxLine) bytes") }
        return lines
    }
}
