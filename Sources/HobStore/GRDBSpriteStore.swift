// Store: sprite metadata in SQLite (WAL) through GRDB, with versioned migrations.
// The database is the source of truth for metadata; the pool is the truth for data.
import Foundation
import GRDB
import HobCore

public final class GRDBSpriteStore: SpriteStore {
    let db: any DatabaseWriter

    /// Opens (creating and migrating) the database at `path`.
    public init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        db = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator.migrate(db)
    }

    /// An in-memory store, for tests.
    public init() throws {
        db = try DatabaseQueue()
        try Self.migrator.migrate(db)
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1: sprites") { db in
            try db.create(table: "sprite") { t in
                t.primaryKey("id", .text)
                t.column("name", .text).notNull().unique()
                t.column("slot", .integer).notNull().unique()
                t.column("ramMB", .integer).notNull()
                t.column("cpus", .double).notNull()
                t.column("storageGB", .integer).notNull()
                t.column("region", .text).notNull()
                t.column("environment", .text).notNull()  // JSON object
                t.column("labels", .text).notNull()  // JSON array
                t.column("urlAuth", .text).notNull()
                t.column("urlPrivateAccess", .text)
                t.column("createdAt", .datetime).notNull()
                t.column("updatedAt", .datetime).notNull()
                t.column("lastRunningAt", .datetime)
                t.column("destroying", .boolean).notNull().defaults(to: false)
            }
        }
        return m
    }

    public func insert(_ sprite: SpriteRecord) async throws {
        do {
            try await db.write { db in try Row(sprite).insert(db) }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT && (error.message ?? "").contains("sprite.name") {
            throw HobError(.exists, "a sprite named \(sprite.name) already exists", cause: error)
        }
    }

    public func update(_ sprite: SpriteRecord) async throws {
        try await db.write { db in try Row(sprite).update(db) }
    }

    public func recordRunning(id: String, at date: Date) async throws {
        try await db.write { db in
            try db.execute(sql: "UPDATE sprite SET lastRunningAt = ? WHERE id = ?", arguments: [date, id])
        }
    }

    public func delete(id: String) async throws {
        _ = try await db.write { db in try Row.deleteOne(db, key: id) }
    }

    public func allSprites() async throws -> [SpriteRecord] {
        try await db.read { db in try Row.fetchAll(db) }.map { try $0.record() }
    }

    /// The table row: SpriteRecord with its collections as JSON text.
    struct Row: Codable, FetchableRecord, PersistableRecord {
        static let databaseTableName = "sprite"
        var id: String
        var name: String
        var slot: Int
        var ramMB: Int
        var cpus: Double
        var storageGB: Int
        var region: String
        var environment: String
        var labels: String
        var urlAuth: String
        var urlPrivateAccess: String?
        var createdAt: Date
        var updatedAt: Date
        var lastRunningAt: Date?
        var destroying: Bool

        init(_ s: SpriteRecord) throws {
            id = s.id
            name = s.name
            slot = s.slot
            ramMB = s.ramMB
            cpus = s.cpus
            storageGB = s.storageGB
            region = s.region
            environment = String(decoding: try JSONEncoder().encode(s.environment), as: UTF8.self)
            labels = String(decoding: try JSONEncoder().encode(s.labels), as: UTF8.self)
            urlAuth = s.urlAuth
            urlPrivateAccess = s.urlPrivateAccess
            createdAt = s.createdAt
            updatedAt = s.updatedAt
            lastRunningAt = s.lastRunningAt
            destroying = s.destroying
        }

        func record() throws -> SpriteRecord {
            SpriteRecord(
                id: id, name: name, slot: slot, ramMB: ramMB, cpus: cpus, storageGB: storageGB, region: region,
                environment: try JSONDecoder().decode([String: String].self, from: Data(environment.utf8)),
                labels: try JSONDecoder().decode([String].self, from: Data(labels.utf8)), urlAuth: urlAuth,
                urlPrivateAccess: urlPrivateAccess, createdAt: createdAt, updatedAt: updatedAt, lastRunningAt: lastRunningAt,
                destroying: destroying)
        }
    }
}
