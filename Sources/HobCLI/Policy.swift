// `hob policy resources get|set|reset`: a sprite's memory limit (…/policy/resources).

import ArgumentParser
import HobAPI
import HobClient

public struct Policy: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        abstract: "Show or change a sprite's policies.",
        subcommands: [Resources.self])

    public init() {}

    public struct Resources: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "A sprite's memory limit: shown, set (applied at once if it runs), or reset to the default.",
            discussion: """
                The limit is the sprite's ram_mb. Lowering it below what the sprite uses makes the \
                kernel reclaim memory and, failing that, kill the largest process inside the sprite.

                Examples:
                  hob policy resources get demo
                  hob policy resources set demo --memory 512
                  hob policy resources reset demo
                """,
            subcommands: [ShowLimit.self, SetLimit.self, ResetLimit.self])

        public init() {}
    }

    public struct ShowLimit: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(commandName: "get", abstract: "Show the sprite's memory limit.")
        @Argument(help: "Sprite name.") public var name: String
        @Flag(help: "Print JSON.") public var json = false
        public init() {}

        public func run() async throws {
            try await CommandFailure.reporting(.sprite(name)) {
                let policy = try await Daemon.client().resourcesPolicy(name)
                if json { try JSONOutput.print(policy) } else { print("memory: \(policy.memory?.limitMB.map { "\($0) MB" } ?? "default")") }
            }
        }
    }

    public struct SetLimit: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(commandName: "set", abstract: "Set the sprite's memory limit.")
        @Argument(help: "Sprite name.") public var name: String
        @Option(help: "Memory limit in MB (at least 64).") public var memory: Int
        public init() {}

        public func run() async throws {
            try await CommandFailure.reporting(.sprite(name)) {
                try await Daemon.client().setResourcesPolicy(name, ResourcesPolicy(memory: MemoryPolicy(limitMB: memory, autoscale: nil)))
                print("\(name): memory limit \(memory) MB")
            }
        }
    }

    public struct ResetLimit: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(commandName: "reset", abstract: "Return the sprite's memory limit to the default.")
        @Argument(help: "Sprite name.") public var name: String
        public init() {}

        public func run() async throws {
            try await CommandFailure.reporting(.sprite(name)) {
                try await Daemon.client().deleteResourcesPolicy(name)
                print("\(name): memory limit back to the default")
            }
        }
    }
}
