// The exec WebSocket spoken directly (SPRITES-API.md §4): how tests run commands in a sprite
// without depending on the CLI. Client frames are masked (RFC 6455 §5.3); the daemon's are not.
//
// Non-TTY binary frames carry a stream-id byte: 0 stdin, 1 stdout, 2 stderr, 3 exit, 4 stdin EOF.
// The daemon ends with {"type":"exit","exit_code":N}, then [3, N], then a close frame.
import Foundation

struct WebSocketFrame {
    static let continuation: UInt8 = 0x0, text: UInt8 = 0x1, binary: UInt8 = 0x2, close: UInt8 = 0x8, ping: UInt8 = 0x9, pong: UInt8 = 0xA

    var fin = true
    var opcode: UInt8
    var payload: [UInt8]

    /// The frame as a client must send it: masked with a random key.
    var maskedBytes: [UInt8] {
        var bytes: [UInt8] = [(fin ? 0x80 : 0) | opcode]
        switch payload.count {
        case 0..<126: bytes.append(0x80 | UInt8(payload.count))
        case 126...0xFFFF: bytes += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        default: bytes += [0x80 | 127] + (0..<8).reversed().map { UInt8((UInt64(payload.count) >> (8 * UInt64($0))) & 0xFF) }
        }
        let mask = (0..<4).map { _ in UInt8.random(in: 0...255) }
        bytes += mask
        bytes += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        return bytes
    }
}

extension RawConnection {
    func send(_ frame: WebSocketFrame) throws { try send(frame.maskedBytes) }

    /// The next frame from the daemon; nil when the connection ends.
    func readFrame(deadline: ContinuousClock.Instant) throws -> WebSocketFrame? {
        guard let head = try read(2, deadline: deadline) else { return nil }
        var length = UInt64(head[1] & 0x7F)
        if length == 126 {
            guard let ext = try read(2, deadline: deadline) else { return nil }
            length = ext.reduce(0) { $0 << 8 | UInt64($1) }
        } else if length == 127 {
            guard let ext = try read(8, deadline: deadline) else { return nil }
            length = ext.reduce(0) { $0 << 8 | UInt64($1) }
        }
        var mask: [UInt8]?
        if head[1] & 0x80 != 0 {
            guard let key = try read(4, deadline: deadline) else { return nil }
            mask = key
        }
        guard var payload = try read(Int(length), deadline: deadline) else { return nil }
        if let mask { payload = payload.enumerated().map { $0.element ^ mask[$0.offset % 4] } }
        return WebSocketFrame(fin: head[0] & 0x80 != 0, opcode: head[0] & 0x0F, payload: payload)
    }
}

/// What a command run over the exec WebSocket produced.
struct ExecResult: Sendable, CustomStringConvertible {
    var exitCode: Int?
    /// The status code of the daemon's close frame, if it sent one.
    var closeCode: Int?
    /// The daemon neither finished nor closed the WebSocket in time.
    var timedOut = false
    var stdoutData = Data()
    var stderrData = Data()

    var stdout: String { String(decoding: stdoutData, as: UTF8.self) }
    var stderr: String { String(decoding: stderrData, as: UTF8.self) }
    var succeeded: Bool { exitCode == 0 }

    var description: String {
        "exit \(exitCode.map(String.init) ?? "none"), close code \(closeCode.map(String.init) ?? "none")"
            + (timedOut ? " (timed out waiting for the end)\n" : "\n")
            + "--- stdout ---\n\(stdout.suffix(4000))\n--- stderr ---\n\(stderr.suffix(4000))"
    }
}

enum WebSocketExec {
    /// The path and query of an exec request.
    static func path(sprite: String, argv: [String], environment: [String] = [], stdin: Bool) -> String {
        let query = argv.map { "cmd=\(RawHTTP.queryEncode($0))" } + environment.map { "env=\(RawHTTP.queryEncode($0))" }
            + ["stdin=\(stdin)"]
        return "/v1/sprites/\(sprite)/exec?" + query.joined(separator: "&")
    }

