// Store: sprite metadata in SQLite (WAL) through GRDB, with versioned migrations.
// The database is the source of truth for metadata; the pool is the truth for data.
import Foundation
import GRDB
import HobAgentProtocol
import HobAPI
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
        m.registerMigration("v2: checkpoints") { db in
            try db.alter(table: "sprite") { t in
                t.add(column: "head", .text).notNull().defaults(to: "v0")
                t.add(column: "nextVersion", .integer).notNull().defaults(to: 1)
                t.add(column: "nextAuto", .integer).notNull().defaults(to: 1)
                t.add(column: "restoring", .text)
            }
            try db.create(table: "checkpoint") { t in
                t.column("spriteID", .text).notNull().references("sprite", onDelete: .cascade)
                t.column("id", .text).notNull()
                t.column("createdAt", .datetime).notNull()
                t.column("comment", .text).notNull()
                t.column("isAuto", .boolean).notNull()
                t.column("history", .text).notNull()  // JSON array
                t.column("volume", .text).notNull()
                t.primaryKey(["spriteID", "id"])
            }
            // Sprites made before checkpoints existed are on v0: the base image they were created
            // from, which was bookworm-v2 for every one of them.
            try db.execute(sql: """
                INSERT INTO checkpoint (spriteID, id, createdAt, comment, isAuto, history, volume)
                SELECT id, 'v0', createdAt, '', 0, '[]', 'images/bookworm-v2' FROM sprite
                """)
        }
        m.registerMigration("v3: lifecycle") { db in
            try db.alter(table: "sprite") { t in
                t.add(column: "lastWarmingAt", .datetime)
                t.add(column: "idleTimeout", .integer)
                t.add(column: "coldTimeout", .integer)
            }
            try db.create(table: "task") { t in
                t.column("spriteID", .text).notNull().references("sprite", onDelete: .cascade)
                t.column("name", .text).notNull()
                t.column("startedAt", .datetime).notNull()
                t.column("expiresAt", .datetime).notNull()
                t.primaryKey(["spriteID", "name"])
            }
            // No foreign key: a destroyed sprite's usage is folded into the retired row
            // (spriteID "") in the same transaction that deletes the sprite.
            try db.create(table: "usage") { t in
                t.primaryKey("spriteID", .text)
                t.column("cpuMicros", .integer).notNull()
                t.column("memoryByteSeconds", .double).notNull()
                t.column("memoryPeakBytes", .integer).notNull()
                t.column("runningSeconds", .double).notNull()
                t.column("warmSeconds", .double).notNull()
                t.column("boot", .text).notNull()
                t.column("countedCPUMicros", .integer).notNull()
                t.column("countedUntil", .datetime)
            }
        }
        m.registerMigration("v4: services") { db in
            try db.create(table: "service") { t in
                t.column("spriteID", .text).notNull().references("sprite", onDelete: .cascade)
                t.column("name", .text).notNull()
                t.column("cmd", .text).notNull()
                t.column("args", .text).notNull()  // JSON array
                t.column("needs", .text).notNull()  // JSON array
                t.column("httpPort", .integer)
                t.column("environment", .text).notNull()  // JSON object
                t.column("directory", .text)
                t.column("wanted", .boolean).notNull()
                t.column("createdAt", .datetime).notNull()
                t.column("updatedAt", .datetime).notNull()
                t.primaryKey(["spriteID", "name"])
            }
        }
        m.registerMigration("v5: privileges") { db in
            try db.alter(table: "sprite") { t in
                t.add(column: "privileges", .text).notNull().defaults(to: SpritePrivileges.standard.argument)
            }
        }
        m.registerMigration("v7: network policy") { db in
            try db.alter(table: "sprite") { t in
                t.add(column: "networkPolicy", .text).notNull().defaults(to: #"{"rules":[]}"#)  // JSON NetworkPolicy
            }
        }
        m.registerMigration("v8: tokens and audit log") { db in
            try db.create(table: "token") { t in
                t.primaryKey("id", .text)
                t.column("description", .text).notNull()
                t.column("caveats", .text).notNull()  // JSON array of caveat texts
                t.column("parent", .text)
                t.column("createdAt", .datetime).notNull()
                t.column("expiresAt", .datetime)
                t.column("revokedAt", .datetime)
            }
            try db.create(table: "event") { t in
                t.autoIncrementedPrimaryKey("seq")
                t.column("time", .datetime).notNull()
                t.column("token", .text).notNull()
                t.column("action", .text).notNull()
                t.column("sprite", .text)
                t.column("status", .integer).notNull()
                t.column("detail", .text)
            }
            try db.create(index: "event_by_sprite", on: "event", columns: ["sprite", "seq"])
            try db.create(index: "event_by_token", on: "event", columns: ["token", "seq"])
        }
        m.registerMigration("v9: secrets") { db in
            try db.create(table: "secret") { t in
                t.primaryKey("name", .text)
                t.column("metadata", .text).notNull()  // JSON: host, scheme, port, header names, access, dates; never a value
                t.column("sealed", .blob).notNull()  // ChaChaPoly box of the secret with its header values (SecretVault)
            }
        }
        m.registerMigration("v10: runtime") { db in
            try db.alter(table: "sprite") { t in
                t.add(column: "runtime", .text).notNull().defaults(to: NamespaceRuntime.name)
            }
        }
        return m
    }

    static let retiredUsageID = ""

    public func insert(_ sprite: SpriteRecord) async throws {
        do {
            try await db.write { db in try Row(sprite).insert(db) }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT && (error.message ?? "").contains("sprite.name") {
            throw HobError(.exists, "a sprite named \(sprite.name) already exists", cause: error)
        }
    }

    /// Writes everything but the checkpoint fields, which only `saveCheckpoints` changes, and the
    /// lifecycle dates, which only `recordRunning` and `recordWarming` change (an update working
    /// from an older copy of the record must not turn them back).
    public func update(_ sprite: SpriteRecord) async throws {
        try await db.write { db in try Row(sprite).update(db, columns: Row.metadataColumns) }
    }

    public func recordRunning(id: String, at date: Date) async throws {
        try await db.write { db in
            try db.execute(sql: "UPDATE sprite SET lastRunningAt = ? WHERE id = ?", arguments: [date, id])
        }
    }

    public func recordWarming(id: String, at date: Date) async throws {
        try await db.write { db in
            try db.execute(sql: "UPDATE sprite SET lastWarmingAt = ? WHERE id = ?", arguments: [date, id])
        }
    }

    public func delete(id: String, usage latest: UsageRecord? = nil) async throws {
        try await db.write { db in
            if let usage = try latest ?? UsageRow.fetchOne(db, key: id)?.record() {
                var retired = try UsageRow.fetchOne(db, key: Self.retiredUsageID)?.record() ?? UsageRecord(spriteID: Self.retiredUsageID)
                retired.add(usage)
                try UsageRow(retired).save(db)
                try UsageRow.deleteOne(db, key: id)
            }
            try Row.deleteOne(db, key: id)
        }
    }

    public func saveTask(_ task: SpriteTaskRecord) async throws {
        try await db.write { db in try TaskRow(task).save(db) }
    }

    public func deleteTasks(spriteID: String, names: [String]) async throws {
        try await db.write { db in
            for name in names {
                try db.execute(sql: "DELETE FROM task WHERE spriteID = ? AND name = ?", arguments: [spriteID, name])
            }
        }
    }

    public func saveService(_ service: ServiceRecord) async throws {
        let row = try ServiceRow(service)
        try await db.write { db in try row.save(db) }
    }

    public func deleteService(spriteID: String, name: String) async throws {
        try await db.write { db in
            try db.execute(sql: "DELETE FROM service WHERE spriteID = ? AND name = ?", arguments: [spriteID, name])
        }
    }

    public func allServices() async throws -> [ServiceRecord] {
        try await db.read { db in try ServiceRow.order(Column("createdAt"), Column("name")).fetchAll(db) }.map { try $0.record() }
    }

    public func allTasks() async throws -> [SpriteTaskRecord] {
        try await db.read { db in try TaskRow.fetchAll(db) }.map { $0.record() }
    }

    public func saveUsage(_ records: [UsageRecord]) async throws {
        guard !records.isEmpty else { return }
        try await db.write { db in
            for r in records where r.spriteID != Self.retiredUsageID {
                // A sprite destroyed meanwhile has had its usage retired: do not bring it back.
                guard try Row.exists(db, key: r.spriteID) else { continue }
                try UsageRow(r).save(db)
            }
        }
    }

    public func allUsage() async throws -> [UsageRecord] {
        try await db.read { db in try UsageRow.filter(Column("spriteID") != Self.retiredUsageID).fetchAll(db) }.map { $0.record() }
    }

    public func retiredUsage() async throws -> UsageRecord {
        try await db.read { db in try UsageRow.fetchOne(db, key: Self.retiredUsageID) }?.record() ?? UsageRecord(spriteID: Self.retiredUsageID)
    }

    public func allSprites() async throws -> [SpriteRecord] {
        try await db.read { db in try Row.fetchAll(db) }.map { try $0.record() }
    }

    public func insert(_ sprite: SpriteRecord, checkpoints: [CheckpointRecord]) async throws {
        do {
            try await db.write { db in
                try Row(sprite).insert(db)
                for c in checkpoints { try CheckpointRow(c).insert(db) }
            }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT && (error.message ?? "").contains("sprite.name") {
            throw HobError(.exists, "a sprite named \(sprite.name) already exists", cause: error)
        }
    }

    public func saveCheckpoints(spriteID: String, state: CheckpointState, inserting: [CheckpointRecord], deleting: [String]) async throws {
        try await db.write { db in
            try db.execute(
                sql: "UPDATE sprite SET head = ?, nextVersion = ?, nextAuto = ?, restoring = ? WHERE id = ?",
                arguments: [state.head, state.nextVersion, state.nextAuto, state.restoring, spriteID])
            guard db.changesCount == 1 else { throw HobError(.notFound, "sprite \(spriteID) is no longer in the database") }
            for c in inserting { try CheckpointRow(c).insert(db) }
            for id in deleting {
                try db.execute(sql: "DELETE FROM checkpoint WHERE spriteID = ? AND id = ?", arguments: [spriteID, id])
            }
        }
    }

    public func allCheckpoints() async throws -> [CheckpointRecord] {
        try await db.read { db in try CheckpointRow.order(Column("createdAt"), Column("rowid")).fetchAll(db) }.map { try $0.record() }
    }

    struct CheckpointRow: Codable, FetchableRecord, PersistableRecord {
        static let databaseTableName = "checkpoint"
        var spriteID: String
        var id: String
        var createdAt: Date
        var comment: String
        var isAuto: Bool
        var history: String
        var volume: String

        init(_ c: CheckpointRecord) throws {
            spriteID = c.spriteID
            id = c.id
            createdAt = c.createdAt
            comment = c.comment
            isAuto = c.isAuto
            history = try jsonText(c.history)
            volume = c.volume
        }

        func record() throws -> CheckpointRecord {
            CheckpointRecord(
                spriteID: spriteID, id: id, createdAt: createdAt, comment: comment, isAuto: isAuto,
                history: try fromJSONText(history), volume: volume)
        }
    }

    struct TaskRow: Codable, FetchableRecord, PersistableRecord {
        static let databaseTableName = "task"
        var spriteID: String
        var name: String
        var startedAt: Date
        var expiresAt: Date

        init(_ t: SpriteTaskRecord) {
            spriteID = t.spriteID
            name = t.name
            startedAt = t.startedAt
            expiresAt = t.expiresAt
        }

        func record() -> SpriteTaskRecord { SpriteTaskRecord(spriteID: spriteID, name: name, startedAt: startedAt, expiresAt: expiresAt) }
    }

    struct ServiceRow: Codable, FetchableRecord, PersistableRecord {
        static let databaseTableName = "service"
        var spriteID: String
        var name: String
        var cmd: String
        var args: String
        var needs: String
        var httpPort: Int?
        var environment: String
        var directory: String?
        var wanted: Bool
        var createdAt: Date
        var updatedAt: Date

        init(_ s: ServiceRecord) throws {
            spriteID = s.spriteID
            name = s.name
            cmd = s.cmd
            args = try jsonText(s.args)
            needs = try jsonText(s.needs)
            httpPort = s.httpPort
            environment = try jsonText(s.environment)
            directory = s.directory
            wanted = s.wanted
            createdAt = s.createdAt
            updatedAt = s.updatedAt
        }

        func record() throws -> ServiceRecord {
            ServiceRecord(
                spriteID: spriteID, name: name, cmd: cmd, args: try fromJSONText(args), needs: try fromJSONText(needs),
                httpPort: httpPort, environment: try fromJSONText(environment), directory: directory, wanted: wanted,
                createdAt: createdAt, updatedAt: updatedAt)
        }
    }

    struct UsageRow: Codable, FetchableRecord, PersistableRecord {
        static let databaseTableName = "usage"
        var spriteID: String
        var cpuMicros: Int64
        var memoryByteSeconds: Double
        var memoryPeakBytes: Int64
        var runningSeconds: Double
        var warmSeconds: Double
        var boot: String
        var countedCPUMicros: Int64
        var countedUntil: Date?

        init(_ u: UsageRecord) {
            spriteID = u.spriteID
            cpuMicros = u.cpuMicros
            memoryByteSeconds = u.memoryByteSeconds
            memoryPeakBytes = u.memoryPeakBytes
            runningSeconds = u.runningSeconds
            warmSeconds = u.warmSeconds
            boot = u.boot
            countedCPUMicros = u.countedCPUMicros
            countedUntil = u.countedUntil
        }

        func record() -> UsageRecord {
            var u = UsageRecord(spriteID: spriteID)
            u.cpuMicros = cpuMicros
            u.memoryByteSeconds = memoryByteSeconds
            u.memoryPeakBytes = memoryPeakBytes
            u.runningSeconds = runningSeconds
            u.warmSeconds = warmSeconds
            u.boot = boot
            u.countedCPUMicros = countedCPUMicros
            u.countedUntil = countedUntil
            return u
        }
    }

    /// The table row: SpriteRecord with its collections as JSON text.
    struct Row: Codable, FetchableRecord, PersistableRecord {
        static let databaseTableName = "sprite"
        static let metadataColumns = [
            "name", "slot", "ramMB", "cpus", "storageGB", "region", "environment", "labels", "urlAuth",
            "urlPrivateAccess", "createdAt", "updatedAt", "idleTimeout", "coldTimeout", "destroying", "privileges",
            "networkPolicy",
        ]
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
        var lastWarmingAt: Date?
        var idleTimeout: Int?
        var coldTimeout: Int?
        var destroying: Bool
        var head: String
        var nextVersion: Int
        var nextAuto: Int
        var restoring: String?
        /// `SpritePrivileges.argument`.
        var privileges: String
        /// `NetworkPolicy` as JSON.
        var networkPolicy: String
        /// Set at create; `update` never writes it.
        var runtime: String

        init(_ s: SpriteRecord) throws {
            id = s.id
            name = s.name
            slot = s.slot
            ramMB = s.ramMB
            cpus = s.cpus
            storageGB = s.storageGB
            region = s.region
            environment = try jsonText(s.environment)
            labels = try jsonText(s.labels)
            urlAuth = s.urlAuth
            urlPrivateAccess = s.urlPrivateAccess
            createdAt = s.createdAt
            updatedAt = s.updatedAt
            lastRunningAt = s.lastRunningAt
            lastWarmingAt = s.lastWarmingAt
            idleTimeout = s.idleTimeout
            coldTimeout = s.coldTimeout
            destroying = s.destroying
            head = s.head
            nextVersion = s.nextVersion
            nextAuto = s.nextAuto
            restoring = s.restoring
            privileges = s.privileges.argument
            networkPolicy = try jsonText(s.networkPolicy)
            runtime = s.runtime
        }

        func record() throws -> SpriteRecord {
            SpriteRecord(
                id: id, name: name, slot: slot, ramMB: ramMB, cpus: cpus, storageGB: storageGB, region: region,
                environment: try fromJSONText(environment),
                labels: try fromJSONText(labels), urlAuth: urlAuth,
                urlPrivateAccess: urlPrivateAccess, createdAt: createdAt, updatedAt: updatedAt, lastRunningAt: lastRunningAt,
                lastWarmingAt: lastWarmingAt, idleTimeout: idleTimeout, coldTimeout: coldTimeout, destroying: destroying, head: head, nextVersion: nextVersion, nextAuto: nextAuto, restoring: restoring,
                privileges: SpritePrivileges(argument: privileges) ?? .standard,
                networkPolicy: try fromJSONText(networkPolicy), runtime: runtime)
        }
    }
}

/// Collections are stored as JSON text columns.
func jsonText(_ value: some Encodable) throws -> String {
    String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
}

func fromJSONText<T: Decodable>(_ text: String) throws -> T {
    try JSONDecoder().decode(T.self, from: Data(text.utf8))
}
