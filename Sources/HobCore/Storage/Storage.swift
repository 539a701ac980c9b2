// The seam between the Fleet and where sprites' disks live.
//
// A sprite has one writable *disk*; checkpoints and images are read-only *volumes*. The Fleet and
// the database name volumes with the strings this protocol hands out and never look inside them.
// Snapshots are copy-on-write and atomic: a write lands in one whole or not at all.
//
// Implementations: BtrfsStorage (subvolumes and quota groups in a btrfs pool); in tests, an
// in-memory fake. Mutations may block on the disk: implementations do them off the caller's
// thread (the blocking pool), so the Fleet's actor never waits on a disk.
//
// Restore is three steps so a crash at any point can be finished or undone (Fleet+Checkpoints):
// stage the new disk beside the live one, swap them, and at the next start complete a recorded
// restore or abandon an unrecorded one.
import Foundation

public protocol Storage: AnyObject, Sendable {
    // MARK: Disks

    func hasDisk(_ sprite: String) -> Bool
    /// Every sprite that has a disk or anything else in the storage (for reconciliation).
    func diskIDs() -> [String]
    /// Where the sprite's disk is on the host: the file API and the runtime work on it there.
    func diskDirectory(_ sprite: String) -> String
    /// A sprite's disk: a writable snapshot of `volume`, held to `quotaBytes`. With `keepAsV0` the
    /// volume is also kept as the sprite's own checkpoint v0 (a fork from a checkpoint).
    func createDisk(_ sprite: String, from volume: String, keepAsV0: Bool, quotaBytes: Int64) async throws
    /// Deletes the sprite's disk, checkpoints and anything a crash left of them.
    func deleteDisk(_ sprite: String) async throws

    // MARK: Volumes

    func imageVolume(_ image: String) -> String
    /// The sprite's own checkpoint `name` (whether or not it exists yet).
    func checkpointVolume(sprite: String, _ name: String) -> String
    /// Whether `volume` holds data of the sprite's own (not a shared image).
    func owns(_ volume: String, sprite: String) -> Bool
    func hasVolume(_ volume: String) -> Bool
    func deleteVolume(_ volume: String) async throws
    /// Where a volume is on the host (read-only).
    func volumeDirectory(_ volume: String) -> String
    /// A read-only snapshot of the sprite's disk as its checkpoint `name`; a leftover of the same
    /// name is replaced. Returns the volume.
    func snapshotDisk(_ sprite: String, as name: String) async throws -> String
    /// A read-only snapshot of the sprite's disk as the v0 of sprite `other` (a fork of the live
    /// disk). Returns the volume.
    func snapshotDisk(_ sprite: String, intoV0Of other: String) async throws -> String
    /// Names of the sprite's checkpoints that have a volume (for reconciliation).
    func checkpointNames(_ sprite: String) -> [String]

    // MARK: Restore

    /// Step 1: the new disk, a writable snapshot of `volume`, beside the live one.
    func stageRestore(_ sprite: String, from volume: String) async throws
    /// Step 2, once the restore is recorded: the staged disk becomes the live one.
    func swapDisk(_ sprite: String) async throws
    /// After a crash with the restore recorded: finishes it from wherever it stopped.
    func completeRestore(_ sprite: String) async throws
    /// After a crash (or a failure) with no restore recorded: drops a staged disk.
    func abandonRestore(_ sprite: String) async throws

    // MARK: Space

    /// How many bytes each checkpoint holds alone, and the sprite in all beyond `image`. Slow (a
    /// scan): called in the background.
    func measureSpace(_ sprite: String, checkpoints: [(id: String, volume: String)], image: String) async throws -> SpaceReport
    /// Whether per-sprite quotas are enforced.
    var enforcesQuotas: Bool { get }
    /// Puts the sprite's volumes in a quota of `bytes` before any exists (a fork's v0 joins it).
    func prepareQuota(_ sprite: String, bytes: Int64) async throws
    /// Puts an existing sprite under a quota of `bytes` (at start).
    func adoptQuota(_ sprite: String, bytes: Int64) async throws
    /// What the sprite is charged for against its quota; nil without quotas.
    func quotaUsedBytes(_ sprite: String) -> Int64?
    /// Releases quota bookkeeping that destroyed sprites left behind.
    func releaseUnusedQuotas() async
    /// Recomputes what all sprites together may hold from the free space; returns it.
    @discardableResult
    func refreshBudget() async -> Int64?
    /// Bytes sprites may still write before the storage is full for them; nil without quotas.
    func spaceLeftForSprites() -> Int64?
    /// The storage's size and use, for `/metrics`.
    func usage() -> StorageUsage
}

/// The last accounting pass over one sprite.
public struct SpaceReport: Sendable {
    /// Exclusive bytes by checkpoint id.
    public var checkpoints: [String: Int64]
    /// Bytes referenced by the sprite's disk or any of its checkpoints and not by the base image.
    public var total: Int64
    public var rootExclusive: Int64
    public var measuredAt: ContinuousClock.Instant

    public init(checkpoints: [String: Int64], total: Int64, rootExclusive: Int64, measuredAt: ContinuousClock.Instant) {
        self.checkpoints = checkpoints
        self.total = total
        self.rootExclusive = rootExclusive
        self.measuredAt = measuredAt
    }
}

public struct StorageUsage: Sendable, Equatable {
    public var size: Int64?
    public var used: Int64?
    public var free: Int64?
    /// What all sprites together are charged for, and the most they may hold (with quotas).
    public var spritesCharged: Int64?
    public var spritesBudget: Int64?

    public init(size: Int64? = nil, used: Int64? = nil, free: Int64? = nil, spritesCharged: Int64? = nil, spritesBudget: Int64? = nil) {
        self.size = size
        self.used = used
        self.free = free
        self.spritesCharged = spritesCharged
        self.spritesBudget = spritesBudget
    }
}
