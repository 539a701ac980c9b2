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

    @Flag(help: "Print the created sprite as JSON.")
    public var json = false

    public init() {}

    public func validate() throws {
        if name.isEmpty { throw ValidationError("the sprite name must not be empty") }
        _ = try environmentDictionary()
        if let ramMB, ramMB <= 0 { throw ValidationError("--ram-mb must be positive") }
        if let cpus, !(cpus > 0) { throw ValidationError("--cpus must be positive") }
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
        let config = ramMB == nil && cpus == nil ? nil : SpriteConfig(ramMB: ramMB, cpus: cpus)
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
