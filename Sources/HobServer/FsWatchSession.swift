// The `fs/watch` WebSocket (AsyncAPI `fsWatch`, WatchMessage): the client subscribes to paths,
// the server streams changes under them.
//
//   client → {"type":"subscribe","paths":["/app"],"recursive":true,"workingDir":"/home/sprite"}
//            ("watch" is taken as "subscribe"; `path` as a one-element `paths`)
//            {"type":"unsubscribe","paths":["/app"]}
//   server → {"type":"subscribed","paths":["/app"]}, then for each change
//            {"type":"event","path":"/app/a.txt","event":"create","timestamp":"…","size":12,"isDir":false}
//            events: create (also moved in), modify, delete, rename (moved away), chmod (attributes)
//            {"type":"error","message":"…","path":"…"} for a refused path, a lost-events overflow or
//            a directory left unwatched by the limit.
//
// Changes are watched on the sprite's disk from the host (HobOS FileWatch, inotify), like the
// file API: a cold sprite's files can be watched without waking it, and the watch does not hold
// it awake. Mounts the running sprite has over its disk (/tmp as tmpfs, /proc) are not seen.
// After a restore the disk is a new one and the watch would see the old: the connection is closed
// (1012, a reason saying so) within about a second, or at the next subscribe, for the client to reconnect.
//
// Limits: `FsWatchLimits` (watch connections per sprite and per daemon, each an inotify
// instance, a shared kernel resource) and `maxWatchesPerConnection` directories per connection.
import Foundation
import HobAPI
import HobCore
import HobOS
import HTTPTypes
import NIOWebSocket
import Synchronization
import WSCore

/// How many `fs/watch` connections may be open, per sprite and in all.
final class FsWatchLimits: Sendable {
    // Each connection is an inotify instance; root's default limit is 128 (fs.inotify.max_user_instances)
    // for the whole host, so the daemon keeps well under it.
    static let perSprite = 8
    static let total = 32
    private let open = Mutex<[String: Int]>([:])

    /// Takes a slot for sprite `name`; false when a limit is reached.
    func take(_ name: String) -> Bool {
        open.withLock { counts in
            guard counts[name, default: 0] < Self.perSprite, counts.values.reduce(0, +) < Self.total else { return false }
            counts[name, default: 0] += 1
            return true
        }
    }

    func give(_ name: String) {
        open.withLock { counts in
            let left = counts[name, default: 1] - 1
            counts[name] = left > 0 ? left : nil
        }
    }

    func isFull(_ name: String) -> Bool {
        open.withLock { counts in counts[name, default: 0] >= Self.perSprite || counts.values.reduce(0, +) >= Self.total }
    }
}

struct FsWatchSession {
    let fleet: Fleet
    let name: String
    let inbound: WebSocketInboundStream
    let outbound: WebSocketOutboundWriter

    static let maxWatchesPerConnection = 4096
    /// How often an idle connection looks for events: their latency at most.
    static let idlePoll: Duration = .milliseconds(100)
    /// Paths in one subscribe message.
    static let maxPathsPerMessage = 64
    /// How often the connection checks that the sprite still has the disk it watches.
    static let diskCheck: Duration = .seconds(1)

    /// The sprite's disk was replaced (a restore) or the sprite deleted: the watch sees a disk that is gone.
    struct DiskReplaced: Error {
        let reason: String
    }

