// `hob serve`: the daemon. Brings up Store, Storage, Network, Runtime and Fleet in that order,
// serves the API until SIGTERM/SIGINT, then stops sprites and removes what it added to the host.
import ArgumentParser
import Foundation
import Glibc
import HobAPI
import HobCore
import HobOS
import HobStore
import Hummingbird
import Logging
import Prometheus

public struct ServeCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the Hob daemon (as root).",
        discussion: """
            On first start it creates the database, the btrfs storage pool (a sparse loop file, \
            <state-dir>/pool.img, sized to the free space minus --disk-reserve), builds the Debian base image (cached in \
            --image-cache, so this happens once per machine) and an admin token, which it prints \
            once and keeps in <state-dir>/admin-token.

            Examples:
              hob serve
              hob serve --state-dir /srv/hob --listen 0.0.0.0:7070
              hob serve --idle-timeout 2m --cold-timeout 1h
              hob serve --url-listen 0.0.0.0:443 --url-domain sprites.example.com \\
                --url-tls-cert cert.pem --url-tls-key key.pem

            Each sprite has a URL, served by a reverse proxy in the daemon: by default \
            http://<name>.hob.localhost:7080/ (browsers and curl resolve *.localhost to this \
            machine). It forwards to port 8080 in the sprite and wakes a sleeping sprite.
            """)

    @Option(help: "State directory (env HOB_STATE_DIR).")
    var stateDir: String = ProcessInfo.processInfo.environment["HOB_STATE_DIR"] ?? "/var/lib/hob"

    @Option(help: "Address to serve the API on, HOST:PORT (env HOB_LISTEN).")
    var listen: String = ProcessInfo.processInfo.environment["HOB_LISTEN"] ?? "127.0.0.1:7070"

    @Option(help: "Name for what this daemon adds to the host: bridge <instance>0, nftables table, cgroup parent.")
    var instance: String = "hob"

    @Option(help: "IPv4 subnet for sprite addresses.")
    var subnet: String = "10.77.0.0/16"

    @Option(help: "Where base images are built and cached, shared by all state directories.")
    var imageCache: String = ProcessInfo.processInfo.environment["HOB_IMAGE_CACHE"] ?? "/var/cache/hob"

    @Option(help: "Debian mirror used to build the base image.")
    var debianMirror: String = ProcessInfo.processInfo.environment["HOB_DEBIAN_MIRROR"] ?? "http://deb.debian.org/debian"

    @Option(help: "Path of the hob-init executable (default: next to hob).")
    var initPath: String?

    @Option(help: "Idle time before a sprite sleeps (warm: frozen, memory kept), e.g. 30s, 5m; never (or 0) to keep sprites running. Sprites may set their own.")
    var idleTimeout: String = "30s"

    @Option(help: "Idle time before a sprite stops (cold: memory freed, disk kept), e.g. 15m, 2h; never (or 0) to keep them in memory.")
    var coldTimeout: String = "15m"

    @Option(help: "Address for sprite URLs, HOST:PORT, or off.")
    var urlListen: String = "127.0.0.1:7080"

    @Option(help: "Sprite URLs are <name>.<domain>; point *.<domain> at this host (*.localhost needs nothing).")
    var urlDomain: String = "hob.localhost"

    @Option(help: ArgumentHelp("PEM certificate (chain) for HTTPS sprite URLs; with --url-tls-key.", valueName: "file"))
    var urlTlsCert: String?

    @Option(help: ArgumentHelp("PEM private key for HTTPS sprite URLs; with --url-tls-cert.", valueName: "file"))
    var urlTlsKey: String?

    @Option(help: ArgumentHelp(
        "Space the storage pool leaves free on the state directory's filesystem: a size (10G, 512M) or a share (10%). Default: the larger of 5G and 5%.",
        valueName: "size"))
    var diskReserve: String = "default"
    @Option(help: "Connections to /.sprite/api.sock one sprite may hold at once; more are closed when accepted.")
    var apiConnectionsPerSprite: Int = FairShareLimits().apiConnectionsPerSprite

    @Option(help: "Connections to /.sprite/api.sock all sprites together may hold at once.")
    var apiConnectionsTotal: Int = FairShareLimits().apiConnectionsTotal

    @Option(help: "Checkpoints a sprite may keep (automatic ones not counted); more are refused with 409 until some are deleted.")
    var checkpointLimit: Int = FairShareLimits().checkpointsPerSprite

    @Option(help: "Checkpoints a sprite may take in a burst; past it, one per --checkpoint-interval (429 with Retry-After).")
    var checkpointBurst: Int = FairShareLimits().checkpointBurst

    @Option(help: "Live sprite lists (GET /v1/sprites as NDJSON, `hob list -w`) open at once; more get 429 until one closes.")
    var liveListStreams: Int = FairShareLimits().liveListStreams

    @Option(help: "Port of the secrets gateway on the sprites' bridge address (sprites use http://gateway.hob/, port 80).")
    var gatewayPort: Int = 7090

    @Option(help: "Audit log entries kept (GET /v1/events, `hob events`); the oldest are deleted past it.")
    var auditEvents: Int = FairShareLimits().auditEvents

    @Option(help: "Time that earns a sprite one more checkpoint once its burst is used, e.g. 2s, 1m.")
    var checkpointInterval: String = "2s"

    @Option(help: "Time a client has to send a request's head once it starts, e.g. 10s, 500ms; then 408 and close.")
    var httpHeaderTimeout: String = "10s"

    @Option(help: "Longest pause in a request body, e.g. 30s; then 408 and close.")
    var httpBodyTimeout: String = "30s"

    @Option(help: "Time a kept-alive connection with no request under way stays open, e.g. 60s.")
    var httpIdleTimeout: String = "60s"

    @Option(help: "After SIGTERM, time requests and WebSockets under way may go on before their connections are closed, e.g. 10s.")
    var shutdownGrace: String = "10s"

    @Option(
        help: ArgumentHelp(
            "Resolver for sprites with a network policy, ADDR[:PORT], repeatable (default: the nameservers in /etc/resolv.conf). For tests and special setups.",
            valueName: "addr"))
    var dnsUpstream: [String] = []

    @Option(help: "The runtime of sprites whose create names none (POST /v1/sprites `runtime`, hob create --runtime): namespaces.")
    var runtime: String = NamespaceRuntime.name

    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: String = "info"

    @Option(help: "Log lines as text, or json: one object per line with the sprite and request id (env HOB_LOG_FORMAT).")
    var logFormat: String = ProcessInfo.processInfo.environment["HOB_LOG_FORMAT"] ?? "text"

    public init() {}

    /// The runtimes `hob serve` can run sprites in.
    static let runtimes = [NamespaceRuntime.name]

    public func validate() throws {
        guard Self.runtimes.contains(runtime) else {
            throw ValidationError("--runtime must be one of: \(Self.runtimes.joined(separator: ", "))")
        }
        guard let api = Self.parseAddress(listen) else { throw ValidationError("--listen must be HOST:PORT, e.g. 127.0.0.1:7070") }
        if !Self.isOff(urlListen) {
            guard let url = Self.parseAddress(urlListen), url.1 > 0 else {
                throw ValidationError("--url-listen must be HOST:PORT with a port from 1 to 65535, e.g. 127.0.0.1:7080, or off")
            }
            let wildcard = ["0.0.0.0", "::"]
            if url.1 == api.1 && (url.0 == api.0 || wildcard.contains(url.0) || wildcard.contains(api.0)) {
                throw ValidationError("--url-listen and --listen must not share a port")
            }
        }
        guard Self.isValidDomain(urlDomain) else {
            throw ValidationError("--url-domain must be a DNS name such as hob.localhost or sprites.example.com (lowercase, no trailing dot)")
        }
        guard (urlTlsCert == nil) == (urlTlsKey == nil) else { throw ValidationError("--url-tls-cert and --url-tls-key go together") }
        guard IPv4Subnet(subnet) != nil else { throw ValidationError("--subnet must be an IPv4 network like 10.77.0.0/16 (prefix 8–28)") }
        let ascii = instance.utf8.allSatisfy { (97...122).contains($0) || (48...57).contains($0) }
        guard instance.utf8.count <= 8, ascii, let first = instance.utf8.first, (97...122).contains(first) else {
            throw ValidationError("--instance must be 1–8 lowercase letters or digits, starting with a letter")
        }
        for (flag, value) in [("--idle-timeout", idleTimeout), ("--cold-timeout", coldTimeout)] {
            guard let seconds = DurationText.timeout(value), seconds <= 30 * 86400 else {
                throw ValidationError("\(flag) must be a duration such as 30s, 15m or 2h (at most 30d), or never")
            }
        }
        for (flag, value) in [
            ("--api-connections-per-sprite", apiConnectionsPerSprite), ("--api-connections-total", apiConnectionsTotal),
            ("--checkpoint-limit", checkpointLimit), ("--checkpoint-burst", checkpointBurst),
            ("--live-list-streams", liveListStreams), ("--audit-events", auditEvents),
        ] where !(1...1_000_000).contains(value) {
            throw ValidationError("\(flag) must be a number from 1 to 1000000")
        }
        guard (1...65535).contains(gatewayPort), gatewayPort != 80 else {
            throw ValidationError("--gateway-port must be a port from 1 to 65535 other than 80")
        }
        guard let interval = DurationText.seconds(checkpointInterval), (1...86400).contains(interval) else {
            throw ValidationError("--checkpoint-interval must be a duration such as 2s or 1m (1s to 1d)")
        }
        for (flag, value) in [
            ("--http-header-timeout", httpHeaderTimeout), ("--http-body-timeout", httpBodyTimeout),
            ("--http-idle-timeout", httpIdleTimeout), ("--shutdown-grace", shutdownGrace),
        ] {
            guard let ms = DurationText.milliseconds(value), (100...86_400_000).contains(ms) else {
                throw ValidationError("\(flag) must be a duration such as 500ms, 10s or 2m (100ms to 1d)")
            }
        }
        guard DiskReserve(diskReserve) != nil else {
            throw ValidationError("--disk-reserve must be a size such as 10G or 512M, or a share such as 10% (at most 90%)")
        }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error") }
        guard ["text", "json"].contains(logFormat) else { throw ValidationError("--log-format must be text or json") }
    }

    /// HOST:PORT (a bracketed IPv6 host too) as a host and a port.
    /// `--dns-upstream`; nil for the host's resolvers.
    func dnsUpstreams() throws -> [DNSForwarder.Upstream]? {
        guard !dnsUpstream.isEmpty else { return nil }
        return try dnsUpstream.map { text in
            guard let upstream = DNSForwarder.Upstream(parsing: text) else {
                throw HobError(.invalidArgument, "--dns-upstream must be an IPv4 ADDR or ADDR:PORT, not \(text)")
            }
            return upstream
        }
    }

    static func parseAddress(_ text: String) -> (String, Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port)
        else { return nil }
        let host = String(text[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return host.isEmpty ? nil : (host, port)
    }

    static func isOff(_ text: String) -> Bool { ["off", "none", "no"].contains(text.lowercased()) }

    /// Lowercase DNS labels joined by dots: what a Host header is matched against.
    static func isValidDomain(_ domain: String) -> Bool {
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        return domain.utf8.count <= 190 && labels.allSatisfy { label in
            (1...63).contains(label.utf8.count) && label.first != "-" && label.last != "-"
                && label.utf8.allSatisfy { (97...122).contains($0) || (48...57).contains($0) || $0 == 45 }
        }
    }

    public func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        let json = logFormat == "json"
        LoggingSystem.bootstrap(
            { label, provider in
                var handler: any LogHandler =
                    json
                    ? JSONLogHandler(label: label, metadataProvider: provider)
                    : StreamLogHandler.standardError(label: label, metadataProvider: provider)
                handler.logLevel = level
                return handler
            }, metadataProvider: LogContext.metadataProvider)
        let logger = Logger(label: "hob")
        // Before the Fleet exists: its counters are made from the backend bootstrapped here.
        let metrics = MetricsBackend.bootstrap()
        // Writes to a closed pipe (a host tool that exited early) must be errors, not a signal.
        signal(SIGPIPE, SIG_IGN)
        guard geteuid() == 0 else {
            printError("hob serve must run as root: it creates namespaces, cgroups, a btrfs pool and network devices")
            throw ExitCode(1)
        }
        guard let (host, port) = Self.parseAddress(listen) else { throw ExitCode(1) }
        let urlAddress = Self.isOff(urlListen) ? nil : Self.parseAddress(urlListen)
        let url = URLProxySettings(
            listenHost: urlAddress?.0, listenPort: urlAddress?.1 ?? 0, domain: urlDomain, tlsCertificate: urlTlsCert.map(absolute),
            tlsKey: urlTlsKey.map(absolute))
        var defaults = SpriteDefaults()
        defaults.idleTimeout = DurationText.timeout(idleTimeout)!
        defaults.coldTimeout = DurationText.timeout(coldTimeout)!
        var config = DaemonConfig(
            stateDirectory: absolute(stateDir), listenHost: host, listenPort: port, instance: instance,
            subnet: IPv4Subnet(subnet)!, imageCacheDirectory: absolute(imageCache),
            initExecutable: initPath.map(absolute) ?? Self.defaultInitPath(), defaults: defaults, debianMirror: debianMirror, url: url)
        config.diskReserve = DiskReserve(diskReserve) ?? .standard
        config.limits.apiConnectionsPerSprite = apiConnectionsPerSprite
        config.limits.apiConnectionsTotal = apiConnectionsTotal
        config.limits.checkpointsPerSprite = checkpointLimit
        config.limits.checkpointBurst = checkpointBurst
        config.limits.liveListStreams = liveListStreams
        config.limits.auditEvents = auditEvents
        config.gatewayPort = gatewayPort
        config.runtime = runtime
        config.limits.checkpointInterval = .seconds(DurationText.seconds(checkpointInterval) ?? 2)
        config.http.headerTimeout = .milliseconds(DurationText.milliseconds(httpHeaderTimeout) ?? 10_000)
        config.http.bodyTimeout = .milliseconds(DurationText.milliseconds(httpBodyTimeout) ?? 30_000)
        config.http.idleTimeout = .milliseconds(DurationText.milliseconds(httpIdleTimeout) ?? 60_000)
        config.http.shutdownGrace = .milliseconds(DurationText.milliseconds(shutdownGrace) ?? 10_000)
        do {
            try await Daemon(config: config, logger: logger, metrics: metrics, dnsUpstreams: try dnsUpstreams()).run()
        } catch {
            logger.critical("hob serve stopped: \(error)")
            throw ExitCode(1)
        }
    }

    func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    static func defaultInitPath() -> String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return (exe as NSString).deletingLastPathComponent + "/hob-init"
    }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data("hob: \(message)\n".utf8))
}

