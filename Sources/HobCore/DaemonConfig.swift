// Everything `hob serve` is configured with, and the paths derived from it.
import Foundation

public struct DaemonConfig: Sendable {
    /// Where all state lives: database, pool, per-sprite sockets, admin token.
    public var stateDirectory: String
    public var listenHost: String
    public var listenPort: Int
    /// Names what this daemon adds to the host (bridge, nftables table, cgroup parent), so two
    /// daemons (say, tests) can run side by side.
    public var instance: String
    /// IPv4 subnet for sprites, e.g. 10.77.0.0/16.
    public var subnet: IPv4Subnet
    /// Base images are built once here and shared by every state directory.
    public var imageCacheDirectory: String
    /// The hob-init executable to run as PID 1 in sprites.
    public var initExecutable: String
    /// The largest the sparse pool file may be; it is also never larger than the host's free
    /// space minus `diskReserve` (PoolSizing).
    public var poolSizeBytes: Int64
    /// What the pool leaves free on the host filesystem (`hob serve --disk-reserve`).
    public var diskReserve: DiskReserve = .standard
    public var defaults: SpriteDefaults
    /// Debian mirror for building the base image.
    public var debianMirror: String
    /// The sprite URL proxy: where it listens and the URL each sprite gets.
    public var url: URLProxySettings
    /// What one sprite may take of the daemon (FairShares.swift).
    public var limits: FairShareLimits = FairShareLimits()
    /// Where the secrets gateway listens on the bridge's address; sprites reach it as
    /// `http://gateway.hob/` (port 80, redirected here by nftables).
    public var gatewayPort: Int = 7090
    /// The runtime of sprites whose create names none.
    public var runtime: String = NamespaceRuntime.name
    /// Read deadlines and the shutdown grace of the HTTP listeners (HTTPEdgeLimits.swift).
    public var http: HTTPEdgeLimits = HTTPEdgeLimits()

    public init(
        stateDirectory: String, listenHost: String, listenPort: Int, instance: String, subnet: IPv4Subnet,
        imageCacheDirectory: String, initExecutable: String, poolSizeBytes: Int64 = 256 << 30,
        defaults: SpriteDefaults = SpriteDefaults(), debianMirror: String, url: URLProxySettings = URLProxySettings()
    ) {
        self.stateDirectory = stateDirectory
        self.listenHost = listenHost
        self.listenPort = listenPort
        self.instance = instance
        self.subnet = subnet
        self.imageCacheDirectory = imageCacheDirectory
        self.initExecutable = initExecutable
        self.poolSizeBytes = poolSizeBytes
        self.defaults = defaults
        self.debianMirror = debianMirror
        self.url = url
    }

    public var databasePath: String { "\(stateDirectory)/hob.db" }
    public var poolDirectory: String { "\(stateDirectory)/pool" }
    public var poolImage: String { "\(stateDirectory)/pool.img" }
    public var runDirectory: String { "\(stateDirectory)/run" }
    /// Holds `api.sock`, the in-sprite API. Each sprite gets a read-only bind of this directory at
    /// /.sprite/api (and /.sprite/api.sock links into it), so a restarted daemon's new socket is
    /// visible to sprites that kept running.
    public var spriteAPIDirectory: String { "\(runDirectory)/api" }
    public var adminTokenPath: String { "\(stateDirectory)/admin-token" }
    /// The key that signs browser sessions on sprite URLs (HobServer's URLSessionToken.swift).
    public var urlSessionKeyPath: String { "\(stateDirectory)/url-session-key" }
    /// The key every API token's signature derives from (HobCore's TokenAuthority.swift).
    public var tokenKeyPath: String { "\(stateDirectory)/token-key" }
    /// The key that seals the header values of secrets (HobCore's SecretVault.swift).
    public var secretsKeyPath: String { "\(stateDirectory)/secrets-key" }
    public var bridgeName: String { "\(instance)0" }
}

