// `hob url`: a sprite's URL and who may use it; `--auth` changes that (PUT /v1/sprites/{name}).

import ArgumentParser
import HobAPI
import HobClient

public struct SpriteURL: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "url",
        abstract: "Show a sprite's URL and its access, or change who may use it.",
        discussion: """
            auth is sprite (callers need a token that may use the sprite) or public (anyone who \
            can reach the daemon's URL listener).

            Examples:
              hob url demo
              curl "$(hob url demo --quiet)"
              hob url demo --auth public
              hob url demo --json
            """)

    @Argument(help: "Sprite name.")
    public var name: String

    @Option(help: ArgumentHelp("Who may use the URL from now on: sprite or public.", valueName: "auth"))
    public var auth: String?

    @Flag(name: [.short, .long], help: "Print only the URL.")
    public var quiet = false

    @Flag(help: "Print {\"url\": …, \"url_settings\": {\"auth\": …}} as JSON.")
    public var json = false

    public init() {}

    public func validate() throws {
        if let auth, !["sprite", "public"].contains(auth) {
            throw ValidationError("--auth must be sprite or public, not \(auth)")
        }
        if quiet && json { throw ValidationError("--quiet and --json cannot be used together") }
    }

    struct Shown: Encodable {
        var url: String
        var urlSettings: URLSettings

        enum CodingKeys: String, CodingKey {
            case url
            case urlSettings = "url_settings"
        }
    }

    public func run() async throws {
        try await CommandFailure.reporting(.sprite(name)) {
            let client = try Daemon.client()
            let sprite =
                if let auth {
                    try await client.updateSprite(name, UpdateSpriteRequest(urlSettings: URLSettings(auth: auth)))
                } else {
                    try await client.getSprite(name)
                }
            if json {
                try JSONOutput.print(Shown(url: sprite.url, urlSettings: sprite.urlSettings))
            } else if quiet {
                print(sprite.url)
            } else {
                print(Self.describe(sprite))
            }
        }
    }

    static func describe(_ sprite: SpriteInfo) -> String {
        var block = KeyValueBlock()
        block.add("url", sprite.url)
        block.add("auth", sprite.urlSettings.auth)
        return block.render()
    }
}
