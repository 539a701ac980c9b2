// The HTTP/1.1 + WebSocket connection handling for the API (and, without WebSockets, for the
// in-sprite API).
//
// Every request of a kept-alive connection is read here, in order, and each may ask for a
// WebSocket: clients such as Node's fetch (undici) send their upgrade after REST calls on the
// same connection, which NIO's upgrade handler (first request only) would answer as a plain GET.
// A refused upgrade is answered with the status and Sprites error body its error maps to (401
// for a bad token, 404 for an unknown sprite). Accepted upgrades run through WSCore's WebSocket
// handler (ping/pong, close handshake, fragmentation), the one Hummingbird uses.
//
// What a client cannot do (HTTPEdge/): hold a connection with half a request or a stalled body
// (ExchangeClock's deadlines, 408), get anything but a 400/431/501 and a close for bytes that are
// not HTTP, hold SIGTERM beyond `shutdownGrace`, or send WebSocket frames RFC 6455 forbids
// (FrameGuard: 1002, 1007, 1009).
import Foundation
import HTTPTypes
import HobAPI
import HobCore
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOWebSocket
import Synchronization
@_spi(WSInternal) import WSCore

/// What an accepted WebSocket handler knows about the request that opened it.
struct UpgradedRequest: WebSocketContext {
    let logger: Logger
    /// Path and query as sent, e.g. /v1/sprites/demo/exec?cmd=ls
    let uri: String
    let authorization: String?
    /// Set by an acceptor whose handler reads binary messages frame by frame (WebSocketInboundStream's
    /// iterator rather than nextMessage), so that the edge lets them through whatever their size.
    let binaryMessages = BinaryMessagePolicy()
}

/// Whether the edge limits the size of an upgraded connection's binary messages (FrameRules);
/// chosen by the acceptor before the switch.
final class BinaryMessagePolicy: Sendable {
    private let streamed = Atomic<Bool>(false)
    /// The handler streams binary messages: only text messages keep the message limit.
    func stream() { streamed.store(true, ordering: .relaxed) }
    var isStreamed: Bool { streamed.load(ordering: .relaxed) }
}

/// Decides an upgrade: response headers and a handler to accept it, or the error that refuses it.
typealias WebSocketAcceptor = @Sendable (UpgradedRequest) async -> Result<(HTTPFields, WebSocketDataHandler<UpgradedRequest>), any Error>

struct SpritesServerChannel: ServerChildChannel, HTTPChannelHandler {
    struct Value: ServerChildChannelValue {
        let http: NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>
        let connection: NIOLoopBound<EdgeConnection>
        let channel: any Channel
    }

