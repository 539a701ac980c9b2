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

    public init(
        id: String, name: String, slot: Int, ramMB: Int, cpus: Double, storageGB: Int, region: String,
        environment: [String: String], labels: [String], urlAuth: String, urlPrivateAccess: String?,
        createdAt: Date, updatedAt: Date, lastRunningAt: Date? = nil, destroying: Bool = false
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
}
