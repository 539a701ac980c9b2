// The control WebSocket spoken directly (docs/API.md "The control connection"), the way the SDKs
// speak it: `control:`-prefixed envelopes (sprites-py, sprites-js, sprites-go exec) or bare JSON
// (sprites-go file ops and proxy). Blocking, like RawConnection: use it inside `offPool`.
import Foundation

/// One message from the daemon, or the end of the connection.
enum ControlFrame: Equatable, CustomStringConvertible {
    case text(String)
    case binary([UInt8])
    case closed(code: Int?)

    var description: String {
        switch self {
        case .text(let text): return "text \(text.prefix(300))"
        case .binary(let bytes): return "binary \(bytes.prefix(40))\(bytes.count > 40 ? "… (\(bytes.count) bytes)" : "")"
        case .closed(let code): return "close \(code.map(String.init) ?? "without a code")"
        }
    }

    /// The JSON object of a text message, with its `control:` prefix (if any) taken off.
    var envelope: [String: Any]? {
        guard case .text(var text) = self else { return nil }
        if text.hasPrefix("control:") { text.removeFirst("control:".count) }
        return try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
    }

    var isPrefixed: Bool {
        if case .text(let text) = self { return text.hasPrefix("control:") }
        return false
    }
}

/// What one exec op produced, up to and including its op.complete or op.error.
struct ControlExecResult: Sendable, CustomStringConvertible {
    var stdout = Data()
    var stderr = Data()
    /// Every binary message as sent (a terminal session's output has no stream-id byte).
    var binary = Data()
    /// From session_info.
    var sessionID: String?
    var sessionTTY: Bool?
    /// From the binary [3, N] frame.
    var exitFrame: Int?
    /// From {"type":"exit","exit_code":N}.
    var exitMessage: Int?
    /// From op.complete's args.exitCode; nil without an op.complete.
    var completeExitCode: Int?
    /// op.error's args.error.
    var error: String?
    /// Whether the envelope that ended the op had the `control:` prefix.
    var endPrefixed = false
    var closeCode: Int?
    var timedOut = false
    var log: [String] = []

    var output: String { String(decoding: stdout, as: UTF8.self) }
    var errors: String { String(decoding: stderr, as: UTF8.self) }

    var description: String {
        "exit frame \(exitFrame.map(String.init) ?? "none"), exit message \(exitMessage.map(String.init) ?? "none"), "
            + "op.complete \(completeExitCode.map(String.init) ?? "none"), op.error \(error ?? "none"), close \(closeCode.map(String.init) ?? "none")"
            + (timedOut ? " (timed out)" : "") + "\n--- stdout ---\n\(output.suffix(2000))\n--- stderr ---\n\(errors.suffix(2000))\n--- frames ---\n"
            + log.suffix(30).joined(separator: "\n")
    }
}

/// Unchecked: used by one thread at a time (inside `offPool`, or through HeldControl).
final class ControlClient: @unchecked Sendable {
    let connection: RawConnection
    let deadline: ContinuousClock.Instant
    private var partial: (opcode: UInt8, payload: [UInt8])?

    static func path(_ sprite: String) -> String { "/v1/sprites/\(sprite)/control" }

    /// Opens /control; fails unless the daemon answers 101.
    init(port: Int, token: String, sprite: String, timeout: Duration = .seconds(120)) throws {
        deadline = .now + timeout
        connection = try RawConnection(port: port)
        try connection.send(RawHTTP.upgradeRequest(path: Self.path(sprite), port: port, token: token))
        guard let head = try connection.readHead(deadline: deadline) else { throw TestFailure("/control: no answer to the upgrade") }
        guard RawHTTP.status(of: head) == 101 else {
            let body = (try? connection.readToEnd(deadline: .now + .seconds(5))) ?? []
            throw TestFailure("/control refused:\n\(head)\(String(decoding: body, as: UTF8.self))")
        }
    }

    /// The status of an upgrade to /control that is expected to be refused.
    static func refusal(port: Int, token: String, sprite: String) throws -> Int? {
        let connection = try RawConnection(port: port)
        defer { connection.close() }
        try connection.send(RawHTTP.upgradeRequest(path: path(sprite), port: port, token: token))
        return try connection.readHead(deadline: .now + .seconds(30)).flatMap(RawHTTP.status)
    }

    func close() { connection.close() }

    func sendText(_ text: String) throws { try connection.send(WebSocketFrame(opcode: WebSocketFrame.text, payload: Array(text.utf8))) }

    func sendBinary(_ bytes: [UInt8]) throws { try connection.send(WebSocketFrame(opcode: WebSocketFrame.binary, payload: bytes)) }

    /// One binary message in frames of `frameBytes`, as gorilla/websocket (sprites-go) sends a large one.
    func sendBinary(_ bytes: [UInt8], frameBytes: Int) throws {
        var offset = 0
        repeat {
            let end = min(offset + frameBytes, bytes.count)
            let frame = WebSocketFrame(fin: end == bytes.count, opcode: offset == 0 ? WebSocketFrame.binary : WebSocketFrame.continuation, payload: Array(bytes[offset..<end]))
            try connection.send(frame)
            offset = end
        } while offset < bytes.count
    }

