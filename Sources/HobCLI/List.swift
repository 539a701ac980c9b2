// `hob list` / `hob ls`: every sprite, following continuation tokens.

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
            """,
        aliases: ["ls"])

    @Option(help: ArgumentHelp("Only sprites whose name starts with this.", valueName: "prefix"))
    public var prefix: String?

    @Flag(help: "Print a JSON array of sprites.")
    public var json = false

    public init() {}

    public func run() async throws {
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
