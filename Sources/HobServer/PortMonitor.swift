// Port events for the `ports/watch` WebSocket and the exec WebSocket's `port_opened` /
// `port_closed` messages (AsyncAPI `PortNotificationMessage`, SPRITES-API.md §18).
//
// Design: the daemon polls, from the host, the sprite's network namespace's listening sockets
// (a LISTEN-only sock_diag dump in the namespace of the sprite's init, see HobOS ListeningSockets)
// every `interval`, only while someone watches that sprite: one poller per sprite, shared by all
// its watchers, so a sprite with no watcher costs nothing (a watch outlives its last watcher by
// `linger`, so that back-to-back execs share one instead of each setting one up). A poll costs
// about 0.1 ms; a socket's owner (pid, and the chain of its ancestors, to tell which exec session
// it belongs to) is looked up once, when it appears. Polling from the host (not an agent hook,
// nor socket events, which Linux does not offer for listen(2)) keeps hob-init and the agent
// protocol unchanged, and sees every listener whichever way it was made; the price is up to
// `interval` of latency and missing a port that opens and closes between two polls.
//
// Events are per port: `port_opened` when a port goes from no listener to one (say 0.0.0.0:3000
// or [::]:3000), `port_closed` when its last listener goes. `address` is the bound address of its
// first listener ("0.0.0.0", "::", "127.0.0.1"), as sprites-go documents it; the AsyncAPI calls it
// a proxy URL, which Hob has none of per port (reach a port through the proxy WebSocket).
// `pid` is the owner's pid as the sprite sees it.
import Foundation
import Glibc
import HobCore
import HobOS
import Logging

/// A port being listened on in a sprite.
struct OpenPort: Sendable, Equatable {
    var port: UInt16
    var address: String
    /// The owner's pid in the sprite, 0 if no process of the sprite holds the socket.
    var pid: Int32
    /// The owner and its ancestors, pids in the sprite, nearest first: which sessions it is part of.
    var lineage: [Int32]
    /// Whether the owner was looked for. An exec session's watch does not look for the owners of
    /// the sockets already there when it starts (they cannot be the new session's, and the
    /// lookup reads every process's descriptors); a `ports/watch` snapshot does.
    var ownerLooked = true

    func belongs(toSession id: UInt32) -> Bool { id != 0 && lineage.contains(Int32(bitPattern: id)) }
}

enum PortChange: Sendable, Equatable {
    case opened(OpenPort)
    case closed(OpenPort)

    var port: OpenPort {
        switch self {
        case .opened(let p), .closed(let p): p
        }
    }
}

