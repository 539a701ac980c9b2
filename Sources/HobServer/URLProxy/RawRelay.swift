// What a URL proxy connection becomes after the sprite accepts an upgrade (WebSocket): two
// relays, one in each pipeline, that copy bytes to each other untouched. Each side reads only
// while the other can take writes; a half-close (FIN) is passed on; when either side goes away
// the other is closed.
import NIOCore

final class RawRelay: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var partner: RawRelay?
    private var context: ChannelHandlerContext?
    private var pendingRead = false
    private var inputClosed = false
    private let onInput: () -> Void
    private var onClose: (() -> Void)?

    /// `onInput` runs for every read (activity); `onClose` once, when this side's channel closes.
    init(onInput: @escaping () -> Void, onClose: @escaping () -> Void) {
        self.onInput = onInput
        self.onClose = onClose
    }

    static func pair(_ a: RawRelay, _ b: RawRelay) {
        a.partner = b
        b.partner = a
    }

    /// Starts reading: the HTTP handlers that were removed may have held a read back.
    func start() { context?.read() }

    func flush() { context?.flush() }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil  // the pair refers to itself: the cycle ends with the pipeline
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        onInput()
        partner?.context?.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.flush()
    }

    func read(context: ChannelHandlerContext) {
        if partner?.context?.channel.isWritable ?? true {
            context.read()
        } else {
            pendingRead = true
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    private func resumeReading() {
        guard pendingRead, let context else { return }
        pendingRead = false
        context.read()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case ChannelEvent.inputClosed = event else { return context.fireUserInboundEventTriggered(event) }
        inputClosed = true
        guard let partner, let other = partner.context else { return context.close(promise: nil) }
        if partner.inputClosed {
            context.close(promise: nil)
            other.close(promise: nil)
            return
        }
        // Pass the FIN on; a side that cannot half-close is closed instead.
        let shutdown = other.eventLoop.makePromise(of: Void.self)
        other.close(mode: .output, promise: shutdown)
        shutdown.futureResult.assumeIsolated().whenFailure { _ in other.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.context?.close(promise: nil)
        onClose?()
        onClose = nil
        context.fireChannelInactive()
    }
}
