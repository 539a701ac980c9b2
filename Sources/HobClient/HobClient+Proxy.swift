// Port forwarding (SPRITES-API.md §6): one local TCP connection carried over one
// `GET /v1/sprites/{name}/proxy` WebSocket to host:port inside the sprite.

import Foundation
import HobAPI
import NIOCore
import NIOWebSocket

extension HobClient {
    private struct ProxyHello: Encodable {
        var host: String
        var port: Int
    }

    private struct ProxyAnswer: Decodable {
        var status: String?
        var target: String?
        var error: String?
    }

    /// Carries `local` to `host`:`port` inside the sprite until either side ends. Throws before
    /// any byte moves if the daemon refuses the upgrade or cannot reach the target (`operationFailed`,
    /// with the daemon's reason).
    public func forward(_ name: String, host: String = "localhost", port: Int, local: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async throws {
        // `local` is taken over first, so that it is closed properly whatever fails below.
        try await local.executeThenClose { fromLocal, toLocal in
            try await relay(name, host: host, port: port, outgoing: fromLocal) { try await toLocal.write($0) }
        }
    }

    /// Carries what `outgoing` yields to `host`:`port` inside the sprite and hands what comes back
    /// to `incoming`, until either side ends: `outgoing` finishing closes the tunnel (the proxy has
    /// no half-close), and so does the sprite's side closing. Throws before any byte moves if the
    /// daemon refuses the upgrade or cannot reach the target (`operationFailed`, with its reason).
    public func relay<Outgoing: AsyncSequence & Sendable>(
        _ name: String, host: String = "localhost", port: Int, outgoing: Outgoing,
        incoming: @escaping @Sendable (ByteBuffer) async throws -> Void
    ) async throws where Outgoing.Element == ByteBuffer {
        let target = try endpoint.parsed().requestTarget(segments: ["v1", "sprites", name, "proxy"])
        let socket = try await openWebSocket(target: target, purpose: "port forwarding") { channel in
            try NIOAsyncChannel<WebSocketFrame, WebSocketFrame>(wrappingChannelSynchronously: channel)
        }
        try await socket.executeThenClose { frames, out in
            var incomingFrames = frames.makeAsyncIterator()
            try await out.write(Self.frame(.text, ByteBuffer(bytes: try JSONEncoder().encode(ProxyHello(host: host, port: port)))))
            var answer: ProxyAnswer?
            while answer == nil, let frame = try await incomingFrames.next() {
                switch frame.opcode {
                case .text: answer = try? JSONDecoder().decode(ProxyAnswer.self, from: Data(frame.unmaskedData.readableBytesView))
                case .ping: try await out.write(Self.frame(.pong, frame.unmaskedData))
                case .connectionClose: throw HobClientError(.connectionClosed, "the daemon closed the tunnel to \(name) before it was set up")
                default: continue
                }
            }
            guard let answer, answer.status == "connected" else {
                throw HobClientError(.operationFailed, answer?.error ?? "the daemon did not set up the tunnel to \(name)")
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                // The local side ending closes the tunnel (close 1000 = end of stream).
                group.addTask {
                    for try await bytes in outgoing { try await out.write(Self.frame(.binary, bytes)) }
                    var code = ByteBuffer()
                    code.write(webSocketErrorCode: .normalClosure)
                    try await out.write(Self.frame(.connectionClose, code))
                }
                frames: while let frame = try await incomingFrames.next() {
                    switch frame.opcode {
                    case .binary, .continuation: try await incoming(frame.unmaskedData)
                    case .ping: try await out.write(Self.frame(.pong, frame.unmaskedData))
                    case .connectionClose: break frames
                    default: continue
                    }
                }
                group.cancelAll()
            }
        }
    }

    /// A client frame: masked, as RFC 6455 requires of clients.
    private static func frame(_ opcode: WebSocketOpcode, _ data: ByteBuffer) -> WebSocketFrame {
        WebSocketFrame(fin: true, opcode: opcode, maskKey: .random(), data: data)
    }
}
