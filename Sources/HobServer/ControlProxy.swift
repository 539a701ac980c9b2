// The proxy op on a control connection (sprites-go `initControlSocketTCP`): the port-forwarding
// WebSocket's protocol (ProxyRoutes) after an op start whose args are the target,
// `{"type":"start","operation":"proxy","params":{"host":"localhost","port":3000,"keep_alive":true}}`.
//
// The server answers `{"status":"connected","target":…}` (or `{"status":"error","error":…}`, and
// the connection is idle again); binary frames then carry the TCP bytes both ways. A release
// (or the next op) ends the TCP connection and keeps the WebSocket. When the sprite's side ends
// the stream, the server sends op.complete and closes the WebSocket (1000): a close is the only
// end of stream sprites-go's proxy reader knows.
import HobAPI
import HobCore
import NIOCore
import NIOWebSocket
import WSCore

extension ControlConnection {
    func proxy(_ op: ControlOp, reader: inout ControlReader) async throws -> ControlRoutes.After {
        let arguments = op.arguments
        guard let port = arguments["port"].flatMap({ Int($0) }), (1...65535).contains(port) else {
            try await refuse(op, "proxy needs a port between 1 and 65535")
            return .idle
        }
        let host = arguments["host"].flatMap { $0.isEmpty ? nil : $0 } ?? "localhost"
        let state = ControlOpState()
        let (writers, handoff) = AsyncStream<NIOAsyncChannelOutboundWriter<ByteBuffer>>.makeStream()
        return try await withThrowingTaskGroup(of: Void.self, returning: ControlRoutes.After.self) { group in
            group.addTask {
                defer { handoff.finish() }
                await runTunnel(op, host: host, port: port, state: state) { handoff.yield($0) }
            }
            var handed = writers.makeAsyncIterator()
            guard let tcp = await handed.next() else { return .idle }
            // However input ends, the tunnel sends nothing more (ControlOpState); the group awaits it.
            defer {
                state.abandon()
                group.cancelAll()
            }
            var activity = InputActivity(fleet: fleet, sprite: name)
            while let message = try await reader.next() {
                switch message {
                case .text(let text):
                    guard let control = ControlMessage(text) else { continue }
                    switch control {
                    case .start(let next): return .next(next)
                    case .release: return .idle
                    }
                case .binary(let bytes):
                    await activity.note()
                    try? await tcp.write(bytes)
                }
            }
            return .ended
        }
    }

    /// The sprite's side of a proxy op: holds the sprite while the TCP connection is open.
    func runTunnel(
        _ op: ControlOp, host: String, port: Int, state: ControlOpState,
        connected: @Sendable (NIOAsyncChannelOutboundWriter<ByteBuffer>) -> Void
    ) async {
        do {
            try await fleet.withHold(name) { _, running in
                let (channel, target) = try await routes.proxy.dial(running, host: host, port: port)
                try await routes.proxy.send(outbound, ["status": "connected", "target": target])
                try await channel.executeThenClose { tcpIn, tcpOut in
                    connected(tcpOut)
                    for try await bytes in tcpIn { try await state.send(.binary(bytes), to: outbound) }
                }
            }
            guard !state.isAbandoned else { return }
            try await complete(op, state: state)
            try await outbound.close(.normalClosure, reason: nil)
        } catch let error as ProxyRoutes.Unreachable {
            try? await refuse(op, error.message)
        } catch {
            guard !state.isAbandoned, !Task.isCancelled else { return }
            try? await refuse(op, APIError.map(error).1.message)
        }
    }

    /// The proxy protocol's refusal; a client that framed the op as an envelope also gets op.error.
    func refuse(_ op: ControlOp, _ message: String) async throws {
        try await routes.proxy.send(outbound, ["status": "error", "error": message])
        if op.framing == .prefixed { try await fail(op, HobError(.unavailable, message)) }
    }
}
