// The audit log: every state-changing call and every refused one, with the token, the sprite and
// the outcome, kept in the database across restarts and bounded in size (the oldest go first).
// Recording never waits for the disk: events queue here and are written in batches, so an exec's
// round trip does not carry a SQLite write. A query first waits for what is queued.
import Foundation
import Logging

public actor AuditLog {
    private let store: any AccessStore
    /// Events kept; older ones are deleted.
    public let capacity: Int
    private let logger: Logger
    private var pending: [AuditRecord] = []
    private var writer: Task<Void, Never>?
    private var writtenSinceTrim = 0
    private var dropped = 0

    /// Most events waiting for the disk; beyond it the oldest waiting are dropped (and counted in
    /// the log), so a stuck disk cannot grow the daemon's memory without bound.
    static let maxPending = 10_000

    public init(store: any AccessStore, capacity: Int, logger: Logger) {
        self.store = store
        self.capacity = max(capacity, 1)
        self.logger = logger
    }

    public func record(_ event: AuditRecord) {
        if pending.count >= Self.maxPending {
            pending.removeFirst()
            dropped += 1
        }
        pending.append(event)
        if writer == nil { writer = Task { await self.writePending() } }
    }

    private func writePending() async {
        while !pending.isEmpty {
            let batch = pending
            pending = []
            do {
                try await store.appendEvents(batch)
            } catch {
                logger.error("could not write \(batch.count) audit events: \(error)")
            }
            if dropped > 0 {
                logger.error("dropped \(dropped) audit events: the database did not keep up")
                dropped = 0
            }
            writtenSinceTrim += batch.count
            if writtenSinceTrim >= max(capacity / 100, 100) {
                writtenSinceTrim = 0
                await trimStore()
            }
        }
        writer = nil
    }

    /// Writes what is queued, then deletes all but the newest `capacity` events.
    public func trim() async {
        await flush()
        await trimStore()
    }

    private func trimStore() async {
        do { try await store.trimEvents(keeping: capacity) } catch { logger.error("could not trim the audit log: \(error)") }
    }

    /// Waits until every recorded event is written.
    public func flush() async { await writer?.value }

    public func events(_ query: AuditQuery) async throws -> [AuditRecord] {
        await flush()
        return try await store.events(query)
    }
}
