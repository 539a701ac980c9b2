// The HTTP/1.1 + WebSocket connection handling for the API.
//
// hummingbird-websocket answers every refused WebSocket upgrade with an empty 400. Sprites clients
// need the real reason — 401 for a bad token, 404 for an unknown sprite — with the Sprites error
// body, so a refused upgrade is answered here with the status and body the acceptor's error maps to. Accepted upgrades run the exec bridge through WSCore's WebSocket
// handler (ping/pong, close handshake, fragmentation), the same one Hummingbird uses.
import Foundation
import HTTPTypes
import HobAPI
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket
import Synchronization
@_spi(WSInternal) import WSCore

/// What an accepted WebSocket handler knows about the request that opened it.
struct UpgradedRequest: WebSocketContext {
    let logger: Logger
    /// Path and query as sent, e.g. /v1/sprites/demo/exec?cmd=ls
    let uri: String
    let authorization: String?
}

/// Decides an upgrade: response headers and a handler to accept it, or the error that refuses it.
typealias WebSocketAcceptor = @Sendable (UpgradedRequest) async -> Result<(HTTPFields, WebSocketDataHandler<UpgradedRequest>), any Error>

struct SpritesServerChannel: ServerChildChannel, HTTPChannelHandler {
    enum Negotiated: Sendable {
        case http(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        case refused(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, any Error)
        case webSocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, UpgradedRequest, WebSocketDataHandler<UpgradedRequest>)
    }

    struct Value: ServerChildChannelValue {
        let negotiated: EventLoopFuture<Negotiated>
        let channel: any Channel
    }

    let responder: Responder
    let accept: WebSocketAcceptor
    let maxFrameSize: Int
    let autoPing: Duration

    /// The handler chosen while deciding, handed to the pipeline once the 101 is sent; or why
    /// the upgrade was refused.
    final class Decision: Sendable {
        let value = Mutex<(UpgradedRequest, WebSocketDataHandler<UpgradedRequest>)?>(nil)
        let refusal = Mutex<(any Error)?>(nil)
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let decision = Decision()
            let accept = self.accept
            let upgrader = NIOTypedWebSocketServerUpgrader<Negotiated>(
                maxFrameSize: maxFrameSize,
                shouldUpgrade: { channel, head in
                    let request = UpgradedRequest(logger: logger, uri: head.uri, authorization: head.headers["authorization"].first)
                    let promise = channel.eventLoop.makePromise(of: HTTPHeaders?.self)
                    promise.completeWithTask {
                        switch await accept(request) {
                        case .success(let (fields, handler)):
                            decision.value.withLock { $0 = (request, handler) }
                            return HTTPHeaders(fields.map { ($0.name.rawName, $0.value) })
                        case .failure(let error):
                            decision.refusal.withLock { $0 = error }
                            return nil
                        }
                    }
                    return promise.futureResult
                },
                upgradePipelineHandler: { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        let frames = try NIOAsyncChannel<WebSocketFrame, WebSocketFrame>(
                            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                        guard let (request, handler) = decision.value.withLock({ $0 }) else { throw ChannelError.inappropriateOperationForState }
                        return Negotiated.webSocket(frames, request, handler)
                    }
                })
            var configuration = NIOUpgradableHTTPServerPipelineConfiguration<Negotiated>(
                upgradeConfiguration: NIOTypedHTTPServerUpgradeConfiguration(
                    upgraders: [upgrader],
                    notUpgradingCompletionHandler: { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                            try channel.pipeline.syncOperations.addHandler(HTTPConnectionStateHandler(idleTimeout: .seconds(60), logger: logger))
                            let http = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                                wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                            // NIO does not hand a declined upgrade request to the HTTP side, so it is answered here.
                            if let refusal = decision.refusal.withLock({ $0 }) { return Negotiated.refused(http, refusal) }
                            return Negotiated.http(http)
                        }
                    }))
            configuration.enablePipelining = false
            configuration.enableErrorHandling = false
            configuration.enableResponseHeaderValidation = false
            let negotiated = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: configuration)
            return Value(negotiated: negotiated, channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.negotiated.get() {
            case .http(let http):
                await handleHTTP(asyncChannel: http, logger: logger)
            case .refused(let http, let error):
                try await refuse(http, error)
            case .webSocket(let frames, let request, let handler):
                _ = try await WebSocketHandler.handle(
                    type: .server,
                    configuration: .init(extensions: [], autoPing: .enabled(timePeriod: autoPing), validateUTF8: true, maxFrameSize: maxFrameSize),
                    asyncChannel: frames, context: request, handler: handler)
            }
        } catch let error as ChannelError where error == .inputClosed {
            logger.trace("connection closed during negotiation")
        } catch {
            logger.debug("connection ended", metadata: ["error": "\(error)"])
        }
    }
}

extension SpritesServerChannel {
    /// Answers a refused upgrade with its error's status and the Sprites error body, then closes.
    func refuse(_ http: NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, _ error: any Error) async throws {
        let (status, body) = APIError.map(error)
        let data = (try? jsonEncoder.encode(body)) ?? Data()
        let head = HTTPResponse(
            status: status,
            headerFields: [
                .contentType: "application/json", .contentLength: String(data.count), .connection: "close",
                .spriteVersion: spriteAPIVersion,
            ])
        try await http.executeThenClose { _, outbound in
            try await outbound.write(contentsOf: [.head(head), .body(ByteBuffer(bytes: data)), .end(nil)])
        }
    }
}

extension HTTPServerBuilder {
    static func sprites(accept: @escaping WebSocketAcceptor, maxFrameSize: Int = 1 << 20) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            SpritesServerChannel(responder: responder, accept: accept, maxFrameSize: maxFrameSize, autoPing: .seconds(20))
        }
    }
}
