// The NDJSON progress of checkpoint and restore (SPRITES-API.md §7.2) as pure values, with no sockets, so it can be
// tested byte by byte. The network cuts the body anywhere: a line may span chunks, one chunk may hold several lines,
// and a last line may lack its newline. The stream's outcome is its first `complete` or `error` line; a stream that
// stops before either leaves the outcome unknown, which is an error too.

import Foundation
import HobAPI

public struct StreamMessageDecoder: Sendable {
    /// The longest line accepted. Progress lines are short; this bounds what a broken server can make us buffer.
    public static let maxLineBytes = 1 << 20

    /// What the stream reports on, for error messages: "checkpoint of sprite demo".
    public let operation: String
    /// The `complete` or `error` line has arrived; nothing after it is decoded.
    public private(set) var isFinished = false
    private var partial: [UInt8] = []

    public init(operation: String) {
        self.operation = operation
    }

    /// The messages whose lines `chunk` completes, in order, up to and including the `complete` or `error` line.
    /// Blank lines are skipped. Throws `.badResponse` for a line that is not a progress message or is too long.
    public mutating func decode(_ chunk: [UInt8]) throws(HobClientError) -> [StreamMessage] {
        var messages: [StreamMessage] = []
        var start = chunk.startIndex
        while !isFinished, let newline = chunk[start...].firstIndex(of: UInt8(ascii: "\n")) {
            partial += chunk[start..<newline]
            start = newline + 1
            if let message = try decodeLine(partial) { messages.append(message) }
            partial.removeAll(keepingCapacity: true)
        }
        guard !isFinished else { return messages }
        partial += chunk[start...]
        guard partial.count <= Self.maxLineBytes else { throw lineTooLong() }
        return messages
    }

    /// The end of the body: decodes a last line that had no newline, then throws `.badResponse` unless the stream
    /// reached its `complete` or `error` line.
    public mutating func finish() throws(HobClientError) -> [StreamMessage] {
        var messages: [StreamMessage] = []
        if !isFinished, let message = try decodeLine(partial) { messages.append(message) }
        partial = []
        guard isFinished else {
            throw HobClientError(
                .badResponse,
                "\(operation) ended without a completion message from the server; its outcome is unknown")
        }
        return messages
    }

    /// The error an `error` line stands for, carrying the server's text.
    public func failure(_ message: StreamMessage) -> HobClientError {
        let reason = [message.error, message.data].compactMap { $0?.trimmingWhitespace() }.first { !$0.isEmpty }
        return HobClientError(.operationFailed, "\(operation) failed: \(reason ?? "the server gave no reason")")
    }

    /// Every field optional: a line must be a JSON object, but a `type` this client does not know (a newer server's)
    /// is shown as `info` rather than failing the whole operation.
    private struct Line: Decodable {
        var type: String?
        var data: String?
        var error: String?
        var time: String?
    }

    private mutating func decodeLine(_ bytes: [UInt8]) throws(HobClientError) -> StreamMessage? {
        guard bytes.count <= Self.maxLineBytes else { throw lineTooLong() }
        let text = String(decoding: bytes, as: UTF8.self).trimmingWhitespace()
        guard !text.isEmpty else { return nil }
        let line: Line
        do {
            line = try JSONDecoder().decode(Line.self, from: Data(text.utf8))
        } catch {
            let shown = text.count > 200 ? String(text.prefix(200)) + "…" : text
            throw HobClientError(
                .badResponse, "\(operation): the server sent a line that is not a progress message: \(shown)",
                cause: error)
        }
        let kind = line.type.flatMap(StreamMessage.Kind.init(rawValue:)) ?? .info
        if kind == .complete || kind == .error { isFinished = true }
        return StreamMessage(type: kind, data: line.data, error: line.error, time: line.time)
    }

    private func lineTooLong() -> HobClientError {
        HobClientError(
            .badResponse, "\(operation): the server sent a line longer than \(Self.maxLineBytes >> 20) MiB")
    }
}
