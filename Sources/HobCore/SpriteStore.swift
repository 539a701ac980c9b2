// What the Fleet persists about a sprite, and the protocol of the store that keeps it.
// The GRDB implementation lives in HobStore; tests may use another.
import Foundation
import HobAgentProtocol
import HobAPI

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
    /// When it last started running (booted or woke), and last fell asleep (`warm`).
    public var lastRunningAt: Date?
    public var lastWarmingAt: Date?
    /// Idle seconds before it sleeps (`warm`) and before it stops (`cold`); nil takes the
    /// daemon's default, 0 means never.
    public var idleTimeout: Int?
    public var coldTimeout: Int?
    /// Set when a destroy has begun; a restart finishes it.
    public var destroying: Bool
    /// The checkpoint the live disk descends from (the last one taken or restored).
    public var head: String
    /// Number of the next `vN` checkpoint, and of the next `auto-N` one.
    public var nextVersion: Int
    public var nextAuto: Int
    /// Set while a restore swaps the disk: the checkpoint being restored. A restart completes it.
    public var restoring: String?
    /// What its processes may ask of the kernel (`policy/privileges`).
    public var privileges: SpritePrivileges
    /// Which names it may resolve and reach (`policy/network`); no rules: unrestricted.
    public var networkPolicy: NetworkPolicy
    /// The runtime that runs it (`RuntimeCapabilities.name`), chosen at create and kept.
    public var runtime: String

    public init(
        id: String, name: String, slot: Int, ramMB: Int, cpus: Double, storageGB: Int, region: String,
        environment: [String: String], labels: [String], urlAuth: String, urlPrivateAccess: String?,
        createdAt: Date, updatedAt: Date, lastRunningAt: Date? = nil, lastWarmingAt: Date? = nil,
        idleTimeout: Int? = nil, coldTimeout: Int? = nil, destroying: Bool = false,
        head: String = "v0", nextVersion: Int = 1, nextAuto: Int = 1, restoring: String? = nil,
        privileges: SpritePrivileges = .standard, networkPolicy: NetworkPolicy = .unrestricted,
        runtime: String = NamespaceRuntime.name
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
        self.lastWarmingAt = lastWarmingAt
        self.idleTimeout = idleTimeout
        self.coldTimeout = coldTimeout
        self.destroying = destroying
        self.head = head
        self.nextVersion = nextVersion
        self.nextAuto = nextAuto
        self.restoring = restoring
        self.privileges = privileges
        self.networkPolicy = networkPolicy
        self.runtime = runtime
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

/// A keep-awake hold a sprite placed on itself (`/v1/tasks` on the in-sprite API).
public struct SpriteTaskRecord: Sendable, Equatable {
    public var spriteID: String
    public var name: String
    public var startedAt: Date
    public var expiresAt: Date

    public init(spriteID: String, name: String, startedAt: Date, expiresAt: Date) {
        self.spriteID = spriteID
        self.name = name
        self.startedAt = startedAt
        self.expiresAt = expiresAt
    }
}

/// A service a sprite runs (SPRITES-API.md §8). The definition and whether it should run live
/// here, so a stop is sticky across a cold boot; hob-init supervises the process.
public struct ServiceRecord: Sendable, Equatable {
    public var spriteID: String
    public var name: String
    public var cmd: String
    public var args: [String]
    public var needs: [String]
    public var httpPort: Int?
    public var environment: [String: String]
    /// Working directory; nil runs it in `/`.
    public var directory: String?
    /// False after a stop, until the next start or update.
    public var wanted: Bool
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        spriteID: String, name: String, cmd: String, args: [String] = [], needs: [String] = [], httpPort: Int? = nil,
        environment: [String: String] = [:], directory: String? = nil, wanted: Bool = true, createdAt: Date, updatedAt: Date
    ) {
        self.spriteID = spriteID
        self.name = name
        self.cmd = cmd
        self.args = args
        self.needs = needs
        self.httpPort = httpPort
        self.environment = environment
        self.directory = directory
        self.wanted = wanted
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// What a sprite has used over its life (metering). CPU and memory accrue only while it runs.
public struct UsageRecord: Sendable, Equatable {
    public var spriteID: String
    public var cpuMicros: Int64 = 0
    /// Memory in use integrated over running time; divided by `runningSeconds` it is the average.
    public var memoryByteSeconds: Double = 0
    public var memoryPeakBytes: Int64 = 0
    public var runningSeconds: Double = 0
    public var warmSeconds: Double = 0
    /// Bookkeeping that lets a restarted daemon continue counting an adopted sprite: the boot the
    /// counters below belong to (`pid:starttime` of its init), the CPU counter of that boot's
    /// cgroup already added to `cpuMicros`, and the wall time seconds were counted up to.
    public var boot: String = ""
    public var countedCPUMicros: Int64 = 0
    public var countedUntil: Date?

    public init(spriteID: String) { self.spriteID = spriteID }

    /// Adds another record's totals (for the host total and destroyed sprites).
    public mutating func add(_ other: UsageRecord) {
        cpuMicros += other.cpuMicros
        memoryByteSeconds += other.memoryByteSeconds
        memoryPeakBytes = max(memoryPeakBytes, other.memoryPeakBytes)
        runningSeconds += other.runningSeconds
        warmSeconds += other.warmSeconds
    }
}

public protocol SpriteStore: Sendable {
    /// Throws HobError(.exists) when the name is taken.
    func insert(_ sprite: SpriteRecord) async throws
    func update(_ sprite: SpriteRecord) async throws
    /// Sets only `lastRunningAt`, so a boot never overwrites a concurrent update of other fields.
    func recordRunning(id: String, at date: Date) async throws
    /// Sets only `lastWarmingAt`.
    func recordWarming(id: String, at date: Date) async throws
    /// Deletes the sprite with its checkpoints, tasks and services, and adds its usage (the latest, when
    /// given, else the stored one) to the host's retired total, in one transaction.
    func delete(id: String, usage: UsageRecord?) async throws
    func allSprites() async throws -> [SpriteRecord]

    /// Inserts a new sprite together with its first checkpoints (v0).
    func insert(_ sprite: SpriteRecord, checkpoints: [CheckpointRecord]) async throws
    /// In one transaction: sets the sprite's checkpoint fields (and nothing else of its row, so a
    /// concurrent update or destroy mark is never overwritten), inserts and deletes checkpoints.
    func saveCheckpoints(spriteID: String, state: CheckpointState, inserting: [CheckpointRecord], deleting: [String]) async throws
    /// Every checkpoint of every sprite, oldest first.
    func allCheckpoints() async throws -> [CheckpointRecord]

    /// Creates or replaces a task (by sprite and name).
    func saveTask(_ task: SpriteTaskRecord) async throws
    func deleteTasks(spriteID: String, names: [String]) async throws
    func allTasks() async throws -> [SpriteTaskRecord]

    /// Creates or replaces a service (by sprite and name).
    func saveService(_ service: ServiceRecord) async throws
    func deleteService(spriteID: String, name: String) async throws
    func allServices() async throws -> [ServiceRecord]

    /// Creates or replaces usage records.
    func saveUsage(_ records: [UsageRecord]) async throws
    func allUsage() async throws -> [UsageRecord]
    /// The sum of the usage of every destroyed sprite.
    func retiredUsage() async throws -> UsageRecord
}