actor PortMonitor {
    let fleet: Fleet
    let logger: Logger
    let interval: Duration
    /// How long a watch keeps polling after its last subscriber left.
    let linger: Duration

    /// The pollers, by sprite id.
    private var watches: [String: SpriteWatch] = [:]
    private var nextToken = 0

    init(fleet: Fleet, logger: Logger, interval: Duration = .milliseconds(500), linger: Duration = .seconds(10)) {
        self.fleet = fleet
        self.logger = logger
        self.interval = interval
        self.linger = linger
    }

    final class SpriteWatch {
        let running: RunningSprite
        /// /proc/<init pid> of the sprite, open: it stays tied to that process, so a recycled pid
        /// can never show another process's sockets. Closed when the last reference goes: a scan
        /// still running when the watch ends keeps it open (a closed number could be reused).
        let procDirectory: Descriptor
        var sockets: [UInt64: OpenPort] = [:]
        var subscribers: [Int: AsyncStream<PortChange>.Continuation] = [:]
        var poller: Task<Void, Never>?
        /// Ends the watch once `linger` has passed with no subscriber.
        var ending: Task<Void, Never>?
        /// Tells this watch from a later one of the same sprite.
        let generation: Int

        init(running: RunningSprite, procDirectory: Descriptor, generation: Int) {
            self.running = running
            self.procDirectory = procDirectory
            self.generation = generation
        }

        /// Open ports, one entry per port (its first listener).
        var ports: [UInt16: OpenPort] {
            var ports: [UInt16: OpenPort] = [:]
            for inode in sockets.keys.sorted() {
                guard let open = sockets[inode], ports[open.port] == nil else { continue }
                ports[open.port] = open
            }
            return ports
        }
    }

    struct Subscription: Sendable {
        let spriteID: String
        let token: Int
        /// Ports open when the subscription began, by port number.
        let snapshot: [OpenPort]
        /// Changes after the snapshot; ends when the sprite stops.
        let changes: AsyncStream<PortChange>
    }

    /// Starts watching the ports of sprite `id`, running as `running`. Call `unsubscribe` after.
    /// `snapshot`: the caller reports the ports already open, so their owners are looked up.
    func subscribe(spriteID id: String, running: RunningSprite, snapshot: Bool) async throws -> Subscription {
        let watch: SpriteWatch
        if let existing = watches[id], existing.running == running {
            watch = existing
            watch.ending?.cancel()
            watch.ending = nil
            // A snapshot must be now, not as of the last poll: look again, telling the current
            // subscribers what changed. An exec session needs none: a socket its processes open
            // is new to the next poll whenever it opens, and is attributed to it by its owner.
            if snapshot, let now = try? await scan(watch, spriteID: id, lookUpAll: true), watches[id] === watch { apply(now, to: watch) }
        } else {
            if let stale = watches.removeValue(forKey: id) { end(stale) }
            guard let fd = Descriptor.open(host: "/proc/\(running.pid)", O_RDONLY | O_DIRECTORY),
                SpriteProcess.startTime(of: running.pid) == running.startTime
            else { throw HobError(.unavailable, "the sprite stopped; retry") }
            nextToken += 1
            watch = SpriteWatch(running: running, procDirectory: fd, generation: nextToken)
            watches[id] = watch
            do {
                watch.sockets = try await scan(watch, spriteID: id, lookUpAll: snapshot, initial: true)
            } catch {
                if watches[id] === watch { watches[id] = nil }
                end(watch)
                throw HobError(.unavailable, "the sprite stopped; retry", cause: error)
            }
            // Another subscriber may have arrived meanwhile and found this watch (it shares it),
            // or it may have ended (the last subscriber left, a poll found the sprite gone).
            guard watches[id] === watch else { throw HobError(.unavailable, "the sprite stopped; retry") }
            let generation = watch.generation
            watch.poller = Task { [weak self] in await self?.poll(id, generation: generation) }
        }
        // The scans above awaited: the watch may have ended meanwhile, and a subscriber added to it
        // would never hear of the sprite again.
        guard watches[id] === watch else { throw HobError(.unavailable, "the sprite stopped; retry") }
        nextToken += 1
        let token = nextToken
        let (changes, continuation) = AsyncStream<PortChange>.makeStream(bufferingPolicy: .bufferingNewest(1024))
        watch.subscribers[token] = continuation
        return Subscription(spriteID: id, token: token, snapshot: watch.ports.values.sorted { $0.port < $1.port }, changes: changes)
    }

    func unsubscribe(_ subscription: Subscription) {
        let id = subscription.spriteID
        guard let watch = watches[id] else { return }
        watch.subscribers.removeValue(forKey: subscription.token)?.finish()
        guard watch.subscribers.isEmpty else { return }
        watch.ending?.cancel()
        let (linger, generation) = (self.linger, watch.generation)
        watch.ending = Task { [weak self] in
            try? await Task.sleep(for: linger)
            guard !Task.isCancelled else { return }
            await self?.endIfUnused(id, generation: generation)
        }
    }

    private func endIfUnused(_ id: String, generation: Int) {
        guard let watch = watches[id], watch.generation == generation, watch.subscribers.isEmpty else { return }
        watches[id] = nil
        end(watch)
    }

    private func end(_ watch: SpriteWatch) {
        watch.ending?.cancel()
        watch.poller?.cancel()
        for continuation in watch.subscribers.values { continuation.finish() }
        watch.subscribers = [:]
    }

    private func poll(_ id: String, generation: Int) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            guard !Task.isCancelled, let watch = watches[id], watch.generation == generation else { return }
            let now: [UInt64: OpenPort]
            do {
                now = try await scan(watch, spriteID: id)
            } catch {
                // The sprite stopped (its init is gone): its watchers' streams end.
                logger.debug("port watch ends", metadata: ["sprite": "\(id)", "error": "\(error)"])
                if watches[id] === watch { watches[id] = nil }
                end(watch)
                return
            }
            guard watches[id] === watch else { return }
            apply(now, to: watch)
        }
    }

    private func apply(_ sockets: [UInt64: OpenPort], to watch: SpriteWatch) {
        let before = watch.ports
        watch.sockets = sockets
        for change in Self.changes(from: before, to: watch.ports) {
            for continuation in watch.subscribers.values { continuation.yield(change) }
        }
    }

    /// Reads the listening sockets, keeping what is known of sockets already seen and finding
    /// the owners of new ones. Runs its blocking reads off the actor.
    private func scan(_ watch: SpriteWatch, spriteID id: String, lookUpAll: Bool = false, initial: Bool = false) async throws -> [UInt64: OpenPort] {
        let known = watch.sockets
        let fd = watch.procDirectory
        let initPID = watch.running.pid
        let fleet = self.fleet
        return try await offload {
            let sockets = try withExtendedLifetime(fd) { try ListeningSockets.read(procDirectory: fd.raw) }
            var result: [UInt64: OpenPort] = [:]
            var fresh: Set<UInt64> = []
            for socket in sockets {
                if let seen = known[socket.inode], seen.port == socket.port, seen.ownerLooked || !lookUpAll {
                    result[socket.inode] = seen
                } else {
                    let look = lookUpAll || !initial
                    result[socket.inode] = OpenPort(port: socket.port, address: socket.address, pid: 0, lineage: [], ownerLooked: look)
                    if look { fresh.insert(socket.inode) }
                }
            }
            guard !fresh.isEmpty else { return result }
            let owners = ListeningSockets.owners(of: fresh, among: fleet.processes(ofSprite: id))
            for (inode, hostPID) in owners {
                let lineage = ProcessLineage.chain(from: hostPID, spriteInit: initPID)
                result[inode]?.pid = lineage.first ?? 0
                result[inode]?.lineage = lineage
            }
            return result
        }
    }

    /// Per-port changes between two sets of open ports, in port order.
    static func changes(from before: [UInt16: OpenPort], to after: [UInt16: OpenPort]) -> [PortChange] {
        var changes: [PortChange] = []
        for port in Set(before.keys).union(after.keys).sorted() {
            switch (before[port], after[port]) {
            case (nil, let opened?): changes.append(.opened(opened))
            case (let closed?, nil): changes.append(.closed(closed))
            default: continue
            }
        }
        return changes
    }
}
