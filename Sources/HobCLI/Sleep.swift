// `hob sleep`: put a sprite to sleep now (POST /v1/sprites/{name}/sleep).

import ArgumentParser
import HobAPI
import HobClient

public struct Sleep: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        abstract: "Put a sprite to sleep now, whatever it is doing.",
        discussion: """
            Without --cold the sprite goes warm: every process is frozen and keeps its memory, and \
            the next request (exec, console, checkpoint…) thaws it where it was. With --cold its \
            processes are stopped and their memory freed; the disk is kept and the next request \
            boots it. Sprites also sleep on their own when idle (see `hob serve --help`).

            Examples:
              hob sleep demo
              hob sleep demo --cold
            """)

    @Argument(help: "Sprite name.")
    public var name: String

    @Flag(help: "Stop the sprite's processes instead of freezing them.")
    public var cold = false

    @Flag(help: "Print the sprite as JSON.")
    public var json = false

    public init() {}

    public func run() async throws {
        try await CommandFailure.reporting(.sprite(name)) {
            let sprite = try await Daemon.client().sleepSprite(name, state: cold ? .cold : .warm)
            if json { try JSONOutput.print(sprite) } else { print("\(sprite.name) is \(sprite.status.rawValue)") }
        }
    }
}
