// What the daemon's listeners do before a connection gets anywhere: the in-sprite API counts
// connections per sprite and refuses what one sprite (or all of them) may not have; every
// listener survives running out of descriptors.
//
// Why on the server channel: accepted connections reach these handlers as the server channel's
// inbound messages, before NIO registers them or Hummingbird builds a pipeline and a task for them.
// A refused connection is closed right there (the client reads EOF): it never costs more than
// the moment its descriptor was open. A 429 would need that pipeline, and a client that floods
// the socket does not read answers anyway.
import Glibc
import HobCore
import HobOS
import Logging
import NIOCore
import Synchronization

/// The daemon's descriptor table, kept from filling up: sprite-originated connections are
/// refused while fewer than the reserve are free.
final class DescriptorBudget: Sendable {
    let limits: FairShareLimits
    /// The last count of /proc/self/fd, the limit then in force, when they were read, and
    /// connections admitted since.
    private let state = Mutex<(count: Int, limit: Int, at: ContinuousClock.Instant, admitted: Int)>((0, 0, .now - .seconds(60), 0))

    init(limits: FairShareLimits) { self.limits = limits }

    /// Whether one more sprite-originated descriptor leaves the reserve untouched. Recounts at
    /// most every 200 ms, or after 32 admissions (a count reads the whole table, so it is not
    /// done per connection: a flood is mostly refused by the cheaper checks anyway). The limit
    /// is read again each time: an operator may change it under a running daemon (prlimit).
    func hasRoom() -> Bool {
        state.withLock { s in
            if ContinuousClock.now - s.at > .milliseconds(200) || s.admitted >= 32 {
                s.limit = FileDescriptors.limit
                s.count = FileDescriptors.openCount() ?? s.limit
                s.at = .now
                s.admitted = 0
            }
            return s.count + s.admitted + 1 <= s.limit - limits.reserve(forLimit: s.limit)
        }
    }

    /// Notes a connection admitted since the last count.
    func admitted() {
        state.withLock { $0.admitted += 1 }
    }
}

/// Counts the in-sprite API's connections by the sprite they come from (the peer's uid range)
/// and closes, as soon as they are accepted, those over `FairShareLimits.apiConnectionsPerSprite`,
/// over `apiConnectionsTotal`, or that would eat into the descriptor reserve.
final class SpriteConnectionGate: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel

    let perSprite: Int
    let total: Int
    let descriptors: DescriptorBudget
    let logger: Logger
    /// Open connections by sprite slot (host processes: -1), and all of them together including
    /// those still being identified. Only touched on the server channel's event loop.
    private var open: [Int: Int] = [:]
    private var openTotal = 0
    private var refused = 0
    private var reporting = false

    init(limits: FairShareLimits, descriptors: DescriptorBudget, logger: Logger) {
        perSprite = limits.apiConnectionsPerSprite
        total = limits.apiConnectionsTotal
        self.descriptors = descriptors
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let accepted = unwrapInboundIn(data)
        guard openTotal < total else { return refuse(accepted, why: "all sprites' connections", on: context.eventLoop) }
        guard descriptors.hasRoom() else { return refuse(accepted, why: "the daemon's descriptor reserve", on: context.eventLoop) }
        openTotal += 1  // held while the peer is identified, so a flood cannot outrun the count
        let loop = context.eventLoop
        let bound = NIOLoopBound((gate: self, context: context, data: data), eventLoop: loop)
        peerUID(accepted).hop(to: loop).whenComplete { result in
            let (gate, context, data) = bound.value
            gate.openTotal -= 1
            gate.decide(context: context, data: data, accepted: accepted, uid: try? result.get())
        }
    }

    private func decide(context: ChannelHandlerContext, data: NIOAny, accepted: any Channel, uid: UInt32?) {
        guard let uid else { return refuse(accepted, why: "unidentified peer", on: context.eventLoop) }
        let key = Fleet.slot(ofHostUID: uid) ?? -1
        guard open[key, default: 0] < perSprite else { return refuse(accepted, why: "one sprite's connections", on: context.eventLoop) }
        open[key, default: 0] += 1
        openTotal += 1
        descriptors.admitted()
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        accepted.closeFuture.hop(to: context.eventLoop).whenComplete { _ in
            let gate = bound.value
            gate.openTotal -= 1
            gate.open[key, default: 1] -= 1
            if gate.open[key] == 0 { gate.open[key] = nil }
        }
        context.fireChannelRead(data)
    }

    private func refuse(_ accepted: any Channel, why limit: String, on loop: any EventLoop) {
        accepted.close(promise: nil)
        refused += 1
        // A flood refuses thousands a second: say so at the first, then sum up every ten seconds.
        guard !reporting else { return }
        reporting = true
        logger.warning("refusing in-sprite API connections", metadata: ["limit": "\(limit)"])
        let bound = NIOLoopBound(self, eventLoop: loop)
        loop.scheduleTask(in: .seconds(10)) {
            let gate = bound.value
            gate.logger.warning("in-sprite API connections refused in the last 10 s", metadata: ["count": "\(gate.refused)"])
            gate.refused = 0
            gate.reporting = false
        }
    }

    private func peerUID(_ channel: any Channel) -> EventLoopFuture<UInt32> {
        guard let provider = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeFailedFuture(ChannelError.operationUnsupported)
        }
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; }, as in SpriteAPIContext.
        let credentials: EventLoopFuture<(UInt32, UInt32, UInt32)> = provider.unsafeGetSocketOption(
            level: .socket, name: NIOBSDSocket.Option(rawValue: SO_PEERCRED))
        return credentials.map { $0.1 }
    }
}