    func run() async throws {
        let watch = try await fleet.withFiles(name) { files in
            try FileWatch(files: files, maxWatches: Self.maxWatchesPerConnection)
        }
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await streamEvents(watch) }
                group.addTask { try await readRequests(watch) }
                // Either ending (the client leaving, the connection failing) ends both.
                _ = try await group.next()
                group.cancelAll()
            }
        } catch let replaced as DiskReplaced {
            try await outbound.close(.init(codeNumber: 1012), reason: replaced.reason)
        }
    }

    /// Throws DiskReplaced when `files` (fresh from withFiles) is not the tree `watch` was made on.
    private func checkSameDisk(_ files: RootedDirectory, _ watch: FileWatch) throws {
        guard files.isSameTree(as: watch.files) else {
            throw DiskReplaced(reason: "sprite \(name)'s disk was replaced (restored): reconnect to watch it")
        }
    }

    /// Between events: is the disk watched still the sprite's? A restore under way is waited out.
    private func checkDisk(_ watch: FileWatch) async throws {
        do {
            try await fleet.withFiles(name) { files in try checkSameDisk(files, watch) }
        } catch let error as HobError where error.code == .notFound {
            throw DiskReplaced(reason: "sprite \(name) was deleted")
        } catch let error as HobError where error.code == .unavailable {
            return  // being restored: the next check sees the result
        }
    }

    private func streamEvents(_ watch: FileWatch) async throws {
        let clock = ContinuousClock()
        var nextDiskCheck = clock.now + Self.diskCheck
        while !Task.isCancelled {
            if clock.now >= nextDiskCheck {
                try await checkDisk(watch)
                nextDiskCheck = clock.now + Self.diskCheck
            }
            // Never a blocking wait on a shared thread: look (no wait), and sleep when idle.
            let notices = try await offload { try watch.next(timeoutMs: 0) }
            if notices.isEmpty {
                try await Task.sleep(for: Self.idlePoll)
                continue
            }
            for notice in notices {
                let message: FsWatchMessage
                switch notice {
                case .change(let change):
                    message = FsWatchMessage(
                        type: "event", path: change.path, event: change.kind.rawValue, timestamp: Timestamp.format(Date()), size: change.size,
                        isDir: change.isDirectory)
                case .overflow:
                    message = FsWatchMessage(type: "error", message: "events were lost: the client read too slowly or too much changed at once")
                case .limitReached(let path):
                    message = FsWatchMessage(
                        type: "error", path: path,
                        message: "not every directory under \(path) is watched: the limit of \(Self.maxWatchesPerConnection) per connection is reached")
                }
                try await send(message)
            }
        }
    }

    private func readRequests(_ watch: FileWatch) async throws {
        for try await message in inbound.messages(maxSize: 1 << 16) {
            guard case .text(let text) = message else { continue }
            guard let request = try? JSONDecoder().decode(FsWatchRequest.self, from: Data(text.utf8)) else {
                try await send(FsWatchMessage(type: "error", message: "expected a JSON object with a type: subscribe or unsubscribe"))
                continue
            }
            var paths = request.paths ?? []
            if let one = request.path { paths.append(one) }
            switch request.type {
            case "subscribe", "watch":
                try await subscribe(paths, recursive: request.recursive ?? false, workingDir: request.workingDir, watch: watch)
            case "unsubscribe", "unwatch":
                let rooted = paths.compactMap { try? FsQuery.rooted($0, "path", workingDir: request.workingDir) }
                for path in rooted { watch.unsubscribe(path) }
                try await send(FsWatchMessage(type: "unsubscribed", paths: rooted.map(\.description)))
            default:
                try await send(FsWatchMessage(type: "error", message: "unknown message type \"\(request.type)\": expected subscribe or unsubscribe"))
            }
        }
    }

    private func subscribe(_ paths: [String], recursive: Bool, workingDir: String?, watch: FileWatch) async throws {
        guard !paths.isEmpty, paths.count <= Self.maxPathsPerMessage else {
            return try await send(FsWatchMessage(type: "error", message: "subscribe needs 1 to \(Self.maxPathsPerMessage) paths"))
        }
        var watched: [String] = []
        for raw in paths {
            do {
                let path = try FsQuery.rooted(raw, "path", workingDir: workingDir)
                let skipped = try await fleet.withFiles(name) { files in
                    try checkSameDisk(files, watch)
                    return try await offload { try watch.subscribe(path, recursive: recursive) }
                }
                watched.append(path.description)
                if skipped > 0 {
                    try await send(
                        FsWatchMessage(
                            type: "error", path: path.description,
                            message: "\(skipped) directories under \(path.description) are not watched: the limit of \(Self.maxWatchesPerConnection) per connection is reached"))
                }
            } catch let replaced as DiskReplaced {
                throw replaced
            } catch {
                try await send(FsWatchMessage(type: "error", path: raw, message: APIError.map(error).1.message))
            }
        }
        try await send(FsWatchMessage(type: "subscribed", paths: watched))
    }

    private func send(_ message: FsWatchMessage) async throws {
        try await outbound.write(.text(WatchRoutes.text(message)))
    }
}

extension WatchRoutes {
    /// Decides an `fs/watch` upgrade (its token already checked): the sprite (which need not be
    /// running) and a free slot, so that each refusal is an HTTP error.
    func filesHandler(name: String) async throws -> WebSocketDataHandler<UpgradedRequest> {
        _ = try await fleet.record(name)
        guard !files.isFull(name) else {
            throw HobError(.rateLimited, "too many fs/watch connections (at most \(FsWatchLimits.perSprite) per sprite, \(FsWatchLimits.total) in all)")
        }
        let limits = files
        return { inbound, outbound, _ in
            guard limits.take(name) else {
                try await outbound.close(.init(codeNumber: 1013), reason: "too many fs/watch connections; retry later")
                return
            }
            defer { limits.give(name) }
            try await FsWatchSession(fleet: fleet, name: name, inbound: inbound, outbound: outbound).run()
        }
    }
}