    /// Runs `argv` in `sprite` to completion over one WebSocket.
    /// `stdinDelay` waits that long after the upgrade before sending stdin (and its EOF).
    static func run(
        port: Int, token: String, sprite: String, argv: [String], environment: [String] = [], stdin: Data? = nil,
        stdinDelay: Duration = .zero, timeout: Duration = .seconds(120)
    ) async throws -> ExecResult {
        try await offPool {
            let deadline = ContinuousClock.now + timeout
            let connection = try RawConnection(port: port)
            defer { connection.close() }
            let path = path(sprite: sprite, argv: argv, environment: environment, stdin: stdin != nil)
            try connection.send(RawHTTP.upgradeRequest(path: path, port: port, token: token))
            let answer: String?
            do {
                answer = try connection.readHead(deadline: deadline)
            } catch is RawConnection.Timeout {
                throw TestFailure("exec \(argv) in \(sprite): no answer to the WebSocket upgrade within \(timeout)")
            }
            guard let head = answer else {
                throw TestFailure("exec \(argv): no answer to the upgrade")
            }
            guard RawHTTP.status(of: head) == 101 else {
                let body = (try? connection.readToEnd(deadline: ContinuousClock.now + .seconds(5))) ?? []
                throw TestFailure("exec \(argv) in \(sprite) refused:\n\(head)\(String(decoding: body, as: UTF8.self))")
            }
            if let stdin {
                if stdinDelay > .zero {
                    let (seconds, attoseconds) = stdinDelay.components
                    Thread.sleep(forTimeInterval: Double(seconds) + Double(attoseconds) / 1e18)
                }
                var offset = 0
                while offset < stdin.count {
                    let chunk = stdin[stdin.startIndex + offset..<stdin.startIndex + min(offset + 32768, stdin.count)]
                    try connection.send(WebSocketFrame(opcode: WebSocketFrame.binary, payload: [0] + Array(chunk)))
                    offset += chunk.count
                }
                try connection.send(WebSocketFrame(opcode: WebSocketFrame.binary, payload: [4]))
            }
            return try collect(connection, deadline: deadline)
        }
    }

    /// Reads output and the exit status until the daemon closes the WebSocket (or `deadline`).
    static func collect(_ connection: RawConnection, deadline: ContinuousClock.Instant) throws -> ExecResult {
        var result = ExecResult()
        var message: (opcode: UInt8, payload: [UInt8])?
        while true {
            let next: WebSocketFrame?
            do {
                next = try connection.readFrame(deadline: deadline)
            } catch is RawConnection.Timeout {
                result.timedOut = true
                return result
            }
            guard let frame = next else { break }
            switch frame.opcode {
            case WebSocketFrame.ping:
                try connection.send(WebSocketFrame(opcode: WebSocketFrame.pong, payload: frame.payload))
                continue
            case WebSocketFrame.close:
                if frame.payload.count >= 2 { result.closeCode = Int(frame.payload[0]) << 8 | Int(frame.payload[1]) }
                try? connection.send(WebSocketFrame(opcode: WebSocketFrame.close, payload: Array(frame.payload.prefix(2))))
                return result
            case WebSocketFrame.continuation:
                message?.payload += frame.payload
            default:
                message = (frame.opcode, frame.payload)
            }
            guard frame.fin, let complete = message else { continue }
            message = nil
            if complete.opcode == WebSocketFrame.text {
                let json = try? JSONSerialization.jsonObject(with: Data(complete.payload)) as? [String: Any]
                if json?["type"] as? String == "exit", let code = json?["exit_code"] as? Int { result.exitCode = code }
            } else if complete.opcode == WebSocketFrame.binary, let stream = complete.payload.first {
                let bytes = Data(complete.payload.dropFirst())
                switch stream {
                case 1: result.stdoutData += bytes
                case 2: result.stderrData += bytes
                case 3: if result.exitCode == nil { result.exitCode = bytes.first.map(Int.init) }
                default: break
                }
            }
        }
        return result
    }
}
