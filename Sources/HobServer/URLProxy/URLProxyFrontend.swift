// One client connection of the URL proxy: an HTTP/1.1 relay to one connection into a sprite.
//
//   idle ──head──▶ admitting ──▶ dialling ──▶ forwarding ──response end──▶ idle (keep-alive)
//                   auth, wake    socket in     request parts out,   │
//                   and hold      the sprite    response parts back  └─ 101 ─▶ upgraded (RawRelay)
//   Any step can end in an answer from Hob itself (400/401/302/404/421/502/503/504), after which
//   the connection goes on (idle, or discarding the rest of a body-less request) or closes.
//
// Every request on a keep-alive connection is parsed and checked on its own (Host, target,
// auth), and holds the sprite awake from admission to the end of its response; the connection
// into the sprite is reused while requests name the same sprite and it has not restarted.
// Parts that arrive while a step is under way wait in `queue`.
//
// Backpressure: each side reads only while the other can take writes. Reads are held back in
// `read(context:)` and resumed on the partner's writability change — NIO's way of switching
// autoRead off and on without a round trip through channel options. Both channels live on one
// event loop, so the two handlers call each other directly.
import Glibc
import HobCore
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

final class URLProxyFrontend: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private enum Phase {
        case idle, admitting, dialling, forwarding, discarding, closing, upgraded
    }

    /// The request in flight.
    private final class Exchange {
        let sprite: String
        let head: HTTPRequestHead
        let facts: URLRequestFacts
        var hold: String?
        var removeAuthorization = false
        var requestEnded = false
        var responseStarted = false
        var switching = false
        var closeAfter = false
        var backendKeepAlive = true
        var timer: Scheduled<Void>?

        init(sprite: String, head: HTTPRequestHead) {
            self.sprite = sprite
            self.head = head
            facts = URLRequestFacts(head)
        }
    }

    /// The connection into a sprite, kept between requests for the same sprite and run.
    private struct Backend {
        let channel: any Channel
        let handler: URLProxyBackend
        let sprite: String
        let running: RunningSprite
        let port: Int
    }

    private let proxy: URLProxy
    /// The asynchronous steps (admission, dialling, releasing holds) run on this connection's loop.
    private let executor: EventLoopTaskExecutor
    private var context: ChannelHandlerContext?
    private var phase = Phase.idle
    private var exchange: Exchange?
    private var backend: Backend?
    private var queue = CircularBuffer<HTTPServerRequestPart>()
    private var pendingRead = false
    private var inputClosed = false
    private var activity: InputActivity?

    init(proxy: URLProxy, eventLoop: any EventLoop) {
        self.proxy = proxy
        executor = EventLoopTaskExecutor(eventLoop)
    }

    // MARK: - The client's side

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if case .body = part { activity?.noteSoon() }
        queue.append(part)
        process()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        backend?.handler.flush()
    }

    func read(context: ChannelHandlerContext) {
        if holdsReads {
            pendingRead = true
        } else {
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { backend?.handler.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let idle as IdleStateHandler.IdleStateEvent where idle == .read:
            // Nothing in flight, or a client stalled in the middle of its request body.
            let stalled = phase == .forwarding && exchange?.requestEnded == false
            if phase == .idle || phase == .discarding || stalled { context.close(promise: nil) }
        case ChannelEvent.inputClosed:
            // The client sent all it will send; it still gets the answer to its last request.
            inputClosed = true
            exchange?.closeAfter = true
            if phase == .idle || phase == .discarding { context.close(promise: nil) }
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A request that cannot be parsed (its head, or its body while it is admitted, dialled or
        // forwarded) is answered 400 while no answer has begun; after that only closing is left.
        let unanswered =
            phase == .idle || phase == .admitting || phase == .dialling || (phase == .forwarding && exchange?.responseStarted == false)
        if unanswered, error is HTTPParserError {
            respond(URLAnswer(.badRequest, "The request is not valid HTTP/1.1 (\(error)).", close: true), to: phase == .idle ? nil : exchange?.facts)
        } else {
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        phase = .closing
        queue.removeAll()
        endExchange()
        closeBackend()
        context.fireChannelInactive()
    }

    /// Reads wait while a step is under way, while parts are queued, and while the sprite cannot
    /// take more of the request.
    private var holdsReads: Bool {
        if !queue.isEmpty { return true }
        switch phase {
        case .admitting, .dialling, .closing: return true
        case .forwarding: return !(backend?.channel.isWritable ?? true)
        case .idle, .discarding, .upgraded: return false
        }
    }

    private func resumeReading() {
        guard pendingRead, !holdsReads, let context else { return }
        pendingRead = false
        context.read()
    }

    /// Moves queued parts on as far as the current step allows.
    private func process() {
        var wroteToBackend = false
        loop: while let part = queue.first {
            switch phase {
            case .idle:
                queue.removeFirst()
                // Anything but a head here is the remainder of a request already answered.
                if case .head(let head) = part { begin(head) }
            case .discarding:
                queue.removeFirst()
                if case .end = part { phase = .idle }
            case .forwarding:
                // A pipelined request waits for the response to the one before it.
                guard let exchange, !exchange.requestEnded, let backend else { break loop }
                queue.removeFirst()
                switch part {
                case .head:
                    break  // cannot happen: a head only ever follows an end
                case .body(let bytes):
                    backend.handler.write(.body(.byteBuffer(bytes)))
                case .end(let trailers):
                    backend.handler.write(.end(trailers))
                    exchange.requestEnded = true
                    startResponseTimer(exchange)
                }
                wroteToBackend = true
            case .admitting, .dialling, .closing, .upgraded:
                break loop
            }
        }
        if phase == .closing { queue.removeAll() }
        if wroteToBackend { backend?.handler.flush() }
        resumeReading()
    }

    // MARK: - A request's steps

    private func begin(_ head: HTTPRequestHead) {
        let name: String
        switch URLRouting.target(of: head, domain: proxy.settings.domain) {
        case .refused(let answer):
            return respond(answer, to: URLRequestFacts(head))
        case .sprite(let sprite):
            name = sprite
        }
        let exchange = Exchange(sprite: name, head: head)
        self.exchange = exchange
        if activity?.sprite != name { activity = InputActivity(fleet: proxy.fleet, sprite: name) }
        phase = .admitting
        let proxy = proxy
        executor.run({ await proxy.admit(head, sprite: name) }, then: { admission in self.admitted(admission, exchange) })
    }

    private func admitted(_ admission: URLProxy.Admission, _ exchange: Exchange) {
        guard phase == .admitting, self.exchange === exchange else {
            // The client went away meanwhile.
            if case .admitted(let hold, _, _) = admission { release(hold) }
            return
        }
        switch admission {
        case .answer(let answer):
            respond(answer, to: exchange.facts)
        case .admitted(let hold, let running, let removeAuthorization):
            exchange.hold = hold
            exchange.removeAuthorization = removeAuthorization
            // The port is not asked again for a kept connection: a service changing its
            // http_port takes effect on the client's next connection.
            if let backend, backend.sprite == exchange.sprite, backend.running == running, backend.channel.isActive {
                forward(exchange, to: backend)
            } else {
                dial(exchange, running)
            }
        }
    }

    private func dial(_ exchange: Exchange, _ running: RunningSprite) {
        closeBackend()
        phase = .dialling
        let proxy = proxy
        let name = exchange.sprite
        executor.run({ await proxy.dial(running, sprite: name) }, then: { dialed in self.dialled(dialed, exchange, running) })
    }

    private func dialled(_ dialed: URLProxy.Dialed, _ exchange: Exchange, _ running: RunningSprite) {
        guard phase == .dialling, self.exchange === exchange, let context else {
            if case .connected(let socket, _) = dialed { Glibc.close(socket) }
            return
        }
        let (socket, port): (Int32, Int)
        switch dialed {
        case .failed(let answer):
            return respond(answer, to: exchange.facts)
        case .connected(let s, let p):
            (socket, port) = (s, p)
        }
        let handler = URLProxyBackend(frontend: self)
        let bound = NIOLoopBound(handler, eventLoop: context.eventLoop)
        ClientBootstrap(group: context.eventLoop)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    var noFraming = HTTPRequestEncoder.Configuration()
                    noFraming.automaticallySetFramingHeaders = false
                    try pipeline.addHandler(HTTPRequestEncoder(configuration: noFraming), name: URLProxy.Names.backendEncoder)
                    // The decoder sees the request heads go out, so it knows a HEAD response has no body.
                    let decoder = HTTPResponseDecoder(leftOverBytesStrategy: .forwardBytes, informationalResponseStrategy: .forward)
                    try pipeline.addHandler(ByteToMessageHandler(decoder), name: URLProxy.Names.backendDecoder)
                    try pipeline.addHandler(bound.value)
                }
            }
            // The socket is the channel's from here on: closing it here too, after a failure, could
            // close a descriptor number already reused elsewhere.
            .withConnectedSocket(socket)
            .assumeIsolated().whenComplete { result in
                guard self.phase == .dialling, self.exchange === exchange else {
                    if case .success(let channel) = result { channel.close(promise: nil) }
                    return
                }
                switch result {
                case .success(let channel) where channel.isActive:
                    let backend = Backend(channel: channel, handler: handler, sprite: exchange.sprite, running: running, port: port)
                    self.backend = backend
                    self.forward(exchange, to: backend)
                case .success(let channel):
                    channel.close(promise: nil)
                    self.respond(URLAnswer(.badGateway, "Sprite \(exchange.sprite) closed the connection on port \(port) at once."), to: exchange.facts)
                case .failure(let error):
                    self.proxy.logger.warning(
                        "URL request: could not use the connection into the sprite",
                        metadata: ["sprite": "\(exchange.sprite)", "port": "\(port)", "error": "\(error)"])
                    self.respond(URLAnswer(.badGateway, "Hob could not use its connection to port \(port) in sprite \(exchange.sprite)."), to: exchange.facts)
                }
            }
    }

    private func forward(_ exchange: Exchange, to backend: Backend) {
        phase = .forwarding
        let head = URLHeaders.forwardedRequest(
            exchange.head, facts: exchange.facts, removeAuthorization: exchange.removeAuthorization,
            clientAddress: context?.channel.remoteAddress?.ipAddress, scheme: proxy.settings.scheme)
        backend.handler.write(.head(head))
        backend.handler.flush()
        process()
    }

    /// The sprite has the whole request: its response head must come within the timeout.
    private func startResponseTimer(_ exchange: Exchange) {
        guard let context else { return }
        exchange.timer?.cancel()
        let timeout = proxy.responseTimeout
        exchange.timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            guard self.exchange === exchange, self.phase == .forwarding, !exchange.responseStarted else { return }
            let seconds = timeout.nanoseconds / 1_000_000_000
            self.proxy.logger.warning("URL request: the sprite sent no response", metadata: ["sprite": "\(exchange.sprite)", "seconds": "\(seconds)"])
            self.respond(URLAnswer(.gatewayTimeout, "Sprite \(exchange.sprite) did not answer within \(seconds) s."), to: exchange.facts)
        }
    }

    // MARK: - The sprite's side (called by URLProxyBackend)

    var canTakeResponse: Bool { context?.channel.isWritable ?? true }

    func backendRead(_ part: HTTPClientResponsePart, from handler: URLProxyBackend) {
        guard let context, let backend, backend.handler === handler else { return }
        guard phase == .forwarding, let exchange else {
            // A sprite talking out of turn loses the connection.
            return closeBackend()
        }
        switch part {
        case .head(let head) where head.status.code < 200 && head.status != .switchingProtocols:
            // 100 Continue, 103 Early Hints: passed on at once (never to HTTP/1.0 clients, which
            // do not know them); the final head follows.
            if exchange.facts.version == .http1_1 {
                context.writeAndFlush(wrapOutboundOut(.head(URLHeaders.forwardedInterim(head, host: exchange.facts.host))), promise: nil)
            }
            if exchange.requestEnded { startResponseTimer(exchange) }
        case .head(let head) where head.status == .switchingProtocols:
            exchange.timer?.cancel()
            guard let requested = exchange.facts.upgrade, exchange.requestEnded else {
                return respond(URLAnswer(.badGateway, "Sprite \(exchange.sprite) switched protocols without being asked to."), to: exchange.facts)
            }
            exchange.switching = true
            exchange.responseStarted = true
            context.writeAndFlush(wrapOutboundOut(.head(URLHeaders.switchingProtocols(head, requested: requested, host: exchange.facts.host))), promise: nil)
        case .head(let head):
            exchange.timer?.cancel()
            let (forwarded, close) = URLHeaders.forwardedResponse(head, to: exchange.facts)
            exchange.responseStarted = true
            // A declined upgrade leaves the request decoder stopped: the connection cannot go on.
            exchange.closeAfter = exchange.closeAfter || close || exchange.facts.endsParsing
            exchange.backendKeepAlive = head.isKeepAlive
            context.write(wrapOutboundOut(.head(forwarded)), promise: nil)
        case .body(let bytes):
            context.write(wrapOutboundOut(.body(.byteBuffer(bytes))), promise: nil)
        case .end:
            if exchange.switching {
                // After the decoder's callback has returned: a handler cannot leave the pipeline
                // in the middle of decoding.
                context.eventLoop.assumeIsolated().execute { self.switchProtocols() }
            } else {
                finishResponse(exchange)
            }
        }
    }

    func backendReadComplete() {
        // Each read from the sprite goes out at once: server-sent events are never held back.
        context?.flush()
    }

    func backendWritabilityChanged() { resumeReading() }

    func backendClosed(_ handler: URLProxyBackend) {
        guard let backend, backend.handler === handler else { return }
        self.backend = nil
        guard phase == .forwarding, let exchange else { return }
        if exchange.responseStarted {
            // Cut off in the middle of a response: closing is the only way to tell the client.
            endExchange()
            context?.close(promise: nil)
        } else {
            proxy.logger.info("URL request: the sprite closed the connection without answering", metadata: ["sprite": "\(exchange.sprite)", "port": "\(backend.port)"])
            respond(URLAnswer(.badGateway, "Sprite \(exchange.sprite) closed the connection on port \(backend.port) without answering."), to: exchange.facts)
        }
    }

    func backendFailed(_ handler: URLProxyBackend, _ error: any Error) {
        guard let backend, backend.handler === handler, phase == .forwarding, let exchange else { return }
        proxy.logger.info("URL request: the sprite's response could not be read", metadata: ["sprite": "\(exchange.sprite)", "error": "\(error)"])
        if exchange.responseStarted {
            endExchange()
            closeBackend()
            context?.close(promise: nil)
        } else {
            respond(URLAnswer(.badGateway, "Sprite \(exchange.sprite) sent a response that is not valid HTTP/1.1."), to: exchange.facts)
        }
    }

    // MARK: - Endings

    private func finishResponse(_ exchange: Exchange) {
        guard let context else { return }
        // A response that came before the whole request: the rest of the body cannot be told
        // apart from a next request, so both connections close.
        let close = exchange.closeAfter || !exchange.requestEnded
        if !exchange.requestEnded || !exchange.backendKeepAlive { closeBackend() }
        endExchange()
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if close {
            phase = .closing
            written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        } else {
            phase = .idle
        }
        process()
    }

    /// Answers the current request from Hob itself. `facts` is nil for a request that could not
    /// be parsed.
    private func respond(_ answer: URLAnswer, to facts: URLRequestFacts?) {
        guard let context else { return }
        let requestEnded = exchange?.requestEnded ?? false
        // The sprite may still answer a request it was given: that connection cannot be reused.
        if phase == .forwarding { closeBackend() }
        endExchange()
        // A body-less request's end is on its way and is read past; a body is not worth reading.
        let bodyPending = (facts?.hasBody ?? true) && !requestEnded && !queue.contains { if case .end = $0 { true } else { false } }
        let close = answer.close || inputClosed || bodyPending || (facts.map { $0.close || $0.endsParsing } ?? true)
        let version = facts?.version ?? .http1_1
        let body = ByteBuffer(string: answer.message + "\n")
        var headers = answer.headers
        headers.replaceOrAdd(name: "Content-Type", value: "text/plain; charset=utf-8")
        headers.replaceOrAdd(name: "Content-Length", value: String(body.readableBytes))
        headers.replaceOrAdd(name: "Fly-Request-Id", value: RequestID.make())
        if close && version == .http1_1 { headers.replaceOrAdd(name: "Connection", value: "close") }
        proxy.logger.debug("URL request answered by Hob", metadata: ["status": "\(answer.status.code)", "message": "\(answer.message)"])
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: answer.status, headers: headers))), promise: nil)
        if facts?.method != .HEAD { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if close {
            phase = .closing
            written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        } else {
            phase = requestEnded ? .idle : .discarding
        }
        process()
    }

    private func endExchange() {
        guard let exchange else { return }
        exchange.timer?.cancel()
        if let hold = exchange.hold { release(hold) }
        exchange.hold = nil
        self.exchange = nil
    }

    private func release(_ hold: String) { proxy.release(hold, on: executor) }

    private func closeBackend() {
        guard let backend else { return }
        self.backend = nil
        backend.channel.close(promise: nil)
    }

    // MARK: - Upgrade

    /// The sprite accepted an upgrade (WebSocket) and its 101 has gone out: from here on the two
    /// sockets are glued together as bytes. The codecs leave both pipelines; whatever their
    /// decoders had read past the heads (a first frame sent without waiting for the 101) goes on
    /// to the other side. The hold lasts as long as the upgraded connection.
    private func switchProtocols() {
        guard let context, let backend, let exchange, phase == .forwarding, exchange.switching else { return }
        phase = .upgraded
        let hold = exchange.hold
        exchange.hold = nil
        endExchange()
        self.backend = nil
        let (proxy, executor) = (proxy, executor)
        var activity = InputActivity(fleet: proxy.fleet, sprite: exchange.sprite)
        let clientSide = RawRelay(onInput: { activity.noteSoon() }, onClose: { if let hold { proxy.release(hold, on: executor) } })
        let spriteSide = RawRelay(onInput: {}, onClose: {})
        RawRelay.pair(clientSide, spriteSide)
        let client = context.pipeline.syncOperations
        let sprite = backend.channel.pipeline.syncOperations
        let clientChannel = context.channel
        func abandon(_ error: any Error) {
            proxy.logger.warning("URL request: the upgrade could not be completed", metadata: ["sprite": "\(exchange.sprite)", "error": "\(error)"])
            backend.channel.close(promise: nil)
            clientChannel.close(promise: nil)
        }
        var relaying = false
        do {
            try client.addHandler(clientSide)
            relaying = true  // the client's relay releases the hold when its channel closes
            try sprite.addHandler(spriteSide)
        } catch {
            if !relaying, let hold { proxy.release(hold, on: executor) }
            return abandon(error)
        }
        // In this order: encoders first (bytes from now on go out as they are), then the HTTP
        // handlers, then the decoders, whose buffered bytes must find the relays next in line. A
        // decoder finishes leaving in a later loop turn; the sprite's must be gone before the
        // client's hands on its bytes, which would otherwise be written through it.
        for removal in [
            client.removeHandler(name: URLProxy.Names.encoder), sprite.removeHandler(name: URLProxy.Names.backendEncoder),
            client.removeHandler(name: URLProxy.Names.idle), sprite.removeHandler(backend.handler), client.removeHandler(context: context),
        ] {
            removal.assumeIsolated().whenFailure(abandon)
        }
        sprite.removeHandler(name: URLProxy.Names.backendDecoder).assumeIsolated().whenComplete { result in
            if case .failure(let error) = result { return abandon(error) }
            clientSide.flush()
            client.removeHandler(name: URLProxy.Names.decoder).assumeIsolated().whenComplete { result in
                if case .failure(let error) = result { return abandon(error) }
                spriteSide.flush()
                clientSide.start()
                spriteSide.start()
            }
        }
    }
}
