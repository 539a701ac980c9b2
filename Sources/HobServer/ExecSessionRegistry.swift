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
        /// Bumped whenever a client connects; a disconnect timer only fires if nobody came since it was set.
        var generation = 0
    }

    private let entries = Mutex<[Key: Entry]>([:])

    /// A session was started (replaces anything left from an earlier process with the same PID).
    func started(_ key: Key, rows: Int, cols: Int, afterDisconnect: RunAfterDisconnect) {
        entries.withLock { $0[key] = Entry(rows: rows, cols: cols, afterDisconnect: afterDisconnect) }
    }

    /// A client attached: pending disconnect timers no longer apply.
    func attached(_ key: Key) -> Entry? {
        entries.withLock { all in
            guard var entry = all[key] else { return nil }
            entry.generation += 1
            all[key] = entry
            return entry
        }
    }

    func resized(_ key: Key, rows: Int, cols: Int) {
        entries.withLock { all in
            guard var entry = all[key] else { return }
            entry.rows = rows
            entry.cols = cols
            all[key] = entry
        }
    }

    func entry(_ key: Key) -> Entry? { entries.withLock { $0[key] } }

    func ended(_ key: Key) {
        _ = entries.withLock { $0.removeValue(forKey: key) }
    }

    /// A client left a running session: after the session's allowance, if no client came back in the meantime and
    /// none is attached, it is terminated (TERM, then KILL two seconds later).
    func clientLeft(_ key: Key, fleet: Fleet) {
        guard let entry = entries.withLock({ $0[key] }), case .limit(let allowance) = entry.afterDisconnect else { return }
        let generation = entry.generation
        Task {
            try? await Task.sleep(for: allowance)
            guard entries.withLock({ $0[key]?.generation }) == generation else { return }
            await self.terminateIfDetached(key, fleet: fleet)
        }
    }

    private func terminateIfDetached(_ key: Key, fleet: Fleet) async {
        // A sprite that went to sleep has its sessions frozen; they are not running, so nothing is due.
        guard let running = try? await fleet.awake(key.sprite),
            case .sessions(let list) = try? await AgentClient.request(socketPath: running.agentSocket, .listSessions),
            let session = list.first(where: { $0.id == key.session }), !session.exited, !session.isActive
        else { return }
        _ = try? await AgentClient.request(socketPath: running.agentSocket, .kill(sessionID: key.session, signal: SIGTERM))
        try? await Task.sleep(for: .seconds(2))
        _ = try? await AgentClient.request(socketPath: running.agentSocket, .kill(sessionID: key.session, signal: SIGKILL))
        ended(key)
    }
}