/// Keeps a listener alive when accept() fails for want of resources (EMFILE, ENFILE, ENOBUFS,
/// ENOMEM). NIO reports those as errors on the server channel without closing it; left alone, the
/// error ends the async stream Hummingbird accepts from, which stops the server — and with it
/// the daemon. Here the error is logged and accepting pauses for a moment instead (the pending
/// connection stays in the backlog; retrying at once would only spin).
final class AcceptBackoff: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel
    typealias OutboundIn = Never
    typealias OutboundOut = Never

    static let pause: TimeAmount = .milliseconds(100)
    let logger: Logger
    private var paused = false
    private var readWanted = false
    private var lastReport: NIODeadline = .distantPast

    init(logger: Logger) { self.logger = logger }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let io = error as? IOError, [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(io.errnoCode) else {
            return context.fireErrorCaught(error)
        }
        if NIODeadline.now() - lastReport > .seconds(10) {
            logger.error("cannot accept connections for now; pausing", metadata: ["error": "\(io)", "descriptors": "\(FileDescriptors.openCount().map(String.init) ?? "?")"])
            lastReport = .now()
        }
        guard !paused else { return }
        paused = true
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(in: Self.pause) {
            let (handler, context) = bound.value
            handler.paused = false
            if handler.readWanted {
                handler.readWanted = false
                context.read()
            }
        }
    }

    func read(context: ChannelHandlerContext) {
        guard !paused else {
            readWanted = true
            return
        }
        context.read()
    }
}

/// Puts the back-off (and, for the in-sprite API, the gate) at the front of a listening channel's
/// pipeline; called from `onServerRunning`, before the first connection is read.
func guardListener(_ server: any Channel, gate: (limits: FairShareLimits, descriptors: DescriptorBudget)? = nil, logger: Logger) async {
    do {
        try await server.eventLoop.submit {
            let pipeline = server.pipeline.syncOperations
            if let gate { try pipeline.addHandler(SpriteConnectionGate(limits: gate.limits, descriptors: gate.descriptors, logger: logger), position: .first) }
            try pipeline.addHandler(AcceptBackoff(logger: logger), position: .first)
        }.get()
    } catch {
        logger.error("could not guard a listener", metadata: ["error": "\(error)"])
    }
}