/// The daemon's lifetime: start-up in dependency order, serve, and tear down in reverse.
struct Daemon {
    let config: DaemonConfig
    let logger: Logger
    /// Where swift-metrics keeps what `/metrics` writes.
    let metrics: PrometheusCollectorRegistry
    /// Where the DNS forwarder of restricted sprites asks (nil: the host's resolvers).
    var dnsUpstreams: [DNSForwarder.Upstream]?

    func run() async throws {
        guard access(config.initExecutable, X_OK) == 0 else {
            throw HobError(.unavailable, "hob-init not found at \(config.initExecutable); build it (swift build) or pass --init-path")
        }
        try Files.makeDirectory(config.stateDirectory, mode: 0o700)
        chmod(config.stateDirectory, 0o700)
        // One daemon per state directory and per instance name: two would fight over the pool,
        // the bridge and the nftables table. The locks last as long as this process.
        _ = try DaemonLock.acquire(
            "\(config.stateDirectory)/hob.lock", what: "the state directory \(config.stateDirectory)", hint: "stop it first")
        try Files.makeDirectory(HostNetwork.runtimeDirectory, mode: 0o755)
        let instanceLock = try DaemonLock.acquire(
            "\(HostNetwork.runtimeDirectory)/\(config.instance).lock", what: "the instance name \(config.instance)",
            hint: "pass a different --instance")
        defer { instanceLock.release() }
        try ListenCheck.ensureFree(host: config.listenHost, port: config.listenPort, flag: "--listen")
        if let urlHost = config.url.listenHost { try ListenCheck.ensureFree(host: urlHost, port: config.url.listenPort, flag: "--url-listen") }
        let urlTLS = try config.url.tlsCertificate.map { try URLProxyServer.tlsContext(certificate: $0, key: config.url.tlsKey ?? "") }
        let token = try adminToken()
        let urlSessions = URLSessionTokens(key: try URLSessionKey.loadOrCreate(path: config.urlSessionKeyPath))
        let store = try GRDBSpriteStore(path: config.databasePath)
        let cgroups = try CgroupLayout.detect()
        // Every connection and sprite costs descriptors: take all the kernel allows (the in-sprite
        // API keeps a reserve of them for the daemon; see FairShares.swift).
        let descriptorLimit = FileDescriptors.raiseLimit()
        logger.info("host checked", metadata: ["cgroups": "\(cgroups.description)", "descriptors": "\(descriptorLimit)"])

        let pool = try await BtrfsPool.open(config: config, logger: logger)
        var network: HostNetwork?
        var forwarder: DNSForwarder?
        do {
            if !pool.hasImage(BaseImage.name) {
                let image = try await BaseImage.ensure(cacheDirectory: config.imageCacheDirectory, mirror: config.debianMirror, logger: logger)
                try await pool.importImage(BaseImage.name, from: image, logger: logger)
            }
            // Disks for the next creates, made in the background (BtrfsPool+Spares.swift).
            pool.keepSpares(of: BaseImage.name)
            network = try await HostNetwork.setUp(config: config, logger: logger)
            // Before the Fleet starts: adopted sprites with a network policy resolve through it.
            forwarder = DNSForwarder(network: network!, upstreams: dnsUpstreams ?? DNSForwarder.hostUpstreams(), logger: logger)
            await forwarder?.start()
            let storage = BtrfsStorage(pool: pool, logger: logger)
            let runtime = try NamespaceRuntime(
                config: config, storage: storage, network: network!, cgroups: cgroups, watcher: ProcessWatcher(), logger: logger)
            let runtimes = try Runtimes([runtime], standard: config.runtime)
            let fleet = Fleet(config: config, store: store, storage: storage, runtimes: runtimes, image: BaseImage.name, logger: logger)
            try await fleet.start()

            let authority = try await TokenAuthority(
                org: config.instance,
                key: KeyFile.loadOrCreate(path: config.tokenKeyPath, what: "token key", consequence: "every token but the admin token stops working"),
                adminToken: token, store: store)
            let vault = try await SecretVault(
                store: store,
                key: KeyFile.loadOrCreate(
                    path: config.secretsKeyPath, what: "secrets key", consequence: "every secret must be set again"))
            for (name, error) in await vault.unreadable() {
                logger.error("secret \(name) is unusable until it is set again or deleted: \(error)")
            }
            let audit = AuditLog(store: store, capacity: config.limits.auditEvents, logger: logger)
            await audit.trim()
            let access = AccessCheck(authority: authority, fleet: fleet, audit: audit)
            let logins = URLLoginLinks()
            let metricsRoute = MetricsRoute(registry: metrics, fleet: fleet, spritesCgroup: cgroups.v2.map { "\($0)/\(config.instance)" })
            let app = APIServer.application(
                config: config, fleet: fleet, access: access, logins: logins, vault: vault, metrics: metricsRoute, logger: logger)
            defer { runtime.tearDown() }
            let gateway: SecretGateway.Listener
            do {
                gateway = try await SecretGateway(fleet: fleet, vault: vault, access: access, subnet: config.subnet, logger: logger)
                    .start(port: config.gatewayPort)
            } catch {
                await fleet.shutdown()
                throw HobError(
                    .unavailable, "cannot serve the secrets gateway on \(config.subnet.gateway):\(config.gatewayPort); pass another --gateway-port",
                    cause: error)
            }
            var urlServer: URLProxyServer?
            if let urlHost = config.url.listenHost {
                let proxy = URLProxy(
                    fleet: fleet, access: URLAccess(authority: authority, sessions: urlSessions, logins: logins), settings: config.url, logger: logger)
                do {
                    urlServer = try await URLProxyServer.start(proxy, host: urlHost, port: config.url.listenPort, tls: urlTLS)
                } catch {
                    await fleet.shutdown()
                    throw error
                }
                logger.info("serving sprite URLs", metadata: ["listen": "\(urlHost):\(config.url.listenPort)", "url": "\(config.url.url(of: "<name>"))"])
            }
            logger.info("serving the Sprites API", metadata: ["url": "http://\(config.listenHost):\(config.listenPort)"])
            var serverError: (any Error)?
            do {
                try await app.runService()
            } catch {
                serverError = error
                logger.error("API server stopped: \(error)")
            }
            SystemdNotify.send("STOPPING=1\nSTATUS=stopping sprites")
            // No request may wake a sprite once the Fleet starts stopping them.
            await urlServer?.stop()
            await gateway.stop()
            logger.info("shutting down: stopping sprites")
            await fleet.shutdown()
            await audit.flush()
            if let serverError { throw HobError(.unavailable, "serving on \(config.listenHost):\(config.listenPort) failed", cause: serverError) }
        } catch {
            await forwarder?.stop()
            await tearDown(pool: pool, network: network)
            throw error
        }
        await forwarder?.stop()
        await tearDown(pool: pool, network: network)
        logger.info("shutdown complete")
    }

