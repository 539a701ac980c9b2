// `hob events`: the audit log (GET /v1/events), newest first: who (which token) did what to which sprite, and how
// the daemon answered.

import ArgumentParser
import HobAPI
import HobClient

public struct Events: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        abstract: "Show the audit log: which token did what, newest first.",
        discussion: """
            Each API call that changes something, and each refused call, is an event: its time, the token id \
            (or admin), the action, the sprite and the HTTP status. Shows the newest --limit events (default \
            100); when the page is full, stderr says how to page back with --before. Needs the admin \
            operation.

            Examples:
              hob events
              hob events --sprite demo --limit 20
              hob events --token tok_0123456789abcdef0123
              hob events --json | jq -r '.events[] | select(.status >= 400) | .action'
            """)

    @Option(help: ArgumentHelp("Only events on this sprite.", valueName: "name"))
    public var sprite: String?

    @Option(help: ArgumentHelp("Only events of this token id (admin for the admin token).", valueName: "id"))
    public var token: String?

    @Option(help: ArgumentHelp("Most events to show, 1 to 1000 (default 100).", valueName: "n"))
    public var limit: Int?

    @Option(help: ArgumentHelp("Only events older than this event id (paging).", valueName: "id"))
    public var before: Int64?

    @Flag(help: "Print the page of events as JSON.")
    public var json = false

    public init() {}

    public func validate() throws {
        if let limit, !(1...1000).contains(limit) { throw ValidationError("--limit must be from 1 to 1000") }
        if let before, before <= 0 { throw ValidationError("--before must be an event id") }
        if sprite?.isEmpty == true { throw ValidationError("--sprite must name a sprite") }
        if token?.isEmpty == true { throw ValidationError("--token must name a token id") }
    }

    public func run() async throws {
        try await CommandFailure.reporting {
            let page = try await Daemon.client().events(sprite: sprite, token: token, before: before, limit: limit)
            if json {
                try JSONOutput.print(page)
                return
            }
            if page.events.isEmpty {
                StandardStream.printError("No events.")
            } else {
                print(Self.table(page.events))
            }
            if let older = page.nextBefore {
                StandardStream.printError("Older events, if any: hob events --before \(older)")
            }
        }
    }

    static func table(_ events: [AuditEvent]) -> String {
        var table = TextTable(headers: ["TIME", "TOKEN", "ACTION", "SPRITE", "STATUS", "DETAIL"])
        for event in events {
            let detail = (event.detail ?? "").replacing("\n", with: " ")
            table.rows.append([
                event.time, event.token, event.action, event.sprite ?? "-", String(event.status), detail.isEmpty ? "-" : detail,
            ])
        }
        return table.render()
    }
}
