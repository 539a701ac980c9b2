// The live sprite list: `GET /v1/sprites` with `Accept: application/x-ndjson` (what
// `sprite list -w` and `hob list -w` read). One NDJSON line per sprite as the stream begins
// (`sprite`), a `synced` line, then `created`, `updated` and `deleted` lines as sprites change.
//
// Changes are found by comparing the registry with what was last sent, twice a second (one
// SpriteListFeed polls for all streams, each filters by its prefix): the
// registry is in memory, so a comparison costs microseconds, and the stream needs no hooks in
// every place a sprite's state changes (boot, wake, sleep, exit, restore, destroy). A change is
// seen within half a second; a change undone within that time is not seen at all, which a
// display of the list does not miss. A `heartbeat` line every 15 s without changes lets both
// ends notice a connection that went away.
import Foundation
import HobAPI
import HobAccess
import HobCore
import Hummingbird
import NIOCore

struct SpriteListStream: Sendable {
    let feed: SpriteListFeed
    let prefix: String?
    /// The caller's token scope when it is limited to some sprites: only those are listed.
    let scope: Scope?

    static let pollInterval: Duration = .milliseconds(500)
    static let heartbeatInterval: Duration = .seconds(15)

    func response() -> Response {
        let feed = self.feed
        let prefix = self.prefix
        let scope = self.scope
        let body = ResponseBody { writer in
            func send(_ events: [SpriteListEvent]) async throws {
                guard !events.isEmpty else { return }
                var buffer = ByteBuffer()
                for event in events {
                    buffer.writeBytes(try jsonEncoder.encode(event))
                    buffer.writeString("\n")
                }
                try await writer.write(buffer)
            }
            let subscription = await feed.subscribe()
            defer { Task { await feed.unsubscribe(subscription.token) } }
            var sent = subscription.first.filtered(prefix, scope)
            let now = Timestamp.format(Date())
            try await send(sent.sprites.values.sorted { $0.name < $1.name }.map { $0.event("sprite", at: now, org: sent.org) })
            try await send([SpriteListEvent(type: "synced", timestamp: now, org: sent.org)])
            var quiet: Duration = .zero
            // One snapshot per poll of the shared feed; the stream ends when the task is cancelled.
            for await snapshot in subscription.snapshots {
                let current = snapshot.filtered(prefix, scope)
                let events = Self.changes(from: sent, to: current, at: Timestamp.format(Date()))
                sent = current
                quiet = events.isEmpty ? quiet + Self.pollInterval : .zero
                if quiet >= Self.heartbeatInterval {
                    quiet = .zero
                    try await send([SpriteListEvent(type: "heartbeat", timestamp: Timestamp.format(Date()), org: current.org)])
                }
                try await send(events)
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "application/x-ndjson", .cacheControl: "no-store"], body: body)
    }

    /// What the stream compares: each sprite's listed state, and the counts.
    struct Snapshot: Equatable, Sendable {
        var sprites: [String: Entry]
        var org: OrgInfo

        /// The sprites whose names begin with `prefix` (all when nil) and that `scope` covers. A
        /// prefix is a view: the counts stay the org's, as in the paged list. A token's scope is
        /// what the caller may know of: the counts are of its sprites only.
        func filtered(_ prefix: String?, _ scope: Scope?) -> Snapshot {
            guard prefix != nil || scope != nil else { return self }
            let kept = sprites.filter { (prefix.map($0.key.hasPrefix) ?? true) && (scope?.covers(name: $0.key, labels: $0.value.labels) ?? true) }
            var counts = org
            if let scope {
                let visible = sprites.values.filter { scope.covers(name: $0.name, labels: $0.labels) }
                counts.running = visible.filter { $0.status == .running }.count
                counts.warm = visible.filter { $0.status == .warm }.count
                counts.cold = visible.filter { $0.status == .cold }.count
            }
            return Snapshot(sprites: kept, org: counts)
        }
    }

    struct Entry: Equatable, Sendable {
        var name: String
        var id: String
        var status: SpriteStatus
        var version: String?
        var lastRunningAt: String?
        var lastWarmingAt: String?
        var labels: [String]

        func event(_ type: String, at time: String, org: OrgInfo) -> SpriteListEvent {
            SpriteListEvent(
                type: type, name: name, id: id, status: status, runningVersion: version, lastRunningAt: lastRunningAt,
                lastWarmingAt: lastWarmingAt, timestamp: time, org: org)
        }
    }

    static func snapshot(_ list: SpriteList) -> Snapshot {
        var sprites: [String: Entry] = [:]
        for s in list.sprites {
            sprites[s.name] = Entry(
                name: s.name, id: s.id, status: s.status, version: s.environmentVersion, lastRunningAt: s.lastRunningAt,
                lastWarmingAt: s.lastWarmingAt, labels: s.labels)
        }
        return Snapshot(sprites: sprites, org: list.org)
    }

    /// The events that take a reader from `old` to `new`, by name. A name that now belongs to
    /// another sprite (destroyed and created again) is a `deleted` and a `created`.
    static func changes(from old: Snapshot, to new: Snapshot, at time: String) -> [SpriteListEvent] {
        var events: [SpriteListEvent] = []
        for name in Set(old.sprites.keys).union(new.sprites.keys).sorted() {
            switch (old.sprites[name], new.sprites[name]) {
            case (let before?, nil):
                events.append(SpriteListEvent(type: "deleted", name: name, id: before.id, timestamp: time, org: new.org))
            case (nil, let after?):
                events.append(after.event("created", at: time, org: new.org))
            case (let before?, let after?) where before.id != after.id:
                events.append(SpriteListEvent(type: "deleted", name: name, id: before.id, timestamp: time, org: new.org))
                events.append(after.event("created", at: time, org: new.org))
            case (let before?, let after?) where before != after:
                events.append(after.event("updated", at: time, org: new.org))
            default:
                continue
            }
        }
        return events
    }
}
