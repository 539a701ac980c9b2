// `hob info`: one sprite's details.

import ArgumentParser
import HobAPI
import HobClient

public struct Info: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        abstract: "Show a sprite's details.",
        discussion: """
            Examples:
              hob info demo
              hob info demo --json | jq .status
            """)

    @Argument(help: "Sprite name.")
    public var name: String

    @Flag(help: "Print the sprite as JSON.")
    public var json = false

    public init() {}

    public func run() async throws {
        try await CommandFailure.reporting(.sprite(name)) {
            let sprite = try await Daemon.client().getSprite(name)
            if json { try JSONOutput.print(sprite) } else { print(Self.describe(sprite)) }
        }
    }

    static func describe(_ sprite: SpriteInfo) -> String {
        var block = KeyValueBlock()
        block.add("name", sprite.name)
        block.add("id", sprite.id)
        block.add("status", sprite.status.rawValue)
        block.add("url", sprite.url)
        block.add("url auth", sprite.urlSettings.auth)
        block.add("organization", sprite.organization)
        block.add("created", sprite.createdAt)
        block.add("updated", sprite.updatedAt)
        block.add("last running", sprite.lastRunningAt)
        block.add("last warm", sprite.lastWarmingAt)
        block.add("sleeps", sleeps(sprite.config))
        var resources: [String] = []
        if let ram = sprite.config.ramMB { resources.append("\(ram) MiB RAM") }
        if let cpus = sprite.config.cpus { resources.append("\(formatted(cpus)) CPU" + (cpus == 1 ? "" : "s")) }
        if let disk = sprite.config.storageGB { resources.append("\(disk) GB disk") }
        block.add("resources", resources.joined(separator: ", "))
        block.add("storage", sprite.storageBytes.map { ByteCount.format($0) })
        block.add("disk quota", quota(sprite))
        block.add("region", sprite.config.region ?? sprite.primaryRegion)
        block.add("labels", sprite.labels.joined(separator: ", "))
        block.add("version", sprite.version)
        block.add(
            "environment",
            sprite.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "\n"))
        return block.render()
    }

    /// "1.2 GiB of 100 GiB used (1%)", or just the quota when the daemon enforces none.
    static func quota(_ sprite: SpriteInfo) -> String? {
        guard let limit = sprite.storageQuotaBytes, limit > 0 else { return nil }
        guard let used = sprite.storageQuotaUsedBytes else { return "\(ByteCount.format(limit)) (not enforced)" }
        return "\(ByteCount.format(used)) of \(ByteCount.format(limit)) used (\(used * 100 / limit)%)"
    }

    /// "warm after 30s idle, cold after 15m".
    static func sleeps(_ config: SpriteConfig) -> String? {
        guard let idle = config.idleTimeout, let cold = config.coldTimeout else { return nil }
        var parts: [String] = []
        if idle > 0 { parts.append("warm after \(DurationText.format(idle)) idle") }
        if cold > 0 { parts.append("cold after \(DurationText.format(cold)) idle") }
        return parts.isEmpty ? "never" : parts.joined(separator: ", ")
    }

    private static func formatted(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}
