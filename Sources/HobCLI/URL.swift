// `hob url`: a sprite's URL and who may use it; `--auth` changes that (PUT /v1/sprites/{name}).

import ArgumentParser
import Foundation
import HobAPI
import HobClient

public struct SpriteURL: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "url",
        abstract: "Show a sprite's URL and its access, or change who may use it.",
        discussion: """
            auth is sprite (callers need a token that may use the sprite) or public (anyone who \
            can reach the daemon's URL listener).

            --open makes a one-time sign-in link for a browser: it works once, within a minute, \
            and sets a cookie for this sprite only (12 hours at most, never longer than your \
            token). It opens in your browser when one is available (xdg-open, $BROWSER), and is \
            printed either way. No token ever goes in a URL.

            Examples:
              hob url demo
              hob url demo --open
              curl "$(hob url demo --quiet)"
              hob url demo --auth public
              hob url demo --json
            """)

    @Argument(help: "Sprite name.")
    public var name: String

    @Option(help: ArgumentHelp("Who may use the URL from now on: sprite or public.", valueName: "auth"))
    public var auth: String?

    @Flag(help: "Make a one-time sign-in link for a browser, and open it when a browser is available.")
    public var open = false

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
        if open && auth != nil { throw ValidationError("--open and --auth cannot be used together") }
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
            if open { return try await signIn(client) }
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

    /// Prints the one-time link (alone with --quiet, as JSON with --json) and hands it to a browser.
    func signIn(_ client: HobClient) async throws {
        let link = try await client.urlLoginLink(name)
        if json {
            try JSONOutput.print(link)
            return
        }
        print(link.url)
        guard !quiet else { return }
        if BrowserLauncher.open(link.url) {
            StandardStream.printError("opened in your browser; the link works once, until \(link.expiresAt)")
        } else {
            StandardStream.printError("open this link in a browser; it works once, until \(link.expiresAt)")
        }
    }

    static func describe(_ sprite: SpriteInfo) -> String {
        var block = KeyValueBlock()
        block.add("url", sprite.url)
        block.add("auth", sprite.urlSettings.auth)
        return block.render()
    }
}

/// Hands a URL to the desktop's browser, when there is a desktop: `$BROWSER`, else `xdg-open`
/// with a display. Never waits for the browser.
enum BrowserLauncher {
    static func open(_ url: String) -> Bool {
        let environment = ProcessInfo.processInfo.environment
        let hasDisplay = environment["DISPLAY"] != nil || environment["WAYLAND_DISPLAY"] != nil
        let command: String
        if let browser = environment["BROWSER"], !browser.isEmpty {
            command = browser
        } else if hasDisplay {
            command = "xdg-open"
        } else {
            return false
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [command, url]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
            return true
        } catch {
            return false
        }
    }
}
