// A WebSocket opened on any path (the watch channels, an exec whose text messages matter), read
// message by message: how tests see `ports/watch`, `fs/watch` and exec port notifications.
import Foundation

final class WatchSocket: @unchecked Sendable {
    let connection: RawConnection

    /// Opens `path` on the daemon; fails unless it answers 101.
    init(port: Int, token: String, path: String) throws {
        connection = try RawConnection(port: port)
        try connection.send(RawHTTP.upgradeRequest(path: path, port: port, token: token))
        let deadline = ContinuousClock.now + .seconds(60)
        guard let head = try connection.readHead(deadline: deadline) else { throw TestFailure("\(path): no answer to the upgrade") }
        guard RawHTTP.status(of: head) == 101 else {
            let body = (try? connection.readToEnd(deadline: ContinuousClock.now + .seconds(5))) ?? []
            connection.close()
            throw TestFailure("\(path) refused:\n\(head)\(String(decoding: body, as: UTF8.self))")
        }
    }

    enum Message: Equatable {
        case text(String)
        case binary([UInt8])
        case closed(code: Int?)
    }

    /// The next whole message (pings answered), `.closed` at the end; nil when `timeout` passes.
    func next(timeout: Duration = .seconds(20)) throws -> Message? {
        let deadline = ContinuousClock.now + timeout
        var message: (opcode: UInt8, payload: [UInt8])?
        while true {
            let frame: WebSocketFrame?
            do {
                frame = try connection.readFrame(deadline: deadline)
            } catch is RawConnection.Timeout {
                return nil
            }
            guard let frame else { return .closed(code: nil) }
            switch frame.opcode {
            case WebSocketFrame.ping:
                try connection.send(WebSocketFrame(opcode: WebSocketFrame.pong, payload: frame.payload))
                continue
            case WebSocketFrame.close:
                let code = frame.payload.count >= 2 ? Int(frame.payload[0]) << 8 | Int(frame.payload[1]) : nil
                try? connection.send(WebSocketFrame(opcode: WebSocketFrame.close, payload: Array(frame.payload.prefix(2))))
                return .closed(code: code)
            case WebSocketFrame.continuation:
                message?.payload += frame.payload
            default:
                message = (frame.opcode, frame.payload)
            }
            guard frame.fin, let whole = message else { continue }
            return whole.opcode == WebSocketFrame.text ? .text(String(decoding: whole.payload, as: UTF8.self)) : .binary(whole.payload)
        }
    }

    /// The next text message parsed as a JSON object whose `type` is among `types` (others skipped).
    func nextJSON(_ types: Set<String>, timeout: Duration = .seconds(20)) throws -> JSONMessage? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard let message = try next(timeout: deadline - ContinuousClock.now) else { return nil }
            switch message {
            case .closed: return nil
            case .binary: continue
            case .text(let text):
                guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                    let type = object["type"] as? String, types.contains(type)
                else { continue }
                return JSONMessage(object: object, text: text)
            }
        }
        return nil
    }

    func sendText(_ text: String) throws { try connection.send(WebSocketFrame(opcode: WebSocketFrame.text, payload: Array(text.utf8))) }

    func close() {
        try? connection.send(WebSocketFrame(opcode: WebSocketFrame.close, payload: [0x03, 0xE8]))
        connection.close()
    }
}

extension DaemonFixture {
    func openSocket(_ path: String) async throws -> WatchSocket {
        try await offPool { try WatchSocket(port: self.port, token: self.token, path: path) }
    }
}

/// A JSON object received in a test (the parsed value is only read).
struct JSONMessage: @unchecked Sendable, CustomStringConvertible {
    let object: [String: Any]
    let text: String
    subscript(_ key: String) -> Any? { object[key] }
    var description: String { text }
}
