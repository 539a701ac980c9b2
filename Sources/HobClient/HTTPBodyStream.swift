// Responses read while they arrive. Checkpoint and restore answer with NDJSON progress (SPRITES-API.md §7.2), a line
// at a time over seconds or minutes, and the caller should see each line when the server sends it, not at the end.
// Same connection discipline as `HTTPTransport.send` (one request per connection, the connect timeout, the response
// head within the request timeout); the body then has no overall deadline, only `streamIdleTimeout` of silence.
// Socket reads pause while the consumer is behind (back-pressure through NIOThrowingAsyncSequenceProducer), and
// the connection closes as soon as the consumer drops the body.

import NIOCore
import NIOHTTP1
import NIOPosix

/// A response whose head has arrived and whose body is still coming.
struct StreamingHTTPResponse: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var body: HTTPBodyStream

    /// Reads what is left of the body, keeping at most `limit` bytes. Used for error bodies, which are small; a
    /// connection that breaks off yields what had arrived, since the status already says the request failed.
    func collectBody(upTo limit: Int) async -> [UInt8] {
        var bytes: [UInt8] = []
        do {
            for try await chunk in body {
                bytes += chunk.prefix(limit - bytes.count)
                if bytes.count >= limit { break }
            }
        } catch {
            // Keep the partial body.
        }
        return bytes
    }
}

/// The body chunks of a `StreamingHTTPResponse`, in order. Single consumer. It throws `HobClientError` when the
/// connection breaks off or stays silent for the idle limit.
struct HTTPBodyStream: AsyncSequence, Sendable {
    typealias Element = [UInt8]
    typealias Producer = NIOThrowingAsyncSequenceProducer<
        [UInt8], any Error, NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark, ReadDemand<HTTPBodyStreamHandler>
    >

    let producer: Producer

    struct AsyncIterator: AsyncIteratorProtocol {
        var inner: Producer.AsyncIterator

        mutating func next() async throws -> [UInt8]? {
            try await inner.next()
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(inner: producer.makeAsyncIterator())
    }
}

extension HTTPTransport {
    /// Sends one request and returns once the response head has arrived (any status); the body follows in
    /// `StreamingHTTPResponse.body`.
    static func open(
        _ method: HTTPMethod, target: String, body: [UInt8]?, endpoint: HobEndpoint, limits: TransportLimits,
        group: any EventLoopGroup
    ) async throws -> StreamingHTTPResponse {
        let base = try endpoint.parsed()
        let head = requestHead(
            method, target: target, body: body, base: base, endpoint: endpoint,
            accept: "application/x-ndjson, application/json")
        let requestBody = body.map { ByteBuffer(bytes: $0) }
        let url = endpoint.baseURL

        let opened: (head: EventLoopFuture<HTTPResponseHead>, body: HTTPBodyStream)
        do {
            opened = try await ClientBootstrap(group: group)
                .connectTimeout(limits.connectTimeout)
                .connect(host: base.host, port: base.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        let handler = HTTPBodyStreamHandler(
                            headPromise: channel.eventLoop.makePromise(), request: (head, requestBody), url: url,
                            headTimeout: limits.requestTimeout, idleTimeout: limits.streamIdleTimeout)
                        let sequence = HTTPBodyStream.Producer.makeSequence(
                            elementType: [UInt8].self,
                            backPressureStrategy: .init(lowWatermark: 4, highWatermark: 32),
                            finishOnDeinit: false,
                            delegate: ReadDemand(
                                handler: NIOLoopBound(handler, eventLoop: channel.eventLoop),
                                eventLoop: channel.eventLoop))
                        handler.source = sequence.source
                        do {
                            try channel.pipeline.syncOperations.addHandler(handler)
                        } catch {
                            handler.abandon(error)
                            throw error
                        }
                        return (handler.headFuture, HTTPBodyStream(producer: sequence.sequence))
                    }
                }
        } catch {
            throw ConnectFailure.describe(error, url: url)
        }

        let responseHead: HTTPResponseHead
        do {
            responseHead = try await opened.head.get()
        } catch let error as HobClientError {
            throw error
        } catch {
            throw HobClientError(.badResponse, "lost the connection to the Hob API at \(url): \(error)", cause: error)
        }
        return StreamingHTTPResponse(
            status: Int(responseHead.status.code), headers: responseHead.headers, body: opened.body)
    }
}

