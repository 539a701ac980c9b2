// `hob create`: POST /v1/sprites; with --count, NAME-1 … NAME-N, a few at a time.

import ArgumentParser
import HobAPI
import HobAccess
import HobClient

public struct Create: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        abstract: "Create a sprite.",
        discussion: """
            Prints the new sprite's name (or its full description with --json). With --token it also mints \
            a token for this sprite alone, within what your token can do, and prints it on the next line (the \
            "token" field with --json); it is shown only this once.

            Examples:
              hob create demo
              hob create web --label team-a --env PORT=8080 --ram-mb 2048 --cpus 2
              hob create agent --idle-timeout 10m --cold-timeout never
              TOKEN=$(hob create agent-1 --token-ops exec,read,files --token-ttl 1h | tail -n 1)
              hob create worker --count 20          # worker-1 … worker-20, 8 at a time

            With --count, each name is printed as its sprite is created (in that order, with its token \
            on the next line when one is asked for); on a terminal a status line counts them.
            """)

    static let maxCount = 100
    /// Creates under way at once with --count: enough to hide each one's round trip, few enough
    /// that the daemon is not asked to prepare dozens of disks at the same moment.
    static let maxConcurrent = 8

    @Argument(help: "Name of the new sprite (the prefix of the names with --count).")
    public var name: String

    @Option(help: ArgumentHelp("How many sprites to create, NAME-1 … NAME-N (1 to \(maxCount)).", valueName: "n"))
    public var count = 1

    @Option(name: .customLong("label"), help: ArgumentHelp("Add a label (repeatable).", valueName: "label"))
    public var labels: [String] = []

    @Option(name: .customLong("env"), help: ArgumentHelp("Set an environment variable (repeatable).", valueName: "K=V"))
    public var environment: [String] = []

    @Option(name: .customLong("ram-mb"), help: ArgumentHelp("Memory limit in MiB.", valueName: "n"))
    public var ramMB: Int?

    @Option(help: ArgumentHelp("CPU limit, e.g. 0.5 or 2.", valueName: "n"))
    public var cpus: Double?

    @Option(help: ArgumentHelp("Idle time before it sleeps (warm), e.g. 30s, 5m; never to stay awake (default: the server's).", valueName: "duration"))
    public var idleTimeout: String?

    @Option(help: ArgumentHelp("Idle time before it stops (cold), e.g. 15m, 2h; never to keep it in memory.", valueName: "duration"))
    public var coldTimeout: String?

    @Option(help: ArgumentHelp("What runs it: namespaces, or another runtime the server has (default: the server's).", valueName: "name"))
    var runtime: String?

    @Flag(name: .customLong("token"), help: "Also mint a token for this sprite alone and print it.")
    public var mintToken = false

    @Option(name: .customLong("token-ops"), help: ArgumentHelp("The token's operations, e.g. exec,read (implies --token; default: all on this sprite).", valueName: "ops"))
    public var tokenOps: String?

    @Option(name: .customLong("token-ttl"), help: ArgumentHelp("The token's lifetime, e.g. 1h (implies --token; default: as long as yours).", valueName: "duration"))
    public var tokenTTL: String?

    @Flag(help: "Print the created sprite as JSON.")
    public var json = false

    public init() {}

    public func validate() throws {
        if name.isEmpty { throw ValidationError("the sprite name must not be empty") }
        guard (1...Self.maxCount).contains(count) else {
            throw ValidationError("--count must be between 1 and \(Self.maxCount), got \(count)")
        }
        _ = try environmentDictionary()
        if let ramMB, ramMB <= 0 { throw ValidationError("--ram-mb must be positive") }
        if let cpus, !(cpus > 0) { throw ValidationError("--cpus must be positive") }
        _ = try TimeoutArgument.seconds(idleTimeout, flag: "--idle-timeout")
        _ = try TimeoutArgument.seconds(coldTimeout, flag: "--cold-timeout")
        _ = try tokenRequest()
    }

    /// Whether a token for the sprite is asked for: --token, or one of its options.
    public var wantsToken: Bool { mintToken || tokenOps != nil || tokenTTL != nil }

    func tokenRequest() throws -> SpriteTokenRequest? {
        guard wantsToken else { return nil }
        let ops = try tokenOps.map { try TokenOps.parse($0, flag: "--token-ops").sorted().map(\.rawValue) }
        return SpriteTokenRequest(ops: ops, expiresIn: try TokenTTL.seconds(tokenTTL, flag: "--token-ttl"))
    }

    func environmentDictionary() throws -> [String: String] {
        var env: [String: String] = [:]
        for item in environment {
            let (key, value) = try KeyValueArgument.split(item, flag: "--env")
            env[key] = value
        }
        return env
    }

    /// The names of the sprites this invocation creates, in order.
    public var names: [String] {
        count == 1 ? [name] : (1...count).map { "\(name)-\($0)" }
    }

    /// The request this invocation sends (for the first name with --count).
    public func request() throws -> CreateSpriteRequest { try request(named: names[0]) }

    /// The request for one of `names`.
    public func request(named name: String) throws -> CreateSpriteRequest {
        let idle = try TimeoutArgument.seconds(idleTimeout, flag: "--idle-timeout")
        let cold = try TimeoutArgument.seconds(coldTimeout, flag: "--cold-timeout")
        let config = [ramMB, idle, cold].allSatisfy({ $0 == nil }) && cpus == nil
            ? nil : SpriteConfig(ramMB: ramMB, cpus: cpus, idleTimeout: idle, coldTimeout: cold)
        let env = try environmentDictionary()
        var request = CreateSpriteRequest(
            name: name, config: config, environment: env.isEmpty ? nil : env, labels: labels.isEmpty ? nil : labels, runtime: runtime)
        request.token = try tokenRequest()
        return request
    }

    public func run() async throws {
        try await CommandFailure.reporting {
            let client = try Daemon.client()
            if count > 1 { return try await createMany(client) }
            let sprite = try await client.createSprite(try request())
            if json { try JSONOutput.print(sprite) } else { print(sprite.name) }
            try printToken(of: sprite)
        }
    }

    /// The token line (none with --json, where it is a field); an error if one was asked for and not given.
    func printToken(of sprite: SpriteInfo) throws {
        guard wantsToken else { return }
        guard let token = sprite.token else {
            throw CommandError(
                "sprite \(sprite.name) was created, but the daemon returned no token for it; "
                    + "mint one with `hob token create --sprite \(sprite.name)`")
        }
        if !json { print(token) }
    }
}
