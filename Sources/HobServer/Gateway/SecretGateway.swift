// The secrets gateway (docs/ACCESS.md, "Secrets a sprite never sees"): inside every sprite,
// `http://gateway.hob/<secret>/<path>` reaches this server (hob-init puts `gateway.hob` in
// /etc/hosts as the bridge's address; nftables sends port 80 there to `--gateway-port` and lets
// sprites reach nothing else on the host). It forwards the request to the secret's host, HTTPS by
// default, with the secret's headers set, and relays the answer with every value of the secret
// masked (Redactor). The sprite never holds the values: not in its environment, its files, its
// processes' memory, or the answers.
//
// Who is asking is the source address: the bridge drops frames whose address is not the sending
// sprite's own (HostNetwork's prerouting rules), so it cannot be forged. A secret the sprite may not
// use looks like one that does not exist (404); a path outside the secret's list is 403. One
// request per connection (`Connection: close`): request body first, then the answer, streamed in
// both directions (server-sent events flow as they come).
import Foundation
import HobCore
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

final class SecretGateway: Sendable {
    let fleet: Fleet
    let vault: SecretVault
    let access: AccessCheck
    let subnet: IPv4Subnet
    let logger: Logger
    let tls: NIOSSLContext
    /// Connections open per sprite; past `maxPerSprite` a sprite gets 429, past `maxTotal` any.
    private let open = Mutex<[String: Int]>([:])

    static let hostName = "gateway.hob"
    static let maxPerSprite = 64
    static let maxTotal = 1024
    static let connectTimeout: TimeAmount = .seconds(10)
    /// A connection on either side with nothing read or written for this long is closed: a sprite
    /// that opens connections and sends nothing, or an upstream that stops answering, cannot hold
    /// a slot for ever. Long enough for a slow model's first token.
    static let idleTimeout: TimeAmount = .minutes(5)

    init(fleet: Fleet, vault: SecretVault, access: AccessCheck, subnet: IPv4Subnet, logger: Logger) throws {
        self.fleet = fleet
        self.vault = vault
        self.access = access
        self.subnet = subnet
        self.logger = logger
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .fullVerification
        tls = try NIOSSLContext(configuration: configuration)
    }

    typealias SpriteSide = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>
    typealias UpstreamSide = NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>

