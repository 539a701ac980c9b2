// What the Fleet counts for operators (`/metrics`, docs/OPERATIONS.md), through swift-metrics:
// the daemon bootstraps a Prometheus backend before the Fleet is made; without one (unit tests)
// these are no-ops. Counters only go up for the daemon's lifetime, as Prometheus expects.
import Glibc
import HobAPI
import HobOS
import Metrics

struct FleetMetrics: Sendable {
    let created = Counter(label: "hob_sprites_created_total")
    let destroyed = Counter(label: "hob_sprites_destroyed_total")
    /// Commands started, however they came (exec WebSockets, /control, HTTP exec).
    let execs = Counter(label: "hob_execs_total")
    /// A request found the sprite asleep: warm (thawed) or cold (booted; a new sprite's first
    /// boot counts too).
    let wokeWarm = Counter(label: "hob_wakes_total", dimensions: [("from", "warm")])
    let wokeCold = Counter(label: "hob_wakes_total", dimensions: [("from", "cold")])
    let wakeWarmTime = Timer(label: "hob_wake_seconds", dimensions: [("from", "warm")])
    let wakeColdTime = Timer(label: "hob_wake_seconds", dimensions: [("from", "cold")])
    let checkpointTime = Timer(label: "hob_checkpoint_seconds")
    let restoreTime = Timer(label: "hob_restore_seconds")

    static let limits = ["checkpoint_count", "checkpoint_rate", "pool_space"]

    init() {
        // Every series from the start, at 0: a rate over a series that appears late misses its first events.
        for limit in Self.limits { _ = Counter(label: "hob_quota_refusals_total", dimensions: [("limit", limit)]) }
    }

    /// A call refused because a limit was reached: one of `limits`.
    func refused(_ limit: String) {
        Counter(label: "hob_quota_refusals_total", dimensions: [("limit", limit)]).increment()
    }
}

extension Timer {
    func record(since start: ContinuousClock.Instant) { record(duration: ContinuousClock.now - start) }
}

/// What `/metrics` reads at each scrape: how things stand now.
public struct FleetGauges: Sendable {
    public var sprites: [SpriteStatus: Int] = [:]
    /// The pool's filesystem (statvfs of its mount): size, used, free.
    public var poolSize: Int64?
    public var poolUsed: Int64?
    public var poolFree: Int64?
    /// Bytes all sprites together are charged for, and the most they may be (btrfs simple
    /// quotas; nil without them).
    public var spritesCharged: Int64?
    public var spritesBudget: Int64?
}

extension Fleet {
    /// The API edge says a command started (the Fleet does not see sessions).
    public nonisolated func countExecStarted() { metrics.execs.increment() }

    public func gauges() -> FleetGauges {
        var gauges = FleetGauges()
        for status in SpriteStatus.allCases { gauges.sprites[status] = 0 }
        for record in registered { gauges.sprites[status(of: record), default: 0] += 1 }
        let usage = storage.usage()
        gauges.poolSize = usage.size
        gauges.poolUsed = usage.used
        gauges.poolFree = usage.free
        gauges.spritesCharged = usage.spritesCharged
        gauges.spritesBudget = usage.spritesBudget
        return gauges
    }
}
