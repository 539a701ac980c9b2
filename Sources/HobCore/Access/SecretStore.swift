// Where the vault keeps secrets: one row per secret, its metadata as JSON (host, scheme, port,
// header names, access rules, dates: never a value) and its header values sealed. The store sees
// only these bytes; SecretVault seals and opens them (GRDBSpriteStore in HobStore; MemorySecretStore
// for tests).
import Foundation
import Synchronization

public struct SealedSecret: Sendable, Equatable {
    public var name: String
    /// JSON of the secret without its header values.
    public var metadata: Data
    /// The header values, sealed under the vault key with the name as authenticated data.
    public var sealed: Data

    public init(name: String, metadata: Data, sealed: Data) {
        self.name = name
        self.metadata = metadata
        self.sealed = sealed
    }
}

public protocol SecretStore: Sendable {
    /// Creates or replaces the secret `name`.
    func saveSecret(name: String, metadata: Data, sealed: Data) async throws
    /// Every secret, by name.
    func allSecrets() async throws -> [SealedSecret]
    /// False when there is no such secret.
    func deleteSecret(name: String) async throws -> Bool
}

/// A SecretStore in memory, for tests of the logic above the store.
public final class MemorySecretStore: SecretStore {
    private let rows = Mutex<[String: SealedSecret]>([:])

    public init() {}

    public func saveSecret(name: String, metadata: Data, sealed: Data) async throws {
        rows.withLock { $0[name] = SealedSecret(name: name, metadata: metadata, sealed: sealed) }
    }

    public func allSecrets() async throws -> [SealedSecret] {
        rows.withLock { $0.values.sorted { $0.name < $1.name } }
    }

    public func deleteSecret(name: String) async throws -> Bool {
        rows.withLock { $0.removeValue(forKey: name) != nil }
    }
}