    let responder: Responder
    /// Nil: no WebSockets here (upgrade requests are plain requests).
    let accept: WebSocketAcceptor?
    let limits: HTTPEdgeLimits
    let maxFrameSize: Int
    let autoPing: Duration

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let connection = EdgeConnection(limits: limits)
            try channel.pipeline.syncOperations.addHandler(ShutdownGrace(grace: limits.shutdownGrace))
            try EdgePipeline.addHTTP(channel, connection: connection)
            let http = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
            return Value(http: http, connection: NIOLoopBound(connection, eventLoop: channel.eventLoop), channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            try await value.http.executeThenClose { inbound, outbound in
                let parts = RequestParts(inbound.makeAsyncIterator())
                // A responder may wait on something other than the client (a silent command's
                // output, a log followed for an hour): once the channel is closed (by the client,
                // or by ShutdownGrace at SIGTERM) it is cancelled, so no connection outlives its
                // socket and the server's shutdown, which waits for every connection, is not held.
                // (A task rather than a group child awaiting closeFuture: that wait cannot be cancelled, and
                // a connection whose client only half-closed ends without its channel closing.)
                let requests = Task { try await serve(parts, outbound, value, logger: logger) }
                value.channel.closeFuture.whenComplete { _ in requests.cancel() }
                try await withTaskCancellationHandler { try await requests.value } onCancel: { requests.cancel() }
            }
        } catch {
            logger.trace("connection ended", metadata: ["error": "\(error)"])
        }
    }

    /// The requests of one connection, until it closes or becomes a WebSocket.
    func serve(
        _ parts: RequestParts, _ outbound: NIOAsyncChannelOutboundWriter<HTTPResponsePart>, _ value: Value, logger: Logger
    ) async throws {
        while true {
            let head: HTTPRequest
            do {
                guard let part = try await parts.next() else { return }
                guard case .head(let first) = part else { throw HTTPParserError.invalidInternalState }
                head = first
            } catch {
                logger.debug("malformed request", metadata: ["error": "\(error)"])
                return await answerAndLinger(.malformed(error), outbound, value)
            }
            if let accept, WebSocketHandshake.isUpgrade(head) {
                return try await upgrade(head, parts, outbound, value, accept: accept, logger: logger)
            }
            if let refusal = HeadCheck.refusal(head) { return await answerAndLinger(refusal, outbound, value) }
            parts.startBody(watchingEnd: true)
            // Without a body, its end is read now: the connection is watched from the start.
            if !HeadCheck.hasBody(head) {
                do { try await parts.drainBody() } catch { return await answerAndLinger(.malformed(error), outbound, value) }
            }
            let request = Request(head: head, body: RequestBody(asyncSequence: RequestBodyParts(parts: parts)))
            let channel = value.channel
            let responding = Task { try await responder(request, ResponseWriter(outbound: outbound), channel) }
            // A client that leaves while the answer has nothing to write (a silent command's
            // output, a followed log) is noticed by the read past its request, not by a write.
            parts.onInputEnd { responding.cancel() }
            try await withTaskCancellationHandler { try await responding.value } onCancel: { responding.cancel() }
            parts.answered()
            // The responder took the body and left it unfinished (an HTTP exec's stdin feed whose
            // command exited, which may still be reading): the loop does not read it too; the
            // connection ends after the answer instead.
            if parts.isBodyLeftByResponder { return await linger(value) }
            do {
                try await parts.drainBody()
            } catch {
                // A body that turned out malformed after the answer: nothing more can be said.
                return await linger(value)
            }
            // The client's last request: end the output after the answer's last byte (closing at
            // once could drop what is still queued), then wait for the client to close.
            if WebSocketHandshake.tokens(head.headerFields[values: .connection]).contains("close") { return await linger(value) }
        }
    }

    func upgrade(
        _ head: HTTPRequest, _ parts: RequestParts, _ outbound: NIOAsyncChannelOutboundWriter<HTTPResponsePart>, _ value: Value,
        accept: WebSocketAcceptor, logger: Logger
    ) async throws {
        parts.startBody(watchingEnd: false)
        do { try await parts.drainBody() } catch { return await answerAndLinger(.malformed(error), outbound, value) }
        let acceptValue: String
        switch WebSocketHandshake.check(head) {
        case .refuse(let answer): return await answerAndLinger(answer, outbound, value)
        case .accept(let value): acceptValue = value
        }
        let id = RequestID.make()
        // What is logged for this connection names its request and its sprite (LogContext).
        try await LogContext.serving(request: id, sprite: LogContext.sprite(inPath: head.path ?? "")) {
            let credential = BrowserCredential.authorization(head.headerFields)
            let request = UpgradedRequest(logger: logger, uri: head.path ?? "/", authorization: credential.authorization)
            let handler: WebSocketDataHandler<UpgradedRequest>
            var fields: HTTPFields = [
                WebSocketHandshake.upgrade: "websocket", .connection: "Upgrade", WebSocketHandshake.accept: acceptValue,
                .flyRequestID: id,
            ]
            if let subprotocol = credential.subprotocol { fields[BrowserCredential.offers] = subprotocol }
            switch await accept(request) {
            case .failure(let error): return await answerAndLinger(.refusal(error), outbound, value)
            case .success(let (extra, accepted)):
                fields.append(contentsOf: extra)
                handler = accepted
            }
            let answer = HTTPResponse(status: .switchingProtocols, headerFields: fields)
            let (channel, frameSize, streamsBinary) = (value.channel, maxFrameSize, request.binaryMessages.isStreamed)
            let frames = try await channel.eventLoop.submit {
                try EdgePipeline.switchToWebSocket(
                    channel, answer: answer, maxFrameSize: frameSize, maxMessageSize: frameSize, streamsBinary: streamsBinary)
            }.get()
            _ = try await WebSocketHandler.handle(
                type: .server,
                configuration: .init(extensions: [], autoPing: .enabled(timePeriod: autoPing), validateUTF8: true, maxFrameSize: maxFrameSize),
                asyncChannel: frames, context: request, handler: handler)
        }
    }

    /// A final answer from the edge, then the linger (EdgeConnection.linger).
    func answerAndLinger(_ answer: EdgeAnswer, _ outbound: NIOAsyncChannelOutboundWriter<HTTPResponsePart>, _ value: Value) async {
        try? await outbound.write(contentsOf: [.head(answer.head), .body(answer.body), .end(nil)])
        await linger(value)
    }

    /// Lingers (after what was written so far) and waits until the connection is closed.
    func linger(_ value: Value) async {
        let (connection, channel) = (value.connection, value.channel)
        channel.eventLoop.execute { connection.value.linger(channel) }
        try? await channel.closeFuture.get()
    }
}