    func tearDown(pool: BtrfsPool, network: HostNetwork?) async {
        await network?.tearDown(logger: logger)
        do { try await pool.detach() } catch { logger.error("could not unmount the storage pool: \(error)") }
    }

    /// Reads the admin token, creating and printing it on first start.
    func adminToken() throws -> String {
        let path = config.adminTokenPath
        if let existing = try? Files.read(path).trimmingCharacters(in: .whitespacesAndNewlines), !existing.isEmpty {
            return existing
        }
        let token = "hob_" + SpriteID.generate() + SpriteID.generate() + SpriteID.generate() + SpriteID.generate()
        try Files.writeAtomically(path, token + "\n", mode: 0o600)
        // Shown to a person at a terminal only: under systemd, stdout goes to the journal, which
        // more users may read than the file.
        let notice =
            isatty(STDOUT_FILENO) == 1
            ? "\nHob admin token (shown once; saved to \(path)):\n  \(token)\n\n"
            : "Hob admin token saved to \(path) (readable by root only)\n"
        FileHandle.standardOutput.write(Data(notice.utf8))
        return token
    }
}

/// An exclusive lock held for the daemon's lifetime, naming the holder in the error.
struct DaemonLock {
    let path: String

    /// Removes the lock file on a clean exit; the lock itself ends with the process.
    func release() { unlink(path) }

