// The channel handlers that give every API connection its deadlines and its bounded shutdown
// (the rules are ExchangeClock's). Three handlers share one EdgeConnection, all on the
// connection's event loop:
//
//   ShutdownGrace ─ ByteWatch ─ HTTP decoder/encoder ─ HTTP types codec ─ ExchangeWatch ─ async channel
//
// ByteWatch sees raw bytes (the start of a head is only visible before decoding) and drops them
// while a connection lingers; ExchangeWatch sees requests and answers, keeps the timer and writes
// the 408s. ShutdownGrace stays for the connection's whole life, WebSocket included: after SIGTERM
// it closes the connection once the grace is over, whatever it is doing.
import HTTPTypes
import HobCore
import NIOCore
import NIOHTTPTypes

/// One connection's clock and timer.
final class EdgeConnection {
    var clock: ExchangeClock
    /// While lingering, input is read and dropped until the client closes or the linger ends.
    var lingering = false
    var timer: Scheduled<Void>?
    /// Set while ExchangeWatch is in the pipeline; the 408s are written from there.
    var exchange: ChannelHandlerContext?

    init(limits: HTTPEdgeLimits) {
        clock = ExchangeClock(limits: limits, now: .now)
    }

    /// Re-arms the timer for the clock's next deadline.
    func reschedule() {
        timer?.cancel()
        timer = nil
        guard let context = exchange, !lingering, let (at, _) = clock.deadline() else { return }
        let delay = max(.zero, at - .now)
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: .nanoseconds(delay.nanoseconds)) { bound.value.fire() }
    }

    private func fire() {
        timer = nil
        guard let context = exchange, !lingering else { return }
        guard let expiry = clock.expired(at: .now) else { return reschedule() }
        switch expiry {
        case .idle, .body(answered: true):
            context.close(promise: nil)
        case .head, .body(answered: false):
            answerAndLinger(EdgeAnswer.timeout(), context: context)
        }
    }

    /// Writes a final answer from the edge, then lingers (see `linger`).
    func answerAndLinger(_ answer: EdgeAnswer, context: ChannelHandlerContext) {
        context.write(NIOAny(HTTPResponsePart.head(answer.head)), promise: nil)
        context.write(NIOAny(HTTPResponsePart.body(answer.body)), promise: nil)
        context.writeAndFlush(NIOAny(HTTPResponsePart.end(nil)), promise: nil)
        linger(context.channel)
    }

    /// Ends the output (the client reads the answer, then EOF), reads and drops input until the
    /// client closes, and closes after `limits.linger` at the latest. Closing at once with unread
    /// input would make the kernel reset the connection, and the client could lose the answer.
    func linger(_ channel: any Channel) {
        guard !lingering else { return }
        lingering = true
        timer?.cancel()
        timer = nil
        channel.close(mode: .output, promise: nil)
        let linger = clock.limits.linger
        channel.eventLoop.scheduleTask(in: .nanoseconds(linger.nanoseconds)) { channel.close(promise: nil) }
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

/// Raw input: starts the head deadline at a request's first byte, and drops input while lingering.
final class ByteWatch: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let connection: EdgeConnection

    init(_ connection: EdgeConnection) { self.connection = connection }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !connection.lingering else { return }
        let wasWaiting = connection.clock.firstByte == nil && !connection.clock.isReadingBody
        connection.clock.bytesArrived(at: .now)
        if wasWaiting && connection.clock.firstByte != nil { connection.reschedule() }
        context.fireChannelRead(data)
    }
}

/// Requests and answers: keeps the timer, closes at SIGTERM between requests, and marks answers
/// written during shutdown `Connection: close`.
final class ExchangeWatch: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let connection: EdgeConnection

    init(_ connection: EdgeConnection) { self.connection = connection }

    func handlerAdded(context: ChannelHandlerContext) {
        connection.exchange = context
        connection.reschedule()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        connection.exchange = nil
        connection.timer?.cancel()
        connection.timer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: connection.clock.headRead(at: .now)
        case .body: connection.clock.bodyRead(at: .now)
        case .end: connection.clock.endRead(at: .now)
        }
        connection.reschedule()
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head) where head.status.code >= 200:
            connection.clock.answerStarted()
            if connection.clock.quiescing {
                head.headerFields[.connection] = "close"
                return context.write(wrapOutboundOut(.head(head)), promise: promise)
            }
        case .end:
            if connection.clock.answerEnded(at: .now) {
                context.writeAndFlush(data, promise: promise)
                context.close(promise: nil)
                return
            }
            connection.reschedule()
        default:
            break
        }
        context.write(data, promise: promise)
    }

    /// Reads reach here only while the request's consumer wants more (the async channel holds
    /// them back otherwise).
    func read(context: ChannelHandlerContext) {
        if !connection.clock.waitingForBytes {
            connection.clock.readRequested(at: .now)
            connection.reschedule()
        }
        context.read()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent, connection.clock.quiesce() {
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }
}

/// After SIGTERM (the server's quiesce event), closes the connection when the grace is over.
final class ShutdownGrace: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    let grace: Duration
    private var scheduled = false

    init(grace: Duration) { self.grace = grace }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent, !scheduled {
            scheduled = true
            let channel = context.channel
            context.eventLoop.scheduleTask(in: .nanoseconds(grace.nanoseconds)) { channel.close(promise: nil) }
        }
        context.fireUserInboundEventTriggered(event)
    }
}
