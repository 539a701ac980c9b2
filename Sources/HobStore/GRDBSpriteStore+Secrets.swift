// Secrets in the same SQLite database as the sprites (SecretStore): the metadata JSON is readable,
// the header values are only in `sealed`, as SecretVault sealed them.
import Foundation
import GRDB
import HobCore

extension GRDBSpriteStore: SecretStore {
    public func saveSecret(name: String, metadata: Data, sealed: Data) async throws {
        let row = SecretRow(name: name, metadata: String(decoding: metadata, as: UTF8.self), sealed: sealed)
        try await db.write { try row.save($0) }
    }

    public func allSecrets() async throws -> [SealedSecret] {
        try await db.read { try SecretRow.order(Column("name")).fetchAll($0) }.map {
            SealedSecret(name: $0.name, metadata: Data($0.metadata.utf8), sealed: $0.sealed)
        }
    }

    public func deleteSecret(name: String) async throws -> Bool {
        try await db.write { try SecretRow.deleteOne($0, key: name) }
    }

    struct SecretRow: Codable, FetchableRecord, PersistableRecord {
        static let databaseTableName = "secret"
        var name: String
        var metadata: String
        var sealed: Data
    }
}
