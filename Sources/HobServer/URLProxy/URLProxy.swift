// The sprite URL proxy: `<scheme>://<name>.<domain>[:port]/` reaches port 8080 (or the service's
// `http_port`) inside sprite <name> (SPRITES-API.md §11). This file holds what every connection
// shares, the two asynchronous steps of a request (admission: who may in, and waking the sprite;
// dialling: a TCP connection made inside the sprite's network namespace), and the listener.
// URLProxyFrontend.swift is the HTTP/1.1 relay, RawRelay.swift what an upgraded connection becomes.
//
// Why raw SwiftNIO rather than Hummingbird: a reverse proxy must see every request of a
// keep-alive connection as it arrives (auth and Host are checked per request), stream bodies
// both ways with backpressure, pass 1xx responses and server-sent events through unbuffered, and
// hand an accepted `Upgrade` (WebSocket) to the sprite untouched, as bytes. Hummingbird (like
// NIO's server upgrader) decides an upgrade from the request alone, before answering it; here
// only the sprite's response (101 or not) decides, after the request went through. A plain
// ServerBootstrap with NIO's HTTP codecs, which the proxy takes out of the pipeline itself, does.
import Glibc
import HobCore
import HobOS
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// What every connection of the proxy shares. Sendable: handlers read it on their event loops
/// and hand it to the asynchronous steps.
struct URLProxy: Sendable {
    let fleet: Fleet
    let access: URLAccess
    let settings: URLProxySettings
    let logger: Logger
    /// A client connection with no request in flight (or one stalled mid-body) is closed after this.
    var idleTimeout: TimeAmount = .seconds(60)
    /// A sprite that has the whole request but sends no response head within this gets a 504.
    var responseTimeout: TimeAmount = .seconds(300)

    /// Handler names, for the pipeline surgery of an upgrade.
    enum Names {
        static let idle = "url-idle"
        static let encoder = "url-encoder"
        static let decoder = "url-decoder"
        static let backendEncoder = "url-backend-encoder"
        static let backendDecoder = "url-backend-decoder"
    }

    enum Admission: Sendable {
        case answer(URLAnswer)
        /// The sprite runs and holds awake for this exchange (release `hold` when it ends).
        case admitted(hold: String, running: RunningSprite, removeAuthorization: Bool)
    }

    /// Checks the sprite and its `url_settings.auth` (read now: a PUT takes effect on the next
    /// request), then wakes the sprite and holds it awake.
    func admit(_ head: HTTPRequestHead, sprite name: String) async -> Admission {
        let sprite: URLAccess.Sprite
        do {
            let record = try await fleet.record(name)
            sprite = URLAccess.Sprite(name: name, id: record.id, auth: record.urlAuth, labels: record.labels, privateAccess: record.urlPrivateAccess)
        } catch {
            return .answer(URLAnswer(.notFound, "There is no sprite called \(name)."))
        }
        switch access.decide(head, sprite: sprite, secure: settings.isTLS) {
        case .answer(let answer):
            return .answer(answer)
        case .allow(let removeAuthorization):
            do {
                let (hold, running) = try await fleet.hold(name)
                return .admitted(hold: hold, running: running, removeAuthorization: removeAuthorization)
            } catch let error as HobError where error.code == .notFound {
                return .answer(URLAnswer(.notFound, "There is no sprite called \(name)."))
            } catch {
                logger.warning("URL request: the sprite could not be started", metadata: ["sprite": "\(name)", "error": "\(error)"])
                let reason = (error as? HobError)?.message ?? "\(error)"
                return .answer(URLAnswer(.serviceUnavailable, "Sprite \(name) could not be started: \(reason)"))
            }
        }
    }

    enum Dialed: Sendable {
        /// A connected, non-blocking socket, to `port` in the sprite.
        case connected(socket: Int32, port: Int)
        case failed(URLAnswer)
    }

    /// Connects to the sprite's URL port on its own loopback: 127.0.0.1, then ::1 if nothing
    /// listens there, so servers bound to localhost only are reachable. The socket is made inside
    /// the sprite's network namespace, so nothing but the sprite can be reached this way.
    func dial(_ running: RunningSprite, sprite name: String) async -> Dialed {
        let target: URLTarget
        do {
            target = try await fleet.urlTarget(name)
        } catch {
            return .failed(URLAnswer(.notFound, "There is no sprite called \(name)."))
        }
        let port = target.port
        // A service that should serve the URL may still be starting (the request just booted the
        // sprite, or it is restarting after a crash): refusals are retried for a while.
        let deadline = ContinuousClock.now + (target.service == nil ? .zero : Self.serviceStartWait)
        var message: String
        while true {
            do {
                return .connected(socket: try await fleet.connect(running, host: "127.0.0.1", port: port), port: port)
            } catch where Self.isRefused(error) {
                if let socket = try? await fleet.connect(running, host: "::1", port: port) { return .connected(socket: socket, port: port) }
                if ContinuousClock.now < deadline {
                    try? await Task.sleep(for: .milliseconds(50))
                    continue
                }
                if let service = target.service {
                    message = "Nothing is listening on port \(port) in sprite \(name), where service \(service) should serve it; "
                        + "see `hob services get \(name) \(service)` and /.sprite/logs/services/\(service).log."
                } else {
                    message = "Nothing is listening on port \(port) in sprite \(name) (tried 127.0.0.1 and ::1). Start a web server there, "
                        + "e.g. python3 -m http.server \(port), or declare a service's http_port."
                }
                logger.info("URL request: nothing listens in the sprite", metadata: ["sprite": "\(name)", "port": "\(port)"])
            } catch {
                message = "Hob could not connect to port \(port) in sprite \(name): \((error as? HobError)?.message ?? "\(error)")"
                logger.warning("URL request: connecting to the sprite failed", metadata: ["sprite": "\(name)", "port": "\(port)", "error": "\(error)"])
            }
            return .failed(URLAnswer(.badGateway, message))
        }
    }

