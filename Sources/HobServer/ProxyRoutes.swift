// Port forwarding (SPRITES-API.md §6): `GET /v1/sprites/{name}/proxy` upgrades to a WebSocket
// that carries one TCP connection into the sprite.
//
//   client → {"host":"localhost","port":3000}            (text; host defaults to localhost)
//   server → {"status":"connected","target":"localhost:3000"}
//   then binary frames both ways carry the raw bytes; a close (1000) is the end of the stream.
//
// The connection starts inside the sprite's network namespace, so "localhost" is the sprite's own
// loopback and a server bound to 127.0.0.1 there is reachable. If the target cannot be reached,
// the server answers {"status":"error","error":"…"} and closes. The sprite is held awake while
// the tunnel is open.
import Foundation
import Glibc
import HobAPI
import HobCore
import Hummingbird
import NIOCore
import NIOWebSocket
import NIOPosix
import WSCore

struct ProxyRoutes {
    let fleet: Fleet

    struct Target: Decodable {
        var host: String?
        var port: Int?
    }

    func tunnel(name: String, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        var messages = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
        let first = try await messages.next()
        guard case .text(let text)? = first, let target = try? JSONDecoder().decode(Target.self, from: Data(text.utf8)), let port = target.port
        else {
            try await refuse(outbound, "send {\"host\":\"localhost\",\"port\":N} as the first (text) frame")
            return
        }
        let host = target.host.flatMap { $0.isEmpty ? nil : $0 } ?? "localhost"
        try await fleet.withHold(name) { _, running in
            try await pump(name: name, running: running, host: host, port: port, messages: &messages, outbound: outbound)
        }
    }

    private func pump(
        name: String, running: RunningSprite, host: String, port: Int,
        messages: inout WebSocketInboundMessageStream.AsyncIterator, outbound: WebSocketOutboundWriter
    ) async throws {
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        let target: String
        do {
            (channel, target) = try await dial(running, host: host, port: port)
        } catch let error as Unreachable {
            try await refuse(outbound, error.message)
            return
        }
        try await send(outbound, ["status": "connected", "target": target])
        try await channel.executeThenClose { tcpIn, tcpOut in
            try await withThrowingTaskGroup(of: Void.self) { group in
                // The sprite's side ending is the end of the stream for the client.
                group.addTask {
                    for try await bytes in tcpIn { try await outbound.write(.binary(bytes)) }
                    try await outbound.close(.normalClosure, reason: nil)
                }
                // The client's side: until it closes. Only binary frames carry data.
                var activity = InputActivity(fleet: fleet, sprite: name)
                while let message = try await messages.next() {
                    await activity.note()
                    if case .binary(let bytes) = message { try await tcpOut.write(bytes) }
                }
                group.cancelAll()
            }
        }
    }

    /// Why a target could not be reached, in words for the client's `{"status":"error"}`.
    struct Unreachable: Error {
        let message: String
    }

    /// A TCP connection to `host`:`port` made inside the sprite (held awake by the caller), and the
    /// target as the client is told it; `Unreachable` when nothing answers there.
    func dial(_ running: RunningSprite, host: String, port: Int) async throws -> (NIOAsyncChannel<ByteBuffer, ByteBuffer>, target: String) {
        let fd: Int32
        do {
            fd = try await fleet.connect(running, host: host, port: port)
        } catch let error as HobError {
            throw Unreachable(message: error.message)
        }
        let target = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]:\(port)" : "\(host):\(port)"
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).withConnectedSocket(fd) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
            return (channel, target)
        } catch {
            close(fd)
            throw error
        }
    }

    private func refuse(_ outbound: WebSocketOutboundWriter, _ message: String) async throws {
        try await send(outbound, ["status": "error", "error": message])
        try await outbound.close(.unexpectedServerError, reason: nil)
    }

    func send(_ outbound: WebSocketOutboundWriter, _ message: [String: String]) async throws {
        let body = try JSONEncoder().encode(message)
        try await outbound.write(.text(String(decoding: body, as: UTF8.self)))
    }
}
