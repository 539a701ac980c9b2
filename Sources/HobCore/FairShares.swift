// Fair shares: how much of the daemon one sprite may take, so that no sprite can deny the
// daemon, or the host's other sprites, to anyone else. (Kernel resources — memory, CPU, pids,
// PTYs — are bounded by cgroups and hob-init; these are the daemon's own.)
//
// Each value is a `hob serve` flag; docs/API.md lists them and what a client sees at the limit.
public struct FairShareLimits: Sendable, Equatable {
    /// Connections to /.sprite/api.sock one sprite may hold open at once; more are closed as
    /// soon as they are accepted.
    public var apiConnectionsPerSprite: Int = 64
    /// Connections to /.sprite/api.sock from all sprites together.
    public var apiConnectionsTotal: Int = 1024
    /// An in-sprite API connection with no request under way is closed after this long.
    public var apiIdleTimeout: Duration = .seconds(30)
    /// File descriptors only the daemon itself may use: sprite-originated connections are
    /// refused once fewer than this many are free (its own sockets, pidfds, scans and the public
    /// API keep working). At least this, or a tenth of the limit if that is more.
    public var descriptorReserve: Int = 1024

    /// Checkpoints a sprite may keep, not counting automatic ones (`auto-N`) and v0.
    public var checkpointsPerSprite: Int = 100
    /// Checkpoints a sprite may take in a burst, and then one per `checkpointInterval`
    /// (a token bucket, per sprite, shared by the public and in-sprite APIs).
    public var checkpointBurst: Int = 10
    public var checkpointInterval: Duration = .seconds(2)

    /// Live sprite lists (`GET /v1/sprites` as NDJSON) open at once on the public API; each diffs
    /// the whole list twice a second. More get 429 until one closes.
    public var liveListStreams: Int = 256

    /// Audit log entries kept (`GET /v1/events`); the oldest are deleted past it. About 200 bytes
    /// each on disk.
    public var auditEvents: Int = 100_000

    public init() {}

    /// The reserve for a process allowed `limit` descriptors.
    public func reserve(forLimit limit: Int) -> Int { max(descriptorReserve, limit / 10) }
}
