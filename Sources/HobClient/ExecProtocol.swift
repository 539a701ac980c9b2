// The exec WebSocket protocol (SPRITES-API.md §4) as pure values, with no sockets, so it can be tested byte by byte.
// `WebSocketMessageAssembler` joins fragmented frames into messages; `ExecStreamDecoder` turns messages into
// `ExecEvent`s; `ExecStreamEncoder` builds the client's payloads. `ExecChannelHandler` wires them to NIO.

import Foundation
import HobAPI

/// What an exec or attach connection delivers, in order.
public enum ExecEvent: Sendable, Equatable {
    /// The session's id and TTY mode; the server sends it first.
    case sessionInfo(SessionInfoMessage)
    /// Output. In TTY mode all terminal output arrives here.
    case stdout([UInt8])
    case stderr([UInt8])
    /// The remote command's exit status; delivered at most once, whichever exit frame arrives first.
    case exit(Int)
    /// The connection ended: the close code the server sent, or nil when it dropped without a close frame.
    /// Always the last event.
    case closed(code: Int?)
}

/// The kinds of data frame; control frames (ping, pong, close) are handled by the connection.
public enum WebSocketDataFrameKind: Sendable, Equatable {
    case text, binary, continuation
}

/// A complete WebSocket message.
public enum WebSocketMessage: Sendable, Equatable {
    case text(String)
    case binary([UInt8])
}

/// Reassembles fragmented messages (RFC 6455 §5.4): a text or binary frame with FIN unset starts a message,
/// continuation frames extend it, the one with FIN set completes it.
public struct WebSocketMessageAssembler: Sendable {
    public enum Failure: Error, Equatable {
        case unexpectedContinuation
        case interleavedMessage
        case messageTooLarge(limit: Int)
    }

    public let maxMessageBytes: Int
    private var pending: (kind: WebSocketDataFrameKind, bytes: [UInt8])?

    public init(maxMessageBytes: Int = 16 << 20) {
        self.maxMessageBytes = maxMessageBytes
    }

    /// Feeds one data frame; returns the message once it is complete.
    public mutating func receive(_ kind: WebSocketDataFrameKind, fin: Bool, payload: [UInt8]) throws(Failure)
        -> WebSocketMessage?
    {
        var bytes: [UInt8]
        let messageKind: WebSocketDataFrameKind
        switch kind {
        case .continuation:
            guard let pending else { throw .unexpectedContinuation }
            messageKind = pending.kind
            bytes = pending.bytes
            self.pending = nil
            bytes += payload
        case .text, .binary:
            guard pending == nil else { throw .interleavedMessage }
            messageKind = kind
            bytes = payload
        }
        guard bytes.count <= maxMessageBytes else { throw .messageTooLarge(limit: maxMessageBytes) }
        guard fin else {
            pending = (messageKind, bytes)
            return nil
        }
        return messageKind == .text ? .text(String(decoding: bytes, as: UTF8.self)) : .binary(bytes)
    }
}

/// Turns server messages into events. Knows the TTY mode (from the exec parameters, or learned from
/// `session_info` on attach) and reports the exit status once although the server may send it twice.
public struct ExecStreamDecoder: Sendable {
    /// nil until known: an attach learns it from `session_info`. Binary frames before that are raw output.
    public private(set) var tty: Bool?
    public private(set) var exitCode: Int?

    public init(tty: Bool?) {
        self.tty = tty
    }

    public mutating func decode(_ message: WebSocketMessage) -> [ExecEvent] {
        switch message {
        case .text(let text): decodeText(text)
        case .binary(let bytes): decodeBinary(bytes)
        }
    }

    private struct TypeOnly: Decodable { var type: String }
    private struct ExitFields: Decodable {
        var exitCode: Int?
        var code: Int?
        enum CodingKeys: String, CodingKey {
            case code
            case exitCode = "exit_code"
        }
    }

    private mutating func decodeText(_ text: String) -> [ExecEvent] {
        if text.hasPrefix("control:") { return [] }
        let data = Data(text.utf8)
        let decoder = JSONDecoder()
        guard let type = try? decoder.decode(TypeOnly.self, from: data).type else { return [] }
        switch type {
        case "session_info":
            guard let info = try? decoder.decode(SessionInfoMessage.self, from: data) else { return [] }
            tty = info.tty
            return [.sessionInfo(info)]
        case "exit":
            guard let fields = try? decoder.decode(ExitFields.self, from: data),
                let code = fields.exitCode ?? fields.code
            else { return [] }
            return exit(code)
        default:
            return []
        }
    }

    private mutating func decodeBinary(_ bytes: [UInt8]) -> [ExecEvent] {
        guard tty == false else { return bytes.isEmpty ? [] : [.stdout(bytes)] }
        guard let first = bytes.first else { return [] }
        let payload = Array(bytes.dropFirst())
        switch StreamID(rawValue: first) {
        case .stdout: return payload.isEmpty ? [] : [.stdout(payload)]
        case .stderr: return payload.isEmpty ? [] : [.stderr(payload)]
        case .exit:
            // `[3, N]` (Go, JS, Python) or `[3, N₃, N₂, N₁, N₀]` big-endian (Elixir).
            if payload.count == 4 {
                let code = payload.reduce(0) { $0 << 8 | Int($1) }
                return exit(Int(Int32(truncatingIfNeeded: code)))
            }
            guard let code = payload.first else { return [] }
            return exit(Int(code))
        case .stdin, .stdinEOF, nil:
            return []
        }
    }

    private mutating func exit(_ code: Int) -> [ExecEvent] {
        guard exitCode == nil else { return [] }
        exitCode = code
        return [.exit(code)]
    }
}

/// The payloads the client sends. Binary payloads are framed and masked by the connection.
public enum ExecStreamEncoder {
    /// Non-TTY: `[0x00] + bytes`; TTY: the bytes as they are.
    public static func stdin(_ bytes: [UInt8], tty: Bool) -> [UInt8] {
        tty ? bytes : [StreamID.stdin.rawValue] + bytes
    }

    /// Non-TTY: `[0x04]`; TTY has no EOF frame (send Ctrl-D as data instead), so nil.
    public static func endOfInput(tty: Bool) -> [UInt8]? {
        tty ? nil : [StreamID.stdinEOF.rawValue]
    }

    public static func resize(rows: Int, cols: Int) -> String {
        json(.resize(rows: rows, cols: cols))
    }

    public static func signal(_ name: String) -> String {
        json(.signal(name))
    }

    private static func json(_ message: ClientControlMessage) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Encoding a struct of strings and integers cannot fail.
        let data = (try? encoder.encode(message)) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
