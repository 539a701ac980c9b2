// The watch WebSockets (AsyncAPI `ports/watch`, `fs/watch`) and the exec WebSocket's port
// notifications. Port events come from PortMonitor; file events from FsWatchSession.
import Foundation
import HTTPTypes
import HobAPI
import HobCore
import Logging
import NIOWebSocket
import WSCore

struct WatchRoutes: Sendable {
    let fleet: Fleet
    let ports: PortMonitor
    let files: FsWatchLimits

    init(fleet: Fleet, logger: Logger) {
        self.fleet = fleet
        ports = PortMonitor(fleet: fleet, logger: logger)
        files = FsWatchLimits()
    }

    /// `ports/watch`: `port_list` first, then `port_opened` / `port_closed` until the client
    /// leaves (a 1000 close) or the sprite stops (1001). The watch holds the sprite awake, as an
    /// exec connection does.
    func watchPorts(name: String, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        try await fleet.withHold(name) { id, running in
            let subscription = try await ports.subscribe(spriteID: id, running: running, snapshot: true)
            do {
                try await stream(subscription, inbound: inbound, outbound: outbound)
            } catch {
                await ports.unsubscribe(subscription)
                throw error
            }
            await ports.unsubscribe(subscription)
        }
    }

    private func stream(_ subscription: PortMonitor.Subscription, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        try await outbound.write(.text(Self.text(PortListMessage(ports: subscription.snapshot.map { Self.message(.opened($0)) }))))
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                for await change in subscription.changes {
                    try await outbound.write(.text(Self.text(Self.message(change))))
                }
                return true  // the sprite stopped
            }
            group.addTask {
                // Nothing is expected from the client; reading notices it leaving.
                for try await _ in inbound.messages(maxSize: 1 << 16) {}
                return false
            }
            let spriteStopped = try await group.next() ?? false
            group.cancelAll()
            if spriteStopped { try? await outbound.close(.goingAway, reason: "the sprite stopped") }
        }
    }

    /// Runs `body` (which starts an exec session) with the sprite's ports watched for it, and ends
    /// the watch after. The watch begins before the command is started: a port the command opens
    /// at once (`python3 -m http.server` binds within a few milliseconds) must be new to the
    /// watch, not part of its first look, which is never attributed to a session. `body` gets nil
    /// if the sprite stopped: the exec then simply gets no port notifications.
    func withSessionPorts<R>(
        spriteID: String, running: RunningSprite, _ body: (PortMonitor.Subscription?) async throws -> R
    ) async throws -> R {
        let subscription = try? await ports.subscribe(spriteID: spriteID, running: running, snapshot: false)
        defer { if let subscription { Task { [ports] in await ports.unsubscribe(subscription) } } }
        return try await body(subscription)
    }

    /// Writes `port_opened` / `port_closed` for ports that processes of the exec session
    /// `session` (known once the agent has started it) open and close, until cancelled or the
    /// sprite stops. Failures (the sprite stopping, the client gone) just end the notifications:
    /// they must never end the session. The caller unsubscribes.
    func notifyPorts(
        _ subscription: PortMonitor.Subscription?, session: TerminalMode,
        send: @Sendable (WebSocketOutboundWriter.OutboundFrame) async throws -> Void
    ) async {
        guard let subscription else { return }
        for await change in subscription.changes where change.port.belongs(toSession: session.sessionID) {
            guard (try? await send(.text(Self.text(Self.message(change))))) != nil else { break }
        }
    }

    static func message(_ change: PortChange) -> PortNotificationMessage {
        let (type, port) =
            switch change {
            case .opened(let p): (PortNotificationMessage.opened, p)
            case .closed(let p): (PortNotificationMessage.closed, p)
            }
        return PortNotificationMessage(type: type, port: Int(port.port), address: port.address, pid: Int(port.pid))
    }

    static func text(_ value: some Encodable) -> String {
        String(decoding: (try? jsonEncoder.encode(value)) ?? Data("{}".utf8), as: UTF8.self)
    }
}

extension WatchRoutes {
    /// Decides a `ports/watch` upgrade (its token already checked): the sprite booted, so that
    /// one that cannot start is an HTTP error.
    func portsHandler(name: String) async throws -> WebSocketDataHandler<UpgradedRequest> {
        _ = try await fleet.running(name)
        return { inbound, outbound, _ in try await watchPorts(name: name, inbound: inbound, outbound: outbound) }
    }
}
