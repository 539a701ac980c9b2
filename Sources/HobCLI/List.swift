// `hob list` / `hob ls`: every sprite, following continuation tokens; `-w` follows the live list.

import ArgumentParser
import HobAPI
import HobClient

public struct List: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List sprites.",
        discussion: """
            Examples:
              hob list
              hob ls --prefix web-
              hob list --json | jq -r '.[].name'
              hob list -w                      # the list, then its changes as they happen
              hob list -w --json               # the live list's NDJSON events, one per line
            """,
        aliases: ["ls"])

    @Option(help: ArgumentHelp("Only sprites whose name starts with this.", valueName: "prefix"))
    public var prefix: String?

    @Flag(help: "Print a JSON array of sprites (with -w: one JSON event per line).")
    public var json = false

    @Flag(name: [.short, .long], help: "Watch: print the list, then each change as it happens, until interrupted.")
    public var watch = false

    public init() {}

    public func run() async throws {
        if watch { return try await ListWatch.run(prefix: prefix, json: json) }
        try await CommandFailure.reporting {
            let sprites = try await Daemon.client().listAllSprites(prefix: prefix)
            if json {
                try JSONOutput.print(sprites)
            } else if sprites.isEmpty {
                StandardStream.printError(prefix.map { "No sprites whose name starts with \"\($0)\"." } ?? "No sprites.")
            } else {
                print(Self.table(sprites))
            }
        }
    }

    static func table(_ sprites: [SpriteInfo]) -> String {
        var table = TextTable(headers: ["NAME", "STATUS", "CREATED", "LABELS"])
        for sprite in sprites {
            table.rows.append([
                sprite.name, sprite.status.rawValue, sprite.createdAt,
                sprite.labels.isEmpty ? "-" : sprite.labels.joined(separator: ","),
            ])
        }
        return table.render()
    }
}
