// The URL proxy's connection into a sprite, in HTTP mode: it passes the sprite's response parts
// to the client's URLProxyFrontend, and reads from the sprite only while the client can take
// more (server-sent events and large downloads flow at the client's pace).
import NIOCore
import NIOHTTP1

final class URLProxyBackend: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    /// Weak: the client connection owns this one, not the other way round.
    private weak var frontend: URLProxyFrontend?
    private var context: ChannelHandlerContext?
    private var pendingRead = false

    init(frontend: URLProxyFrontend) {
        self.frontend = frontend
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func write(_ part: HTTPClientRequestPart) {
        context?.write(wrapOutboundOut(part), promise: nil)
    }

    func flush() { context?.flush() }

    func resumeReading() {
        guard pendingRead, let context else { return }
        pendingRead = false
        context.read()
    }

    func read(context: ChannelHandlerContext) {
        if frontend?.canTakeResponse ?? true {
            context.read()
        } else {
            pendingRead = true
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        frontend?.backendRead(unwrapInboundIn(data), from: self)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        frontend?.backendReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { frontend?.backendWritabilityChanged() }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The sprite closed its side; the decoder has already ended a body that ran to the close.
        if case ChannelEvent.inputClosed = event {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        frontend?.backendFailed(self, error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        frontend?.backendClosed(self)
        context.fireChannelInactive()
    }
}
