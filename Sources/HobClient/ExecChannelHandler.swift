// The last handler of an exec WebSocket pipeline. Inbound: answers pings, reassembles fragments, decodes events and
// yields them to `ExecEventStream`, pausing socket reads while the consumer is behind. Outbound: the single place
// frames are written, so nothing follows our close frame. Keepalive per SPRITES-API.md §4.8: a ping every 15 s,
// and a connection silent for 45 s is treated as dead.

import HobAPI
import NIOCore
import NIOWebSocket

final class ExecChannelHandler: ChannelDuplexHandler, ReadDemandHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame
    typealias Source = ExecEventStream.Producer.Source

    static let pingInterval: TimeAmount = .seconds(15)
    static let deadAfter: TimeAmount = .seconds(45)
    static let closeGrace: TimeAmount = .seconds(2)

    var source: Source?
    private let state: ExecSessionState
    private let eventLoop: any EventLoop
    private var assembler: WebSocketMessageAssembler
    private var decoder: ExecStreamDecoder
    private var context: ChannelHandlerContext?
    private var pending: [ExecEvent] = []
    private var closeCode: Int?
    private var sentClose = false
    private var lastInbound = NIODeadline.now()
    private var keepalive: Scheduled<Void>?

    private var reading = ReadGate()

    init(tty: Bool?, state: ExecSessionState, maxMessageBytes: Int, eventLoop: any EventLoop) {
        self.state = state
        self.eventLoop = eventLoop
        self.decoder = ExecStreamDecoder(tty: tty)
        self.assembler = WebSocketMessageAssembler(maxMessageBytes: maxMessageBytes)
    }

    // MARK: Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        lastInbound = .now()
        scheduleKeepalive(context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        finish()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // WebSocketProtocolErrorHandler, earlier in the pipeline, has already answered protocol errors.
        context.close(promise: nil)
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        lastInbound = .now()
        switch frame.opcode {
        case .ping:
            guard frame.fin else { return initiateClose(code: .protocolError) }
            write(context: context, WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData))
        case .pong:
            break
        case .connectionClose:
            var payload = frame.unmaskedData
            closeCode = payload.readInteger(as: UInt16.self).map(Int.init)
            if let reason = payload.readString(length: payload.readableBytes), !reason.isEmpty {
                state.closed(reason: reason)
            }
            if !sentClose {
                sentClose = true
                var echo = context.channel.allocator.buffer(capacity: 2)
                echo.writeInteger(UInt16(closeCode ?? 1000))
                context.writeAndFlush(
                    wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: echo)),
                    promise: nil)
            }
            context.close(promise: nil)
        case .text, .binary, .continuation:
            let kind: WebSocketDataFrameKind =
                frame.opcode == .text ? .text : frame.opcode == .binary ? .binary : .continuation
            do {
                if let message = try assembler.receive(kind, fin: frame.fin, payload: Array(buffer: frame.unmaskedData)) {
                    for event in decoder.decode(message) {
                        if case .sessionInfo(let info) = event { state.learned(info) }
                        pending.append(event)
                    }
                }
            } catch .messageTooLarge {
                initiateClose(code: .messageTooLarge)
            } catch {
                initiateClose(code: .protocolError)
            }
        default:
            initiateClose(code: .protocolError)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        deliver()
        context.fireChannelReadComplete()
    }

    // MARK: Flow control

    func read(context: ChannelHandlerContext) {
        if reading.allowsRead() { context.read() }
    }

    func produceMore() {
        if reading.resume() { context?.read() }
    }

    /// The consumer stopped iterating: stop reading and close, nobody is listening.
    func consumerGone() {
        source = nil
        reading.stop()
        initiateClose(code: .goingAway)
    }

    private func deliver() {
        guard !pending.isEmpty else { return }
        defer { pending.removeAll(keepingCapacity: true) }
        guard let source else { return }
        if case .stopProducing = source.yield(contentsOf: pending) { reading.pause() }
    }

    private func finish() {
        keepalive?.cancel()
        keepalive = nil
        guard let source else { return }
        pending.append(.closed(code: closeCode))
        deliver()
        source.finish()
        self.source = nil
    }

    // MARK: Outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        context.write(data, promise: promise)
    }

    /// Writes one frame (already masked by the caller) unless the close handshake has begun.
    func send(_ frame: WebSocketFrame) -> EventLoopFuture<Void> {
        guard let context, context.channel.isActive, !sentClose else {
            return eventLoop.makeFailedFuture(
                HobClientError(.connectionClosed, "the exec connection is closed"))
        }
        let promise = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(frame), promise: promise)
        return promise.futureResult
    }

    /// Sends a close frame and closes the socket once the server answers, or after a grace period.
    func initiateClose(code: WebSocketErrorCode) {
        guard let context else { return }
        guard !sentClose, context.channel.isActive else {
            context.close(promise: nil)
            return
        }
        sentClose = true
        var payload = context.channel.allocator.buffer(capacity: 2)
        payload.write(webSocketErrorCode: code)
        context.writeAndFlush(
            wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: payload)),
            promise: nil)
        context.eventLoop.assumeIsolated().scheduleTask(in: Self.closeGrace) {
            guard self.context != nil else { return }
            context.close(promise: nil)
        }
    }

    private func write(context: ChannelHandlerContext, _ frame: WebSocketFrame) {
        guard !sentClose else { return }
        context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
    }

    // MARK: Keepalive

    private func scheduleKeepalive(context: ChannelHandlerContext) {
        keepalive = context.eventLoop.assumeIsolated().scheduleTask(in: Self.pingInterval) {
            guard context.channel.isActive else { return }
            if NIODeadline.now() - self.lastInbound > Self.deadAfter {
                context.close(promise: nil)
                return
            }
            self.write(
                context: context,
                WebSocketFrame(fin: true, opcode: .ping, maskKey: .random(), data: context.channel.allocator.buffer(capacity: 0)))
            self.scheduleKeepalive(context: context)
        }
    }
}
