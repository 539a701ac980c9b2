// Opening exec and attach WebSockets: an HTTP/1.1 upgrade through NIO's typed client upgrader (Foundation's
// URLSession WebSockets fail on Linux, SWIFT.md §7). A refused upgrade is read as an ordinary HTTP response so
// the caller gets the server's status and error body (404 for an unknown sprite, 401 for a bad token).

import HobAPI
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

extension HobClient {
    /// Largest frame and reassembled message accepted from the server.
    static let maxMessageBytes = 16 << 20

    /// Runs a command: `GET /v1/sprites/{name}/exec?cmd=…` upgraded to a WebSocket.
    public func exec(_ name: String, _ params: ExecParameters) async throws -> ExecConnection {
        let target = try endpoint.parsed().requestTarget(
            segments: ["v1", "sprites", name, "exec"], query: params.queryItems)
        return try await openExecSocket(target: target, tty: params.tty)
    }

    /// Attaches to a running session: `GET /v1/sprites/{name}/exec/{id}` upgraded to a WebSocket. The TTY mode is
    /// learned from the `session_info` event that arrives first.
    public func attach(_ name: String, sessionID: String) async throws -> ExecConnection {
        let target = try endpoint.parsed().requestTarget(segments: ["v1", "sprites", name, "exec", sessionID])
        return try await openExecSocket(target: target, tty: nil)
    }

    private func openExecSocket(target: String, tty: Bool?) async throws -> ExecConnection {
        try await openWebSocket(target: target, purpose: "exec") { channel in try Self.installExecHandler(on: channel, tty: tty) }
    }

    /// Upgrades `GET target` to a WebSocket and hands the upgraded channel to `install`, which sets
    /// up its handlers and returns what the caller works with. A refused upgrade becomes the
    /// server's HTTP error.
    func openWebSocket<Value: Sendable>(
        target: String, purpose: String, install: @escaping @Sendable (any Channel) throws -> Value
    ) async throws -> Value {
        let base = try endpoint.parsed()
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: base.hostHeader)
        headers.add(name: "Authorization", value: "Bearer \(endpoint.token)")
        headers.add(name: "User-Agent", value: HobClient.userAgent)
        headers.add(name: "Content-Length", value: "0")
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: target, headers: headers)
        let limits = self.limits
        let url = endpoint.baseURL
        let outcome = group.next().makePromise(of: UpgradeOutcome<Value>.self)

        do {
            let upgrade: EventLoopFuture<UpgradeOutcome<Value>> = try await ClientBootstrap(group: group)
                .connectTimeout(limits.connectTimeout)
                // The end of the stream as an event, so `UpgradeEndOfStreamHold` can keep it until the upgrade settles.
                .channelOption(.allowRemoteHalfClosure, value: true)
                .connect(host: base.host, port: base.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let hold = UpgradeEndOfStreamHold()
                        try channel.pipeline.syncOperations.addHandler(hold, position: .first)
                        let upgrade = try Self.configureUpgrade(
                            channel: channel, head: head, url: url, limits: limits, install: install)
                        upgrade.assumeIsolated().whenComplete { _ in hold.upgradeSettled() }
                        // The handshake gets the same deadline as a plain request; the session itself has none.
                        let timer = channel.eventLoop.scheduleTask(in: limits.requestTimeout) {
                            outcome.fail(
                                HobClientError(.timeout, "the Hob API at \(url) did not accept the \(purpose) connection in time"))
                            channel.close(promise: nil)
                        }
                        upgrade.whenComplete { _ in timer.cancel() }
                        return upgrade
                    }
                }
            upgrade.cascade(to: outcome)
        } catch {
            outcome.fail(error)
            throw ConnectFailure.describe(error, url: endpoint.baseURL)
        }

        let result: UpgradeOutcome<Value>
        do {
            result = try await outcome.futureResult.get()
        } catch let error as HobClientError {
            throw error
        } catch {
            throw HobClientError(
                .badResponse, "the Hob API at \(endpoint.baseURL) did not accept the \(purpose) WebSocket: \(error)",
                cause: error)
        }
        switch result {
        case .upgraded(let connection):
            return connection
        case .refused(let response):
            let response = try await response.get()
            guard (200..<300).contains(response.status) else {
                throw HobClientError.http(status: response.status, body: response.body, url: endpoint.baseURL)
            }
            throw HobClientError(
                .badResponse,
                "the Hob API at \(endpoint.baseURL) answered HTTP \(response.status) instead of upgrading to a WebSocket",
                status: response.status)
        }
    }

    private static func configureUpgrade<Value: Sendable>(
        channel: any Channel, head: HTTPRequestHead, url: String, limits: TransportLimits,
        install: @escaping @Sendable (any Channel) throws -> Value
    ) throws -> EventLoopFuture<UpgradeOutcome<Value>> {
        let upgrader = NIOTypedWebSocketClientUpgrader<UpgradeOutcome<Value>>(maxFrameSize: maxMessageBytes) {
            channel, _ in
            channel.eventLoop.makeCompletedFuture {
                .upgraded(try install(channel))
            }
        }
        let upgrade = NIOTypedHTTPClientUpgradeConfiguration<UpgradeOutcome<Value>>(
            upgradeRequestHead: head, upgraders: [upgrader],
            notUpgradingCompletionHandler: { channel in
                channel.eventLoop.makeCompletedFuture {
                    let promise = channel.eventLoop.makePromise(of: HTTPResponse.self)
                    try channel.pipeline.syncOperations.addHandler(
                        HTTPResponseCollector(
                            promise: promise, request: nil, url: url, maxBodyBytes: limits.maxBodyBytes,
                            timeout: limits.requestTimeout))
                    return .refused(promise.futureResult)
                }
            })
        var configuration = NIOUpgradableHTTPClientPipelineConfiguration(upgradeConfiguration: upgrade)
        // Frames may arrive in the same read as the 101 response: keep those bytes for the WebSocket decoder.
        configuration.leftOverBytesStrategy = .forwardBytes
        return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(configuration: configuration)
    }

    private static func installExecHandler(on channel: any Channel, tty: Bool?) throws -> ExecConnection {
        let state = ExecSessionState(tty: tty)
        let handler = ExecChannelHandler(
            tty: tty, state: state, maxMessageBytes: maxMessageBytes, eventLoop: channel.eventLoop)
        let bound = NIOLoopBound(handler, eventLoop: channel.eventLoop)
        let sequence = ExecEventStream.Producer.makeSequence(
            elementType: ExecEvent.self,
            backPressureStrategy: .init(lowWatermark: 4, highWatermark: 32),
            finishOnDeinit: false,
            delegate: ReadDemand(handler: bound, eventLoop: channel.eventLoop))
        handler.source = sequence.source
        try channel.pipeline.syncOperations.addHandler(handler)
        return ExecConnection(
            channel: channel, events: ExecEventStream(producer: sequence.sequence), handler: bound, state: state)
    }
}

/// How an upgrade attempt ended: the caller's value, or the server's HTTP answer.
private enum UpgradeOutcome<Value: Sendable>: Sendable {
    case upgraded(Value)
    case refused(EventLoopFuture<HTTPResponse>)
}