/// The parts of a connection's requests, shared by the request loop and each request's body.
/// One reader at a time: the loop reads a head, the responder its body (the loop waits; a body the
/// responder took and left unfinished is never read by the loop, which closes the connection), and once
/// the body has been read to its end, a read-ahead task reads what follows while the answer is
/// under way: the next request's head (a pipelining client), or the end of the connection's input.
/// That end, or a failed read, means the client left: `onInputEnd`'s action cancels the answer,
/// as Go's net/http and nginx do, so a command whose output is silent, or a followed log, does not
/// run on for a client that is gone. (A client that half-closes after its request, which no SDK
/// or browser does, is taken as gone too.) A pending read is never cancelled: cancelling NIO's
/// inbound iterator would end the connection's input for good.
final class RequestParts: @unchecked Sendable {
    private var iterator: NIOAsyncChannelInboundStream<HTTPRequestPart>.AsyncIterator
    /// The current body has been read to its end (or there is none under way). Read by the loop
    /// while the responder may be reading.
    private let bodyDone = Atomic<Bool>(true)
    /// The responder started reading the current body (through `RequestBodyParts`).
    private let bodyTaken = Atomic<Bool>(false)
    /// Whether the current request's connection is watched once its body ends.
    private var watchesEnd = false
    private struct Ahead {
        /// The read past the current request, taken by the next `next()`.
        var task: Task<HTTPRequestPart?, any Error>?
        var onInputEnd: (@Sendable () -> Void)?
        var inputEnded = false
    }
    private let ahead = Mutex(Ahead())

    init(_ iterator: NIOAsyncChannelInboundStream<HTTPRequestPart>.AsyncIterator) { self.iterator = iterator }

    /// The next part: the one read ahead, if a read ahead was started.
    func next() async throws -> HTTPRequestPart? {
        let pending = ahead.withLock { state in
            defer { state.task = nil }
            return state.task
        }
        if let pending { return try await pending.value }
        return try await iterator.next()
    }

    /// A head was read: its body parts follow. `watchingEnd`: read ahead once the body ends (not
    /// for an upgrade, whose connection stops being HTTP).
    func startBody(watchingEnd: Bool) {
        bodyDone.store(false, ordering: .sequentiallyConsistent)
        bodyTaken.store(false, ordering: .sequentiallyConsistent)
        watchesEnd = watchingEnd
    }

    /// The responder started reading the body and has not read it to its end: it may be reading
    /// still, so nobody else may.
    var isBodyLeftByResponder: Bool { bodyTaken.load(ordering: .sequentiallyConsistent) && !bodyDone.load(ordering: .sequentiallyConsistent) }

    /// The responder's read of the body: the next piece, nil at its end.
    func takeBody() async throws -> ByteBuffer? {
        bodyTaken.store(true, ordering: .sequentiallyConsistent)
        return try await nextBody()
    }

    /// The next piece of the current body; nil at its end.
    func nextBody() async throws -> ByteBuffer? {
        guard !bodyDone.load(ordering: .sequentiallyConsistent) else { return nil }
        switch try await iterator.next() {
        case .body(let buffer):
            return buffer
        case .end:
            bodyDone.store(true, ordering: .sequentiallyConsistent)
            readAhead()
            return nil
        case nil:
            bodyDone.store(true, ordering: .sequentiallyConsistent)
            inputEnded()
            return nil
        case .head:
            bodyDone.store(true, ordering: .sequentiallyConsistent)
            throw HTTPParserError.invalidInternalState
        }
    }

    /// Reads what the responder left of the body.
    func drainBody() async throws {
        while try await nextBody() != nil {}
    }

    /// Runs `action` when the connection's input ends (or fails) before `answered()`; at once if
    /// it already has.
    func onInputEnd(_ action: @escaping @Sendable () -> Void) {
        let ended = ahead.withLock { state in
            if !state.inputEnded { state.onInputEnd = action }
            return state.inputEnded
        }
        if ended { action() }
    }

    /// The answer is complete: the end of the input no longer cancels anything.
    func answered() { ahead.withLock { $0.onInputEnd = nil } }

    private func readAhead() {
        guard watchesEnd else { return }
        watchesEnd = false
        let task = Task { () async throws -> HTTPRequestPart? in
            do {
                let part = try await self.iterator.next()
                if part == nil { self.inputEnded() }
                return part
            } catch {
                self.inputEnded()
                throw error
            }
        }
        ahead.withLock { $0.task = task }
    }

    private func inputEnded() {
        let action = ahead.withLock { state in
            state.inputEnded = true
            defer { state.onInputEnd = nil }
            return state.onInputEnd
        }
        action?()
    }
}

/// One request's body, read from the connection's parts.
struct RequestBodyParts: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let parts: RequestParts

    struct AsyncIterator: AsyncIteratorProtocol {
        let parts: RequestParts
        mutating func next() async throws -> ByteBuffer? { try await parts.takeBody() }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(parts: parts) }
}

extension HTTPServerBuilder {
    /// The API's server; `accept` nil for a listener without WebSockets.
    static func sprites(accept: WebSocketAcceptor?, limits: HTTPEdgeLimits, maxFrameSize: Int = 1 << 20) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            SpritesServerChannel(responder: responder, accept: accept, limits: limits, maxFrameSize: maxFrameSize, autoPing: .seconds(20))
        }
    }
}