/// The sprite URL proxy (`hob serve --url-listen, --url-domain, --url-tls-cert, --url-tls-key`).
/// Every sprite is served at `<scheme>://<name>.<domain>[:<port>]/`; the defaults give
/// `http://<name>.hob.localhost:7080/`, which browsers and curl resolve to loopback by themselves.
public struct URLProxySettings: Sendable, Equatable {
    /// Where the proxy listens; nil when it is off.
    public var listenHost: String?
    public var listenPort: Int
    /// Sprites are `<name>.<domain>`. Lowercase, without a trailing dot.
    public var domain: String
    /// PEM files; when both are set the proxy serves HTTPS.
    public var tlsCertificate: String?
    public var tlsKey: String?

    public init(
        listenHost: String? = "127.0.0.1", listenPort: Int = 7080, domain: String = "hob.localhost", tlsCertificate: String? = nil,
        tlsKey: String? = nil
    ) {
        self.listenHost = listenHost
        self.listenPort = listenPort
        self.domain = domain
        self.tlsCertificate = tlsCertificate
        self.tlsKey = tlsKey
    }

    public var isEnabled: Bool { listenHost != nil }
    public var isTLS: Bool { tlsCertificate != nil && tlsKey != nil }
    public var scheme: String { isTLS ? "https" : "http" }

    /// The host name that routes to `sprite`.
    public func host(of sprite: String) -> String { "\(sprite).\(domain)" }

    /// The sprite's URL as clients should use it: the port only when it is not the scheme's
    /// default. Empty when the proxy is off: there is then no URL that would reach the sprite.
    public func url(of sprite: String) -> String {
        guard isEnabled else { return "" }
        let defaultPort = isTLS ? 443 : 80
        let port = listenPort == defaultPort ? "" : ":\(listenPort)"
        return "\(scheme)://\(host(of: sprite))\(port)/"
    }
}

/// Resource defaults for sprites created without `config`.
public struct SpriteDefaults: Sendable {
    public var ramMB: Int = 2048
    public var cpus: Double = 2
    public var storageGB: Int = 100
    public var pidsMax: Int = 4096
    public var region: String = "local"
    /// Idle seconds before a sprite sleeps (`warm`: frozen, memory kept) and before it stops
    /// (`cold`: memory freed); 0 means never. Sprites may override both.
    public var idleTimeout: Int = 30
    public var coldTimeout: Int = 900
    public init() {}
}

public struct IPv4Subnet: Sendable, Equatable, CustomStringConvertible {
    public var network: UInt32
    public var prefixLength: Int

    public init?(_ cidr: String) {
        let parts = cidr.split(separator: "/")
        guard parts.count == 2, let prefix = Int(parts[1]), (8...28).contains(prefix), let addr = IPv4Subnet.parse(String(parts[0]))
        else { return nil }
        let mask: UInt32 = prefix == 0 ? 0 : ~((1 << (32 - UInt32(prefix))) - 1)
        guard addr & mask == addr else { return nil }
        network = addr
        prefixLength = prefix
    }

    public static func parse(_ s: String) -> UInt32? {
        let octets = s.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4 else { return nil }
        var v: UInt32 = 0
        for o in octets {
            guard let n = UInt32(o), n <= 255, !o.isEmpty else { return nil }
            v = v << 8 | n
        }
        return v
    }

    public static func format(_ v: UInt32) -> String { "\(v >> 24).\((v >> 16) & 255).\((v >> 8) & 255).\(v & 255)" }

    public var description: String { "\(IPv4Subnet.format(network))/\(prefixLength)" }
    /// The bridge (gateway) address: the first host address.
    public var gateway: String { IPv4Subnet.format(network + 1) }
    /// Sprite addresses start after the gateway; the broadcast address is never used.
    public var capacity: Int { (1 << (32 - prefixLength)) - 3 }
    public func address(slot: Int) -> String { IPv4Subnet.format(network + 2 + UInt32(slot)) }
}