/// The last handler of a streamed request's pipeline: sends the request, completes the head promise, and yields
/// body chunks to the producer, reading from the socket only while the consumer keeps up.
final class HTTPBodyStreamHandler: ChannelDuplexHandler, RemovableChannelHandler, ReadDemandHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    var source: HTTPBodyStream.Producer.Source?
    private let headPromise: EventLoopPromise<HTTPResponseHead>
    private var request: (HTTPRequestHead, ByteBuffer?)?
    private let url: String
    private let headTimeout: TimeAmount
    private let idleTimeout: TimeAmount
    private var context: ChannelHandlerContext?
    private var headReceived = false
    private var finished = false
    private var pending: [[UInt8]] = []
    private var lastInbound = NIODeadline.now()
    private var timer: Scheduled<Void>?

    private var reading = ReadGate()

    init(
        headPromise: EventLoopPromise<HTTPResponseHead>, request: (HTTPRequestHead, ByteBuffer?), url: String,
        headTimeout: TimeAmount, idleTimeout: TimeAmount
    ) {
        self.headPromise = headPromise
        self.request = request
        self.url = url
        self.headTimeout = headTimeout
        self.idleTimeout = idleTimeout
    }

    var headFuture: EventLoopFuture<HTTPResponseHead> { headPromise.futureResult }

    // MARK: Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let seconds = headTimeout.nanoseconds / 1_000_000_000
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: headTimeout) {
            self.fail(HobClientError(.timeout, "the Hob API at \(self.url) did not answer within \(seconds) s"))
        }
        if context.channel.isActive { sendRequest(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        fail(ChannelError.ioOnClosedChannel)
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        sendRequest(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(
            HobClientError(
                .badResponse,
                headReceived
                    ? "\(url) closed the connection before the end of the response"
                    : "\(url) closed the connection without answering"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(error)
    }

    private func sendRequest(context: ChannelHandlerContext) {
        guard let (head, body) = request else { return }
        request = nil
        context.writeRequest(head, body: body)
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !finished else { return }
        lastInbound = .now()
        switch unwrapInboundIn(data) {
        case .head(let head):
            headReceived = true
            timer?.cancel()
            scheduleIdleCheck(in: idleTimeout)
            headPromise.succeed(head)
        case .body(var chunk):
            if let bytes = chunk.readBytes(length: chunk.readableBytes), !bytes.isEmpty { pending.append(bytes) }
        case .end:
            finished = true
            timer?.cancel()
            deliver()
            source?.finish()
            source = nil
            context.close(promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        deliver()
        context.fireChannelReadComplete()
    }

    /// For a handler that never made it into a pipeline: completes what it owns so nothing is left waiting.
    func abandon(_ error: any Error) {
        fail(error)
    }

    /// Ends the exchange with `error`: the caller awaiting the head gets it, or else the body's consumer does,
    /// after the chunks that arrived before it.
    private func fail(_ error: any Error) {
        guard !finished else { return }
        finished = true
        timer?.cancel()
        if headReceived {
            deliver()
            source?.finish(error)
        } else {
            headPromise.fail(error)
            source?.finish()
        }
        source = nil
        context?.close(promise: nil)
    }

    // MARK: Flow control

    func read(context: ChannelHandlerContext) {
        if reading.allowsRead() { context.read() }
    }

    func produceMore() {
        if reading.resume() { context?.read() }
    }

    /// The consumer dropped the body: nobody is listening, so stop reading and close.
    func consumerGone() {
        source = nil
        reading.stop()
        finished = true
        timer?.cancel()
        context?.close(promise: nil)
    }

    private func deliver() {
        guard !pending.isEmpty else { return }
        defer { pending.removeAll(keepingCapacity: true) }
        guard let source else { return }
        if case .stopProducing = source.yield(contentsOf: pending) { reading.pause() }
    }

    // MARK: Idle limit

    /// Fails the stream once the server has sent nothing for `idleTimeout`. Time in which reads were paused is the
    /// consumer's, not the server's, so the clock restarts whenever the check finds reading paused.
    private func scheduleIdleCheck(in delay: TimeAmount) {
        guard let context else { return }
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: delay) {
            guard !self.finished else { return }
            if !self.reading.isFlowing {
                self.lastInbound = .now()
                return self.scheduleIdleCheck(in: self.idleTimeout)
            }
            let silent = NIODeadline.now() - self.lastInbound
            guard silent >= self.idleTimeout else { return self.scheduleIdleCheck(in: self.idleTimeout - silent) }
            let seconds = self.idleTimeout.nanoseconds / 1_000_000_000
            self.fail(HobClientError(.timeout, "the Hob API at \(self.url) sent nothing for \(seconds) s"))
        }
    }
}
