// One HTTP/1.1 request per TCP connection (`Connection: close`), on swift-nio. Nothing here can hang: connecting
// gives up after 5 s, the whole exchange after 60 s, and a body larger than 32 MiB is refused. Responses read
// while they arrive (checkpoint and restore progress) are in HTTPBodyStream.swift.

import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct HTTPResponse: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var body: [UInt8]
}

struct TransportLimits: Sendable {
    var connectTimeout: TimeAmount = .seconds(5)
    var requestTimeout: TimeAmount = .seconds(60)
    var maxBodyBytes = 32 << 20
    /// A streamed body has no overall deadline (a restore may take minutes, and the Sprites SDKs read these
    /// streams without one), but a server that sends nothing at all for this long is treated as gone.
    var streamIdleTimeout: TimeAmount = .minutes(10)
}

enum HTTPTransport {
    static func send(
        _ method: HTTPMethod, target: String, body: [UInt8]?, endpoint: HobEndpoint, limits: TransportLimits,
        group: any EventLoopGroup
    ) async throws -> HTTPResponse {
        let base = try endpoint.parsed()
        let head = requestHead(method, target: target, body: body, base: base, endpoint: endpoint, accept: "application/json")
        let requestBody = body.map { ByteBuffer(bytes: $0) }
        let promise = group.next().makePromise(of: HTTPResponse.self)
        let limits = limits

        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(limits.connectTimeout)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(
                            HTTPResponseCollector(
                                promise: promise, request: (head, requestBody), url: endpoint.baseURL,
                                maxBodyBytes: limits.maxBodyBytes, timeout: limits.requestTimeout))
                    }
                }
                .connect(host: base.host, port: base.port)
                .get()
        } catch {
            promise.fail(error)
            throw ConnectFailure.describe(error, url: endpoint.baseURL)
        }
        defer { channel.close(promise: nil) }
        do {
            return try await promise.futureResult.get()
        } catch let error as HobClientError {
            throw error
        } catch {
            throw HobClientError(
                .badResponse, "lost the connection to the Hob API at \(endpoint.baseURL): \(error)", cause: error)
        }
    }
}

extension HTTPTransport {
    /// The head of every request: one request per connection, a bearer token, and a JSON body when there is one.
    static func requestHead(
        _ method: HTTPMethod, target: String, body: [UInt8]?, base: ParsedBaseURL, endpoint: HobEndpoint, accept: String
    ) -> HTTPRequestHead {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: base.hostHeader)
        headers.add(name: "Authorization", value: "Bearer \(endpoint.token)")
        headers.add(name: "User-Agent", value: HobClient.userAgent)
        headers.add(name: "Accept", value: accept)
        headers.add(name: "Connection", value: "close")
        if let body {
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: String(body.count))
        } else if method == .POST || method == .PUT {
            headers.add(name: "Content-Length", value: "0")
        }
        return HTTPRequestHead(version: .http1_1, method: method, uri: target, headers: headers)
    }
}

/// Sends the request once the channel is active (unless it is nil: then it only reads a response, as after a
/// refused WebSocket upgrade) and completes `promise` with the whole response.
final class HTTPResponseCollector: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let promise: EventLoopPromise<HTTPResponse>
    private var request: (HTTPRequestHead, ByteBuffer?)?
    private let url: String
    private let maxBodyBytes: Int
    private let timeout: TimeAmount
    private var head: HTTPResponseHead?
    private var body = ByteBuffer()
    private var finished = false
    private var timer: Scheduled<Void>?

    init(
        promise: EventLoopPromise<HTTPResponse>, request: (HTTPRequestHead, ByteBuffer?)?, url: String,
        maxBodyBytes: Int, timeout: TimeAmount
    ) {
        self.promise = promise
        self.request = request
        self.url = url
        self.maxBodyBytes = maxBodyBytes
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let seconds = timeout.nanoseconds / 1_000_000_000
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            self.finish(
                context: context,
                .failure(HobClientError(.timeout, "the Hob API at \(self.url) did not answer within \(seconds) s")))
        }
        if context.channel.isActive { sendRequest(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        if !finished {
            finished = true
            promise.fail(ChannelError.ioOnClosedChannel)
        }
    }

    func channelActive(context: ChannelHandlerContext) {
        sendRequest(context: context)
        context.fireChannelActive()
    }

    private func sendRequest(context: ChannelHandlerContext) {
        guard let (head, body) = request else { return }
        request = nil
        context.writeRequest(head, body: body)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !finished else { return }
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
        case .body(var chunk):
            guard body.readableBytes + chunk.readableBytes <= maxBodyBytes else {
                finish(
                    context: context,
                    .failure(
                        HobClientError(.badResponse, "the response from \(url) is larger than \(maxBodyBytes >> 20) MiB")))
                return
            }
            body.writeBuffer(&chunk)
        case .end:
            guard let head else {
                finish(context: context, .failure(HobClientError(.badResponse, "the response from \(url) has no status line")))
                return
            }
            let bytes = body.readBytes(length: body.readableBytes) ?? []
            finish(context: context, .success(HTTPResponse(status: Int(head.status.code), headers: head.headers, body: bytes)))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(
            context: context,
            .failure(HobClientError(.badResponse, "\(url) closed the connection before the response was complete")))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(context: context, .failure(error))
    }

    private func finish(context: ChannelHandlerContext, _ result: Result<HTTPResponse, any Error>) {
        guard !finished else { return }
        finished = true
        timer?.cancel()
        promise.completeWith(result)
        context.close(promise: nil)
    }
}

/// Turns NIO's connect errors into one sentence naming the URL.
enum ConnectFailure {
    static func describe(_ error: any Error, url: String) -> HobClientError {
        if let error = error as? HobClientError { return error }
        let prefix = "cannot reach the Hob API at \(url)"
        if let error = error as? ChannelError, case .connectTimeout = error {
            return HobClientError(.timeout, "\(prefix): timed out while connecting", cause: error)
        }
        if let error = error as? NIOConnectionError {
            if error.connectionErrors.isEmpty, let dns = error.dnsAError ?? error.dnsAAAAError {
                return HobClientError(.unreachable, "\(prefix): cannot resolve \(error.host) (\(dns))", cause: error)
            }
            let errnos = error.connectionErrors.compactMap { ($0.error as? IOError)?.errnoCode }
            if let first = error.connectionErrors.first?.error, errnos.isEmpty {
                return describe(first, url: url)
            }
            return reason(errno: errnos.contains(ECONNREFUSED) ? ECONNREFUSED : errnos.first ?? 0, prefix, error)
        }
        if let error = error as? IOError {
            return reason(errno: error.errnoCode, prefix, error)
        }
        return HobClientError(.unreachable, "\(prefix): \(error)", cause: error)
    }

    private static func reason(errno code: Int32, _ prefix: String, _ error: any Error) -> HobClientError {
        if code == ECONNREFUSED {
            return HobClientError(
                .unreachable, "\(prefix): connection refused — is `hob serve` running?", cause: error)
        }
        let text = code == 0 ? "\(error)" : String(cString: strerror(code))
        return HobClientError(.unreachable, "\(prefix): \(text)", cause: error)
    }
}