    static func acquire(_ path: String, what: String, hint: String) throws -> DaemonLock {
        let fd = try syscall("open \(path)") { open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600) }
        // A daemon that was just killed may still be leaving a kernel call (a btrfs commit):
        // give it a moment to exit before calling the lock taken.
        var locked = flock(fd, LOCK_EX | LOCK_NB) == 0
        for _ in 0..<30 where !locked {
            usleep(100_000)
            locked = flock(fd, LOCK_EX | LOCK_NB) == 0
        }
        if !locked {
            let holder = (try? Files.read(path))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            close(fd)
            throw HobError(.invalidState, "another hob serve (pid \(holder)) is using \(what); \(hint)")
        }
        ftruncate(fd, 0)
        let pid = Array("\(getpid())\n".utf8)
        _ = pid.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        // Deliberately never closed: the lock is released when the process exits, however it exits.
        return DaemonLock(path: path)
    }
}

/// Fails early, before touching the host, when the API's or the URL proxy's address is taken or invalid.
enum ListenCheck {
    static func ensureFree(host: String, port: Int, flag: String) throws {
        guard let address = IPv4Subnet.parse(host == "localhost" ? "127.0.0.1" : host) else { return }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = address.bigEndian
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 {
            throw HobError(.unavailable, "cannot listen on \(host):\(port) (\(flag))", cause: SystemError(operation: "bind", errno: errno))
        }
    }
}

