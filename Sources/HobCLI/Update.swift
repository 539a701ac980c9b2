// `hob update`: change a sprite's settings (PUT /v1/sprites/{name}).

import ArgumentParser
import HobAPI
import HobClient

public struct Update: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        abstract: "Change a sprite's sleep timeouts, labels or URL access.",
        discussion: """
            Durations are like 30s, 5m, 2h or 1h30m; 0 (or never) turns sleeping off.

            Examples:
              hob update demo --idle-timeout 5m --cold-timeout 2h
              hob update demo --idle-timeout never
              hob update demo --label team-a --label web
              hob update demo --url-auth public
            """)

    @Argument(help: "Sprite name.")
    public var name: String

    @Option(help: ArgumentHelp("Idle time before it sleeps (warm).", valueName: "duration"))
    public var idleTimeout: String?

    @Option(help: ArgumentHelp("Idle time before it stops (cold).", valueName: "duration"))
    public var coldTimeout: String?

    @Option(name: .customLong("label"), help: ArgumentHelp("Replace the labels with these (repeatable).", valueName: "label"))
    public var labels: [String] = []

    @Flag(help: "Remove every label.")
    public var clearLabels = false

    @Option(help: ArgumentHelp("Who may use the sprite's URL: sprite (token holders) or public.", valueName: "auth"))
    public var urlAuth: String?

    @Flag(help: "Print the sprite as JSON.")
    public var json = false

    public init() {}

    public func validate() throws {
        _ = try TimeoutArgument.seconds(idleTimeout, flag: "--idle-timeout")
        _ = try TimeoutArgument.seconds(coldTimeout, flag: "--cold-timeout")
        if clearLabels && !labels.isEmpty { throw ValidationError("--clear-labels and --label cannot be used together") }
        if idleTimeout == nil && coldTimeout == nil && labels.isEmpty && !clearLabels && urlAuth == nil {
            throw ValidationError("nothing to change: pass --idle-timeout, --cold-timeout, --label, --clear-labels or --url-auth")
        }
    }

    public func request() throws -> UpdateSpriteRequest {
        let idle = try TimeoutArgument.seconds(idleTimeout, flag: "--idle-timeout")
        let cold = try TimeoutArgument.seconds(coldTimeout, flag: "--cold-timeout")
        return UpdateSpriteRequest(
            urlSettings: urlAuth.map { URLSettings(auth: $0) }, labels: labels.isEmpty ? nil : labels,
            clearLabels: clearLabels ? true : nil,
            config: idle == nil && cold == nil ? nil : SpriteConfig(idleTimeout: idle, coldTimeout: cold))
    }

    public func run() async throws {
        try await CommandFailure.reporting(.sprite(name)) {
            let sprite = try await Daemon.client().updateSprite(name, try request())
            if json { try JSONOutput.print(sprite) } else { print(Info.describe(sprite)) }
        }
    }
}

/// `--idle-timeout` and `--cold-timeout` values: durations, or 0/never/off for never.
enum TimeoutArgument {
    static func seconds(_ value: String?, flag: String) throws -> Int? {
        guard let value else { return nil }
        guard let seconds = DurationText.timeout(value) else {
            throw ValidationError("\(flag) must be a duration such as 30s, 15m or 2h, or never")
        }
        return seconds
    }
}