    /// `control:{"type":"op.start",…}` (prefixed) or the same bare (sprites-go file ops).
    func start(_ op: String, args: Any, prefixed: Bool = true) throws {
        try sendJSON(["type": "op.start", "op": op, "args": args], prefixed: prefixed)
    }

    func sendJSON(_ object: [String: Any], prefixed: Bool = false) throws {
        let json = String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
        try sendText(prefixed ? "control:" + json : json)
    }

    /// The next whole message; answers pings. Throws RawConnection.Timeout at `deadline` (or `within`).
    func next(within: Duration? = nil) throws -> ControlFrame {
        let until = within.map { min(ContinuousClock.now + $0, deadline) } ?? deadline
        while true {
            guard let frame = try connection.readFrame(deadline: until) else { return .closed(code: nil) }
            switch frame.opcode {
            case WebSocketFrame.ping:
                try connection.send(WebSocketFrame(opcode: WebSocketFrame.pong, payload: frame.payload))
                continue
            case WebSocketFrame.pong:
                continue
            case WebSocketFrame.close:
                try? connection.send(WebSocketFrame(opcode: WebSocketFrame.close, payload: Array(frame.payload.prefix(2))))
                return .closed(code: frame.payload.count >= 2 ? Int(frame.payload[0]) << 8 | Int(frame.payload[1]) : nil)
            case WebSocketFrame.continuation:
                partial?.payload += frame.payload
            default:
                partial = (frame.opcode, frame.payload)
            }
            guard frame.fin, let message = partial else { continue }
            partial = nil
            return message.opcode == WebSocketFrame.text ? .text(String(decoding: message.payload, as: UTF8.self)) : .binary(message.payload)
        }
    }

    /// Whether nothing at all arrives within `quiet`.
    func isQuiet(for quiet: Duration) throws -> Bool {
        do {
            let frame = try next(within: quiet)
            throw TestFailure("expected silence, got \(frame)")
        } catch is RawConnection.Timeout {
            return true
        }
    }

    /// Starts an exec op (sprites-py's framing unless `args` says otherwise), sends `stdin` as
    /// [0]+bytes then [4] (or, `rawStdin`, as sprites-go does: raw bytes then a lone 0x04), and
    /// collects everything up to the op's end.
    func exec(_ argv: [String], stdin: Data? = nil, rawStdin: Bool = false, extra: [String: Any] = [:]) throws -> ControlExecResult {
        var args: [String: Any] = ["cmd": argv, "stdin": stdin == nil ? "false" : "true"]
        args.merge(extra) { $1 }
        try start("exec", args: args)
        if let stdin {
            try sendBinary(rawStdin ? Array(stdin) : [0] + Array(stdin))
            try sendBinary([4])
        }
        return try collect()
    }

    /// Output of the running exec op up to op.complete, op.error or the connection's end, or
    /// until `within` has passed in all (then `timedOut`), however often the op writes.
    func collect(within: Duration? = nil) throws -> ControlExecResult {
        var result = ControlExecResult()
        let until = within.map { ContinuousClock.now + $0 }
        while true {
            let frame: ControlFrame
            do {
                frame = try next(within: until.map { max($0 - .now, .zero) })
            } catch is RawConnection.Timeout {
                result.timedOut = true
                return result
            }
            result.log.append(frame.description)
            switch frame {
            case .closed(let code):
                result.closeCode = code
                return result
            case .binary(let bytes):
                result.binary += bytes
                guard let stream = bytes.first else { continue }
                let payload = Data(bytes.dropFirst())
                switch stream {
                case 1: result.stdout += payload
                case 2: result.stderr += payload
                case 3: result.exitFrame = payload.first.map(Int.init)
                default: break
                }
            case .text:
                let json = frame.envelope
                switch json?["type"] as? String {
                case "exit": result.exitMessage = json?["exit_code"] as? Int
                case "session_info":
                    result.sessionID = json?["session_id"] as? String
                    result.sessionTTY = json?["tty"] as? Bool
                case "op.complete":
                    result.completeExitCode = (json?["args"] as? [String: Any])?["exitCode"] as? Int
                    result.endPrefixed = frame.isPrefixed
                    return result
                case "op.error":
                    result.error = (json?["args"] as? [String: Any])?["error"] as? String ?? "(no message)"
                    result.endPrefixed = frame.isPrefixed
                    return result
                default: continue
                }
            }
        }
    }
}

extension DaemonFixture {
    /// Runs `body` with a fresh control connection to `sprite`, off the cooperative pool.
    func withControl<T: Sendable>(_ sprite: String, _ body: @escaping @Sendable (ControlClient) throws -> T) async throws -> T {
        let (port, token) = (port, token)
        return try await offPool {
            let client = try ControlClient(port: port, token: token, sprite: sprite)
            defer { client.close() }
            return try body(client)
        }
    }
}

/// A control connection kept across awaits (its calls run off the pool, one at a time).
final class HeldControl: @unchecked Sendable {
    private let client: ControlClient

    init(_ daemon: DaemonFixture, _ sprite: String) async throws {
        let (port, token) = (daemon.port, daemon.token)
        client = try await offPool { try ControlClient(port: port, token: token, sprite: sprite, timeout: .seconds(300)) }
    }

    func run<T: Sendable>(_ body: @escaping @Sendable (ControlClient) throws -> T) async throws -> T {
        try await offPool { try body(self.client) }
    }

    deinit { client.close() }
}
