// `hob create`: POST /v1/sprites.

import ArgumentParser
import HobAPI
import HobClient

public struct Create: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        abstract: "Create a sprite.",
        discussion: """
            Prints the new sprite's name (or its full description with --json).

            Examples:
              hob create demo
              hob create web --label team-a --env PORT=8080 --ram-mb 2048 --cpus 2
              hob create agent --idle-timeout 10m --cold-timeout never
            """)

    @Argument(help: "Name of the new sprite.")
    public var name: String

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

    @Flag(help: "Print the created sprite as JSON.")
    public var json = false

    public init() {}

    public func validate() throws {
        if name.isEmpty { throw ValidationError("the sprite name must not be empty") }
        _ = try environmentDictionary()
        if let ramMB, ramMB <= 0 { throw ValidationError("--ram-mb must be positive") }
        if let cpus, !(cpus > 0) { throw ValidationError("--cpus must be positive") }
        _ = try TimeoutArgument.seconds(idleTimeout, flag: "--idle-timeout")
        _ = try TimeoutArgument.seconds(coldTimeout, flag: "--cold-timeout")
    }

    func environmentDictionary() throws -> [String: String] {
        var env: [String: String] = [:]
        for item in environment {
            let (key, value) = try KeyValueArgument.split(item, flag: "--env")
            env[key] = value
        }
        return env
    }

    /// The request this invocation sends.
    public func request() throws -> CreateSpriteRequest {
        let idle = try TimeoutArgument.seconds(idleTimeout, flag: "--idle-timeout")
        let cold = try TimeoutArgument.seconds(coldTimeout, flag: "--cold-timeout")
        let config = [ramMB, idle, cold].allSatisfy({ $0 == nil }) && cpus == nil
            ? nil : SpriteConfig(ramMB: ramMB, cpus: cpus, idleTimeout: idle, coldTimeout: cold)
        let env = try environmentDictionary()
        return CreateSpriteRequest(
            name: name, config: config, environment: env.isEmpty ? nil : env, labels: labels.isEmpty ? nil : labels)
    }

    public func run() async throws {
        try await CommandFailure.reporting {
            let sprite = try await Daemon.client().createSprite(try request())
            if json { try JSONOutput.print(sprite) } else { print(sprite.name) }
        }
    }
}