enum APIServer {
    /// The public API, with the in-sprite API running beside it as a service (they start and stop
    /// together).
    static func application(
        config: DaemonConfig, fleet: Fleet, access: AccessCheck, logins: URLLoginLinks, vault: SecretVault, metrics: MetricsRoute,
        logger: Logger
    ) -> some ApplicationProtocol {
        let descriptors = DescriptorBudget(limits: config.limits)
        let router = Router(context: APIRequestContext.self)
        router.add(middleware: SpritesResponseMiddleware(logger: logger))
        router.add(middleware: AccessMiddleware(access: access))
        SpriteRoutes(fleet: fleet, access: access, maxLiveLists: config.limits.liveListStreams).register(on: router)
        TokenRoutes(authority: access.authority, audit: access.audit).register(on: router)
        SecretRoutes(vault: vault).register(on: router)
        URLLoginRoute(fleet: fleet, logins: logins, settings: config.url).register(on: router)
        CheckpointRoutes(handlers: CheckpointHandlers(fleet: fleet)).register(on: router)
        ServiceRoutes(handlers: ServiceHandlers(fleet: fleet)).register(on: router)
        PolicyRoutes(fleet: fleet).register(on: router)
        FsRoutes(fleet: fleet, logger: logger).register(on: router)
        PrivilegesRoutes(fleet: fleet).register(on: router)
        NetworkPolicyRoutes(fleet: fleet).register(on: router)
        let exec = ExecRoutes(fleet: fleet, access: access, watches: WatchRoutes(fleet: fleet, logger: logger))
        exec.register(on: router)
        HTTPExecRoute(fleet: fleet).register(on: router)
        OpenAPIRoutes().register(on: router)
        UIRoutes().register(on: router)
        MCPRoute(listenHost: config.listenHost, port: config.listenPort).register(on: router)
        metrics.register(on: router)
        OpenAPIDocument.checkDrift(router, logger: logger)
        return Application(
            router: router,
            server: .sprites(accept: exec.acceptor(), limits: config.http),
            configuration: .init(address: .hostname(config.listenHost, port: config.listenPort), serverName: nil),
            services: [SpriteAPIServer.application(config: config, fleet: fleet, descriptors: descriptors, logger: logger)],
            onServerRunning: { channel in
                await guardListener(channel, logger: logger)
                SystemdNotify.send("READY=1\nSTATUS=serving the Sprites API on \(config.listenHost):\(config.listenPort)")
            },
            logger: logger)
    }
}
