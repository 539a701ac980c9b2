// What the daemon remembers about the exec sessions it started, beyond what hob-init reports: the terminal size
// (for `session_info` on attach) and `max_run_after_disconnect`, the time a session may run once its last client
// has gone (Sprites: TTY sessions forever, others 10 s). Kept in memory: after a daemon restart sessions started
// before it run on without a limit, as they did before the option existed.
import Foundation
import HobAPI
import HobAgentProtocol
import HobCore
import Synchronization

/// How long a session runs after its last client leaves.
enum RunAfterDisconnect: Sendable, Equatable {
    case forever
    case limit(Duration)

    /// Sprites' defaults: a terminal session waits for its user to come back, a command does not.
    static let nonTTYDefault = Duration.seconds(10)

    /// `max_run_after_disconnect`: a duration ("10s", "1m30s", "500ms") or a number of seconds; 0 means forever.
    /// Nil when the parameter is absent; throws for a value that is not a duration.
    static func parse(_ raw: String?) throws -> RunAfterDisconnect? {
        guard let raw, !raw.isEmpty else { return nil }
        guard let ms = DurationText.milliseconds(raw) else {
            throw HobError(
                .invalidArgument, "max_run_after_disconnect must be a duration such as 10s, 1m30s or 0 (forever); got \"\(raw)\"")
        }
        return ms == 0 ? .forever : .limit(.milliseconds(ms))
    }

    static func resolved(_ requested: RunAfterDisconnect?, tty: Bool) -> RunAfterDisconnect {
        requested ?? (tty ? .forever : .limit(nonTTYDefault))
    }
}

final class ExecSessionRegistry: Sendable {
    /// One daemon process, one registry: every route that starts or attaches sessions (exec, attach, /control)
    /// must see the same entries.
    static let shared = ExecSessionRegistry()

    struct Key: Hashable, Sendable {
        let sprite: String
        let session: UInt32
    }

    struct Entry: Sendable {
        var rows = 0
        var cols = 0
        var afterDisconnect = RunAfterDisconnect.forever
        /// Changes whenever a session starts or a client connects; a disconnect timer only fires if its
        /// generation is still current. Taken from one counter for all entries, never reset: a session that
        /// reuses an earlier session's PID must not match that session's pending timer.
        var generation: UInt64 = 0
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        var lastGeneration: UInt64 = 0

        mutating func nextGeneration() -> UInt64 {
            lastGeneration += 1
            return lastGeneration
        }
    }

    private let state = Mutex(State())

    /// A session was started (replaces anything left from an earlier process with the same PID).
    func started(_ key: Key, rows: Int, cols: Int, afterDisconnect: RunAfterDisconnect) {
        state.withLock { state in
            state.entries[key] = Entry(
                rows: rows, cols: cols, afterDisconnect: afterDisconnect, generation: state.nextGeneration())
        }
    }

    /// A client attached: pending disconnect timers no longer apply.
    func attached(_ key: Key) -> Entry? {
        state.withLock { state in
            guard var entry = state.entries[key] else { return nil }
            entry.generation = state.nextGeneration()
            state.entries[key] = entry
            return entry
        }
    }

    func resized(_ key: Key, rows: Int, cols: Int) {
        state.withLock { state in
            guard var entry = state.entries[key] else { return }
            entry.rows = rows
            entry.cols = cols
            state.entries[key] = entry
        }
    }

    func entry(_ key: Key) -> Entry? { state.withLock { $0.entries[key] } }

    func ended(_ key: Key) {
        _ = state.withLock { $0.entries.removeValue(forKey: key) }
    }

    /// Forgets the sprite's sessions that hob-init no longer runs. Sessions that exit while detached with no timer
    /// (`forever`) are noticed by nobody else; every listing of the sprite's sessions prunes them.
    func prune(sprite: String, running live: Set<UInt32>) {
        state.withLock { state in
            state.entries = state.entries.filter { key, _ in key.sprite != sprite || live.contains(key.session) }
        }
    }

    /// True while no session start or client attach has happened on `key` since `generation` was read.
    func isCurrent(_ key: Key, generation: UInt64) -> Bool {
        state.withLock { $0.entries[key]?.generation == generation }
    }

    /// A client left a running session: after the session's allowance, if no client came back in the meantime and
    /// none is attached, it is terminated (TERM, then KILL two seconds later).
    func clientLeft(_ key: Key, fleet: Fleet) {
        guard let entry = entry(key), case .limit(let allowance) = entry.afterDisconnect else { return }
        let generation = entry.generation
        Task {
            try? await Task.sleep(for: allowance)
            guard isCurrent(key, generation: generation) else { return }
            await self.terminateIfDetached(key, generation: generation, fleet: fleet)
        }
    }

    private func terminateIfDetached(_ key: Key, generation: UInt64, fleet: Fleet) async {
        // Every way out forgets the entry unless a client is attached (its route reports when it leaves): a session
        // that is gone, or a sprite that is cold or deleted, has nothing left to time.
        guard let running = try? await fleet.awake(key.sprite),
            case .sessions(let list) = try? await running.agent.request(.listSessions),
            let session = list.first(where: { $0.id == key.session }), !session.exited
        else { return forget(key, generation: generation) }
        guard !session.isActive else { return }
        _ = try? await running.agent.request(.kill(sessionID: key.session, signal: SIGTERM))
        try? await Task.sleep(for: .seconds(2))
        // The PID may have been reused by a session started in these two seconds: KILL only the one we TERMed.
        guard isCurrent(key, generation: generation) else { return }
        _ = try? await running.agent.request(.kill(sessionID: key.session, signal: SIGKILL))
        forget(key, generation: generation)
    }

    /// `ended`, unless the entry now belongs to a newer session or attachment.
    private func forget(_ key: Key, generation: UInt64) {
        state.withLock { state in
            if state.entries[key]?.generation == generation { state.entries[key] = nil }
        }
    }
}
