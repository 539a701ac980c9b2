// Turns an HTTP connection into a WebSocket after any of its requests.
//
// The HTTP side of a connection is an NIOAsyncChannel, and NIO cannot take an async channel's
// handler out of a pipeline again (it is not removable). NIO's own upgrade handler avoids that by
// deciding before anything is wrapped, which is why it only ever looks at the first request.
// Here the HTTP handler stays where it is, idle, and the WebSocket side goes around it:
//
//   … ─ frame decoder ─ frame encoder ─ protocol errors ─ FrameGuard ─ Diverter ─ [HTTP async, idle] ─ Relay ─ WebSocket async
//
// Diverter hands everything inbound straight to Relay's successor; Relay hands everything
// outbound (writes, flushes, reads, closes) straight to Diverter's predecessor. The idle handler
// never sees a frame, so its (HTTP-typed) casts and read gating play no part.
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket

enum EdgePipeline {
    static let bytes = "edge.bytes"
    static let types = "edge.http-types"
    static let exchange = "edge.exchange"

    /// The HTTP side: NIO's decoder and encoder (paired, so answers to HEAD carry no body),
    /// HTTP types, and the deadlines.
    static func addHTTP(_ channel: any Channel, connection: EdgeConnection) throws {
        let pipeline = channel.pipeline.syncOperations
        try pipeline.addHandler(ByteWatch(connection), name: bytes)
        try pipeline.configureHTTPServerPipeline(
            withPipeliningAssistance: false, withErrorHandling: false, withOutboundHeaderValidation: false,
            withEncoderConfiguration: .init())
        try pipeline.addHandler(HTTP1ToHTTPServerCodec(secure: false), name: types)
        try pipeline.addHandler(ExchangeWatch(connection), name: exchange)
    }

    /// Sends the 101 and swaps the HTTP handlers for WebSocket ones. On the channel's event loop.
    static func switchToWebSocket(
        _ channel: any Channel, answer: HTTPResponse, maxFrameSize: Int, maxMessageSize: Int, streamsBinary: Bool
    ) throws -> NIOAsyncChannel<WebSocketFrame, WebSocketFrame> {
        let pipeline = channel.pipeline.syncOperations
        // Encoded at once, on this loop, before the encoder leaves.
        channel.writeAndFlush(HTTPResponsePart.head(answer), promise: nil)
        for name in [bytes, exchange, types] {
            _ = pipeline.removeHandler(name: name)
        }
        _ = pipeline.removeHandler(context: try pipeline.context(handlerType: HTTPResponseEncoder.self))
        let decoder = try pipeline.context(handlerType: ByteToMessageHandler<HTTPRequestDecoder>.self)
        let frames = ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: maxFrameSize))
        let encoder = WebSocketFrameEncoder()
        let errors = WebSocketProtocolErrorHandler()
        let guardian = FrameGuard(maxMessageSize: maxMessageSize, streamsBinary: streamsBinary)
        let diverter = Diverter()
        // The encoder before Diverter: Relay's writes re-enter the pipeline there.
        try pipeline.addHandler(frames, position: .after(decoder.handler))
        try pipeline.addHandler(encoder, position: .after(frames))
        try pipeline.addHandler(errors, position: .after(encoder))
        try pipeline.addHandler(guardian, position: .after(errors))
        try pipeline.addHandler(diverter, position: .after(guardian))
        let relay = Relay()
        try pipeline.addHandler(relay)
        let webSocket = try NIOAsyncChannel<WebSocketFrame, WebSocketFrame>(
            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
        try diverter.connect(to: relay)
        // Last, as NIO's upgrade does (a client sends no frame before it reads the 101).
        _ = pipeline.removeHandler(context: decoder)
        return webSocket
    }
}

/// Inbound: skips the idle HTTP handler (see the file's comment).
final class Diverter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Any
    private var target: ChannelHandlerContext?
    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func connect(to relay: Relay) throws {
        guard let context, let relayContext = relay.context else { throw ChannelError.inappropriateOperationForState }
        target = relayContext
        relay.origin = context
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) { (target ?? context).fireChannelRead(data) }
    func channelReadComplete(context: ChannelHandlerContext) { (target ?? context).fireChannelReadComplete() }
    func channelInactive(context: ChannelHandlerContext) { (target ?? context).fireChannelInactive() }
    func channelWritabilityChanged(context: ChannelHandlerContext) { (target ?? context).fireChannelWritabilityChanged() }
    func errorCaught(context: ChannelHandlerContext, error: any Error) { (target ?? context).fireErrorCaught(error) }
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        (target ?? context).fireUserInboundEventTriggered(event)
    }
}

/// Outbound: skips the idle HTTP handler (see the file's comment).
final class Relay: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = Any
    typealias OutboundIn = Any
    fileprivate(set) var context: ChannelHandlerContext?
    fileprivate var origin: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        (origin ?? context).write(data, promise: promise)
    }
    func flush(context: ChannelHandlerContext) { (origin ?? context).flush() }
    func read(context: ChannelHandlerContext) { (origin ?? context).read() }
    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        (origin ?? context).close(mode: mode, promise: promise)
    }
    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        (origin ?? context).triggerUserOutboundEvent(event, promise: promise)
    }
}