    /// Listens on the bridge's address until `stop`; fails when the port is taken.
    func start(port: Int) async throws -> Listener {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: subnet.gateway, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([IdleStateHandler(allTimeout: Self.idleTimeout), CloseWhenIdle()])
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    return try SpriteSide(wrappingChannelSynchronously: channel)
                }
            }
        let task = Task<Void, Never> {
            await withDiscardingTaskGroup { group in
                do {
                    try await server.executeThenClose { connections in
                        for try await connection in connections {
                            group.addTask { await self.serve(connection) }
                        }
                    }
                } catch {
                    self.logger.error("the secrets gateway stopped accepting: \(error)")
                }
            }
        }
        return Listener(channel: server.channel, task: task)
    }

    struct Listener: Sendable {
        let channel: any Channel
        let task: Task<Void, Never>

        func stop() async {
            try? await channel.close()
            await task.value
        }
    }

    /// What to do with a request.
    enum Decision {
        case answer(HTTPResponseStatus, String)
        case forward(Secret, sprite: String, path: String)
    }

    func serve(_ connection: SpriteSide) async {
        let remote = connection.channel.remoteAddress?.ipAddress ?? ""
        guard let sprite = await fleet.sprite(atAddress: remote) else {
            try? await connection.executeThenClose { _, outbound in
                try await Self.answer(outbound, .forbidden, "the secrets gateway serves sprites only\n")
            }
            return
        }
        let admitted = open.withLock { counts in
            guard counts[sprite.name, default: 0] < Self.maxPerSprite, counts.values.reduce(0, +) < Self.maxTotal else { return false }
            counts[sprite.name, default: 0] += 1
            return true
        }
        defer {
            if admitted { open.withLock { $0[sprite.name, default: 1] -= 1 } }
        }
        try? await connection.executeThenClose { inbound, outbound in
            guard admitted else {
                return try await Self.answer(outbound, .tooManyRequests, "more than \(Self.maxPerSprite) gateway requests at once\n")
            }
            var parts = inbound.makeAsyncIterator()
            guard case .head(let head)? = try await parts.next() else { return }
            switch await decide(head, sprite: sprite) {
            case .answer(let status, let message):
                await audit(head, sprite: sprite.name, status: Int(status.code), detail: message)
                try await Self.answer(outbound, status, message + "\n")
            case .forward(let secret, sprite: let name, path: let path):
                let status = await forward(head, path: path, secret: secret, request: &parts, to: outbound)
                await audit(head, sprite: name, status: status, detail: nil)
            }
        }
    }

    func decide(_ head: HTTPRequestHead, sprite: SpriteRecord) async -> Decision {
        guard head.uri.hasPrefix("/") else { return .answer(.badRequest, "the gateway takes /<secret>/<path>") }
        let afterSlash = head.uri.dropFirst()
        let nameEnd = afterSlash.firstIndex { $0 == "/" || $0 == "?" } ?? afterSlash.endIndex
        let name = String(afterSlash[..<nameEnd])
        var rest = String(afterSlash[nameEnd...])
        if !rest.hasPrefix("/") { rest = "/" + rest }
        guard !name.isEmpty else { return .answer(.notFound, "use http://\(Self.hostName)/<secret>/<path>") }
        let missing = Decision.answer(.notFound, "no secret \(name) for sprite \(sprite.name)")
        guard let secret = (try? await vault.secret(named: name)) ?? nil else { return missing }
        guard secret.access.admits(sprite: sprite.name, labels: sprite.labels) else { return missing }
        guard secret.access.allows(path: rest) else {
            return .answer(.forbidden, "secret \(name) may not be used for \(rest.split(separator: "?").first.map(String.init) ?? rest)")
        }
        return .forward(secret, sprite: sprite.name, path: rest)
    }

    /// Relays one exchange; the status the sprite was answered with.
    func forward(
        _ head: HTTPRequestHead, path: String, secret: Secret, request parts: inout NIOAsyncChannelInboundStream<HTTPServerRequestPart>.AsyncIterator,
        to outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>
    ) async -> Int {
        let https = secret.scheme != "http"
        let port = secret.port ?? (https ? 443 : 80)
        let upstream: UpstreamSide
        do {
            upstream = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(Self.connectTimeout)
                .connect(host: secret.host, port: port) { [tls] channel in
                    channel.eventLoop.makeCompletedFuture {
                        if https {
                            try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: secret.host))
                        }
                        try channel.pipeline.syncOperations.addHandlers([IdleStateHandler(allTimeout: Self.idleTimeout), CloseWhenIdle()])
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        return try UpstreamSide(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            logger.warning("gateway: cannot reach \(secret.host):\(port)", metadata: ["secret": "\(secret.name)", "error": "\(error)"])
            try? await Self.answer(outbound, .badGateway, "cannot reach \(secret.host):\(port) for secret \(secret.name)\n")
            return 502
        }
        var redactor = Redactor(values: secret.headers.map(\.value))
        var answered: Int?
        do {
            try await upstream.executeThenClose { upstreamIn, upstreamOut in
                try await upstreamOut.write(.head(Self.upstreamHead(head, path: path, secret: secret, port: port)))
                requestLoop: while let part = try await parts.next() {
                    switch part {
                    case .head: throw HobError(.invalidArgument, "a second request head")
                    case .body(let buffer): try await upstreamOut.write(.body(.byteBuffer(buffer)))
                    case .end: try await upstreamOut.write(.end(nil)); break requestLoop
                    }
                }
                for try await part in upstreamIn {
                    switch part {
                    case .head(let response):
                        // Compressed bytes would carry a value past the redactor; it was asked for identity.
                        let encoding = response.headers["content-encoding"].first?.trimmingCharacters(in: .whitespaces).lowercased() ?? "identity"
                        guard encoding == "identity" || encoding.isEmpty else {
                            throw HobError(.unsupported, "\(secret.host) answered with Content-Encoding \(encoding) although asked for identity")
                        }
                        answered = Int(response.status.code)
                        try await outbound.write(.head(Self.spriteHead(response, redactor: redactor)))
                    case .body(let buffer):
                        let safe = redactor.feed(Array(buffer.readableBytesView))
                        if !safe.isEmpty { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: safe)))) }
                    case .end:
                        let rest = redactor.finish()
                        if !rest.isEmpty { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: rest)))) }
                        try await outbound.write(.end(nil))
                        return
                    }
                }
            }
        } catch {
            logger.warning("gateway: exchange with \(secret.host) failed", metadata: ["secret": "\(secret.name)", "error": "\(error)"])
            if answered == nil {
                try? await Self.answer(outbound, .badGateway, "the exchange with \(secret.host) for secret \(secret.name) failed\n")
                return 502
            }
        }
        return answered ?? 502
    }

    /// Hop-by-hop headers (RFC 9110 §7.6.1), never passed on.
    static let hopByHop: Set<String> = ["connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer", "upgrade"]
    /// Request headers a sprite may not send upstream: a range of an echoing endpoint's answer could
    /// return a value in pieces shorter than anything the redactor looks for.
    static let refusedRequestHeaders: Set<String> = ["range", "if-range", "accept-encoding", "host", "expect"]

    static func upstreamHead(_ head: HTTPRequestHead, path: String, secret: Secret, port: Int) -> HTTPRequestHead {
        let injected = Set(secret.headers.map { $0.name.lowercased() })
        var headers = HTTPHeaders()
        for (name, value) in head.headers {
            let lower = name.lowercased()
            if hopByHop.contains(lower) || injected.contains(lower) || refusedRequestHeaders.contains(lower) { continue }
            headers.add(name: name, value: value)
        }
        let defaultPort = (secret.scheme == "http" ? 80 : 443) == port
        headers.replaceOrAdd(name: "Host", value: defaultPort ? secret.host : "\(secret.host):\(port)")
        // Compressed answers could carry a value past the redactor.
        headers.replaceOrAdd(name: "Accept-Encoding", value: "identity")
        headers.replaceOrAdd(name: "Connection", value: "close")
        for header in secret.headers { headers.add(name: header.name, value: header.value) }
        return HTTPRequestHead(version: .http1_1, method: head.method, uri: path, headers: headers)
    }

    static func spriteHead(_ response: HTTPResponseHead, redactor: Redactor) -> HTTPResponseHead {
        var headers = HTTPHeaders()
        for (name, value) in response.headers where !hopByHop.contains(name.lowercased()) {
            headers.add(name: name, value: redactor.redact(value))
        }
        headers.replaceOrAdd(name: "Connection", value: "close")
        return HTTPResponseHead(version: .http1_1, status: response.status, headers: headers)
    }

    static func answer(_ outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>, _ status: HTTPResponseStatus, _ text: String) async throws {
        let body = ByteBuffer(string: text)
        let headers: HTTPHeaders = ["Content-Type": "text/plain; charset=utf-8", "Content-Length": "\(body.readableBytes)", "Connection": "close"]
        try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers)))
        try await outbound.write(.body(.byteBuffer(body)))
        try await outbound.write(.end(nil))
    }

    /// Every use of the gateway goes to the audit log, under the sprite's name (its query left out).
    func audit(_ head: HTTPRequestHead, sprite: String, status: Int, detail: String?) async {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        await access.record(caller: "sprite:\(sprite)", action: "GATEWAY \(head.method) \(path)", sprite: sprite, status: status, detail: detail)
    }
}

/// Closes a connection on IdleStateHandler's event (it only reports idleness).
final class CloseWhenIdle: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}