    /// How long a refused connection to a service's `http_port` is retried.
    static let serviceStartWait: Duration = .seconds(10)

    static func isRefused(_ error: any Error) -> Bool {
        ((error as? HobError)?.cause as? SystemError)?.errno == ECONNREFUSED
    }

    /// Ends a hold from event-loop code.
    func release(_ hold: String, on executor: EventLoopTaskExecutor) {
        let fleet = fleet
        Task(executorPreference: executor) { await fleet.release(hold) }
    }
}

/// Runs a task's jobs on an event loop. A request's admission is a few short calls to the Fleet
/// actor; a default actor runs them on the executor its caller's task prefers, so with this the
/// whole step stays on the connection's loop instead of bouncing to the cooperative pool and back
/// (on two cores those thread switches were a fifth of the proxy's CPU per request). Anything long
/// the Fleet does (booting, waking) runs in tasks of its own, elsewhere.
final class EventLoopTaskExecutor: TaskExecutor, Sendable {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }

    /// Runs `work` in a task on this loop; `completion` gets its result on the loop. Call it on the loop.
    func run<Value: Sendable>(
        _ work: @escaping @Sendable () async -> Value, then completion: @escaping (Value) -> Void
    ) {
        let promise = eventLoop.makePromise(of: Value.self)
        promise.futureResult.assumeIsolated().whenSuccess(completion)
        Task(executorPreference: self) { promise.succeed(await work()) }
    }
}

/// The listener: binds at start-up, and closes every client connection when the daemon stops, so
/// that no request wakes a sprite while the Fleet shuts down.
final class URLProxyServer: Sendable {
    /// The open client connections.
    final class Connections: Sendable {
        let channels = Mutex<[ObjectIdentifier: any Channel]>([:])

        func add(_ channel: any Channel) {
            let id = ObjectIdentifier(channel)
            channels.withLock { $0[id] = channel }
            channel.closeFuture.whenComplete { _ in _ = self.channels.withLock { $0.removeValue(forKey: id) } }
        }
    }

    private let channel: any Channel
    private let connections: Connections

    private init(channel: any Channel, connections: Connections) {
        self.channel = channel
        self.connections = connections
    }

    /// Reads the certificate chain and key (PEM) for HTTPS; errors name the file and the flag.
    static func tlsContext(certificate: String, key: String) throws -> NIOSSLContext {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificate)
        } catch {
            throw HobError(.invalidArgument, "cannot read the TLS certificate \(certificate) (--url-tls-cert): \(error)")
        }
        guard !chain.isEmpty else { throw HobError(.invalidArgument, "\(certificate) (--url-tls-cert) holds no PEM certificate") }
        let privateKey: NIOSSLPrivateKey
        do {
            privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
        } catch {
            throw HobError(.invalidArgument, "cannot read the TLS private key \(key) (--url-tls-key): \(error)")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
        configuration.applicationProtocols = ["http/1.1"]
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw HobError(.invalidArgument, "the TLS certificate \(certificate) and key \(key) do not make a usable pair: \(error)")
        }
    }

    static func start(_ proxy: URLProxy, host: String, port: Int, tls: NIOSSLContext?) async throws -> URLProxyServer {
        let connections = Connections()
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            // Half-closed clients still get their answer, and an upgraded connection passes a
            // half-close through to the other side.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let tls { try pipeline.addHandler(NIOSSLServerHandler(context: tls)) }
                    try pipeline.addHandler(IdleStateHandler(readTimeout: proxy.idleTimeout), name: URLProxy.Names.idle)
                    // Framing headers are the proxy's to decide (URLHeaders), not the encoder's.
                    var noFraming = HTTPResponseEncoder.Configuration()
                    noFraming.automaticallySetFramingHeaders = false
                    try pipeline.addHandler(HTTPResponseEncoder(configuration: noFraming), name: URLProxy.Names.encoder)
                    try pipeline.addHandler(
                        ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes)), name: URLProxy.Names.decoder)
                    try pipeline.addHandler(URLProxyFrontend(proxy: proxy, eventLoop: channel.eventLoop))
                    connections.add(channel)
                }
            }
        do {
            let channel = try await bootstrap.bind(host: host, port: port).get()
            return URLProxyServer(channel: channel, connections: connections)
        } catch {
            throw HobError(.unavailable, "cannot listen for sprite URLs on \(host):\(port) (--url-listen)", cause: error)
        }
    }

    func stop() async {
        try? await channel.close()
        let open = connections.channels.withLock { Array($0.values) }
        for connection in open { try? await connection.close() }
    }
}
