// What the Fleet persists about a sprite, and the protocol of the store that keeps it.
// The GRDB implementation lives in HobStore; tests may use another.
import Foundation

public struct SpriteRecord: Sendable, Equatable {
    public var id: String
    public var name: String
    /// Index of the sprite's host uid range and IP address; unique among live sprites.
    public var slot: Int
    public var ramMB: Int
    public var cpus: Double
    public var storageGB: Int
    public var region: String
    public var environment: [String: String]
    public var labels: [String]
    public var urlAuth: String
    public var urlPrivateAccess: String?
    public var createdAt: Date
    public var updatedAt: Date
    public var lastRunningAt: Date?
    /// Set when a destroy has begun; a restart finishes it.
    public var destroying: Bool
    /// The checkpoint the live disk descends from (the last one taken or restored).
    public var head: String
    /// Number of the next `vN` checkpoint, and of the next `auto-N` one.
    public var nextVersion: Int
    public var nextAuto: Int
    /// Set while a restore swaps the disk: the checkpoint being restored. A restart completes it.
    public var restoring: String?

    public init(
        id: String, name: String, slot: Int, ramMB: Int, cpus: Double, storageGB: Int, region: String,
        environment: [String: String], labels: [String], urlAuth: String, urlPrivateAccess: String?,
        createdAt: Date, updatedAt: Date, lastRunningAt: Date? = nil, destroying: Bool = false,
        head: String = "v0", nextVersion: Int = 1, nextAuto: Int = 1, restoring: String? = nil
    ) {
        self.id = id
        self.name = name
        self.slot = slot
        self.ramMB = ramMB
        self.cpus = cpus
        self.storageGB = storageGB
        self.region = region
        self.environment = environment
        self.labels = labels
        self.urlAuth = urlAuth
        self.urlPrivateAccess = urlPrivateAccess
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.lastRunningAt = lastRunningAt
        self.destroying = destroying
        self.head = head
        self.nextVersion = nextVersion
        self.nextAuto = nextAuto
        self.restoring = restoring
    }
}

/// A read-only checkpoint of a sprite's disk.
public struct CheckpointRecord: Sendable, Equatable {
    public var spriteID: String
    /// `v0`, `v1`, … or `auto-1`, `auto-2`, … (taken before each restore).
    public var id: String
    public var createdAt: Date
    public var comment: String
    public var isAuto: Bool
    /// Lineage, nearest first: the checkpoint the sprite was on when this one was taken, then its
    /// history. Kept as written, so deleting an ancestor does not rewrite its descendants.
    public var history: [String]
    /// The read-only subvolume, relative to the pool root: `sprites/<id>/ckpt/<name>`, or
    /// `images/<image>` for the v0 of a sprite created from a base image.
    public var volume: String

    public init(spriteID: String, id: String, createdAt: Date, comment: String, isAuto: Bool, history: [String], volume: String) {
        self.spriteID = spriteID
        self.id = id
        self.createdAt = createdAt
        self.comment = comment
        self.isAuto = isAuto
        self.history = history
        self.volume = volume
    }
}

/// The checkpoint fields of a sprite row, written together with checkpoint rows in one transaction.
public struct CheckpointState: Sendable, Equatable {
    public var head: String
    public var nextVersion: Int
    public var nextAuto: Int
    public var restoring: String?

    public init(_ r: SpriteRecord) {
        head = r.head
        nextVersion = r.nextVersion
        nextAuto = r.nextAuto
        restoring = r.restoring
    }
}


public protocol SpriteStore: Sendable {
    /// Throws HobError(.exists) when the name is taken.
    func insert(_ sprite: SpriteRecord) async throws
    func update(_ sprite: SpriteRecord) async throws
    /// Sets only `lastRunningAt`, so a boot never overwrites a concurrent update of other fields.
    func recordRunning(id: String, at date: Date) async throws
    func delete(id: String) async throws
    func allSprites() async throws -> [SpriteRecord]

    /// Inserts a new sprite together with its first checkpoints (v0).
    func insert(_ sprite: SpriteRecord, checkpoints: [CheckpointRecord]) async throws
    /// In one transaction: sets the sprite's checkpoint fields (and nothing else of its row, so a
    /// concurrent update or destroy mark is never overwritten), inserts and deletes checkpoints.
    func saveCheckpoints(spriteID: String, state: CheckpointState, inserting: [CheckpointRecord], deleting: [String]) async throws
    /// Every checkpoint of every sprite, oldest first.
    func allCheckpoints() async throws -> [CheckpointRecord]
}
