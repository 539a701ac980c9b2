// Tokens and the audit log in the same SQLite database as the sprites (AccessStore).
import Foundation
import GRDB
import HobCore

extension GRDBSpriteStore: AccessStore {
    public func insertToken(_ token: TokenRecord) async throws {
        let row = try TokenRow(token)
        try await db.write { try row.insert($0) }
    }

    public func allTokens() async throws -> [TokenRecord] {
        try await db.read { try TokenRow.order(Column("createdAt")).fetchAll($0) }.map { try $0.record() }
    }

    public func revokeToken(id: String, at date: Date) async throws -> Bool {
        try await db.write { db in
            guard try TokenRow.fetchOne(db, key: id) != nil else { return false }
            try db.execute(sql: "UPDATE token SET revokedAt = COALESCE(revokedAt, ?) WHERE id = ?", arguments: [date, id])
            return true
        }
    }

    public func appendEvents(_ events: [AuditRecord]) async throws {
        try await db.write { db in
            for e in events {
                var row = EventRow(e)
                try row.insert(db)
            }
        }
    }

    public func events(_ q: AuditQuery) async throws -> [AuditRecord] {
        try await db.read { db in
            var request = EventRow.order(Column("seq").desc).limit(q.limit)
            if let sprite = q.sprite { request = request.filter(Column("sprite") == sprite) }
            if let token = q.token { request = request.filter(Column("token") == token) }
            if let before = q.before { request = request.filter(Column("seq") < before) }
            return try request.fetchAll(db).map { $0.record() }
        }
    }

    public func trimEvents(keeping: Int) async throws {
        try await db.write { db in
            try db.execute(
                sql: "DELETE FROM event WHERE seq <= (SELECT seq FROM event ORDER BY seq DESC LIMIT 1 OFFSET ?)", arguments: [keeping])
        }
    }

    struct TokenRow: Codable, FetchableRecord, PersistableRecord {
        static let databaseTableName = "token"
        var id: String
        var description: String
        var caveats: String
        var parent: String?
        var createdAt: Date
        var expiresAt: Date?
        var revokedAt: Date?

        init(_ t: TokenRecord) throws {
            id = t.id
            description = t.description
            caveats = try jsonText(t.caveats)
            parent = t.parent
            createdAt = t.createdAt
            expiresAt = t.expiresAt
            revokedAt = t.revokedAt
        }

        func record() throws -> TokenRecord {
            TokenRecord(
                id: id, description: description, caveats: try fromJSONText(caveats), parent: parent, createdAt: createdAt,
                expiresAt: expiresAt, revokedAt: revokedAt)
        }
    }

    struct EventRow: Codable, FetchableRecord, MutablePersistableRecord {
        static let databaseTableName = "event"
        var seq: Int64?
        var time: Date
        var token: String
        var action: String
        var sprite: String?
        var status: Int
        var detail: String?

        init(_ e: AuditRecord) {
            time = e.time
            token = e.token
            action = e.action
            sprite = e.sprite
            status = e.status
            detail = e.detail
        }

        func record() -> AuditRecord {
            AuditRecord(seq: seq ?? 0, time: time, token: token, action: action, sprite: sprite, status: status, detail: detail)
        }
    }
}
