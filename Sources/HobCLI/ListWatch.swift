// `hob list -w`: the live sprite list (`GET /v1/sprites` as NDJSON). Text: the table once the
// server has sent every sprite, then one line per change. `--json`: every event as it arrives,
// one JSON object per line (heartbeats included, for scripts that watch the connection).

import Foundation
import Glibc
import HobAPI
import HobClient

enum ListWatch {
    static func run(prefix: String?, json: Bool) async throws {
        try await CommandFailure.reporting {
            var initial: [SpriteListEvent] = []
            var synced = false
            for try await event in try await Daemon.client().watchSprites(prefix: prefix) {
                if json {
                    emit(try line(event))
                    continue
                }
                switch event.type {
                case "sprite":
                    initial.append(event)
                case "synced":
                    synced = true
                    emit(initial.isEmpty ? "No sprites." : table(initial))
                    StandardStream.printError("Watching for changes (Ctrl-C to stop)…")
                case "heartbeat":
                    continue
                default:
                    guard synced else { continue }
                    emit(change(event))
                }
            }
            throw CommandError("the live sprite list ended (the daemon stopped or the connection was lost)")
        }
    }

    /// Written at once (not through stdio's buffer): a pipe reader sees each change as it happens.
    static func emit(_ text: String) { _ = StandardStream.write(STDOUT_FILENO, Array((text + "\n").utf8)) }

    static func line(_ event: SpriteListEvent) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(event), as: UTF8.self)
    }

    static func table(_ events: [SpriteListEvent]) -> String {
        var table = TextTable(headers: ["NAME", "STATUS", "LAST RUNNING"])
        for e in events { table.rows.append([e.name ?? "?", e.status?.rawValue ?? "-", e.lastRunningAt ?? "-"]) }
        return table.render()
    }

    /// "12:04:05  web  running", "12:04:09  old  deleted".
    static func change(_ event: SpriteListEvent) -> String {
        let time = event.timestamp.split(separator: "T").last.map { String($0.prefix(8)) } ?? event.timestamp
        let what =
            switch event.type {
            case "created": "created (\(event.status?.rawValue ?? "?"))"
            case "updated": event.status?.rawValue ?? "updated"
            default: event.type
            }
        return "\(time)  \(event.name ?? "?")  \(what)"
    }
}
