// The daemon's secrets (docs/ACCESS.md, "Secrets"): kept in memory for the gateway, saved through a
// SecretStore with their header values sealed.
//
// Sealing: ChaCha20-Poly1305 under a key derived (HKDF-SHA256) from `<state>/secrets-key`, with the
// secret's name as authenticated data, so a blob copied under another name, or read with another
// key, fails to open. What is sealed is the whole secret but its dates (host, scheme, port, headers,
// access), so someone who can write the database but lacks the key cannot point a credential at
// another host or open it to more sprites: the readable metadata row is a copy for people and
// listings, and the sealed one is what the vault believes.
//
// A secret that cannot be opened at start (the key file was replaced) does not stop the daemon:
// it is reported by `unreadable()`, answers its error when asked for, and is fixed by setting it
// again or deleting it.
import Crypto
import Foundation
import HobAPI

public actor SecretVault {
    private let store: any SecretStore
    private let key: SymmetricKey
    private var secrets: [String: Secret] = [:]
    private var broken: [String: Unreadable] = [:]

    struct Unreadable {
        var error: HobError
        var createdAt: Date?
    }

    /// Loads every secret `store` holds, opening each with `key` (the contents of the secrets key
    /// file: at least 32 random bytes).
    public init(store: any SecretStore, key: [UInt8]) async throws {
        guard key.count >= KeyFile.byteCount else {
            throw HobError(.invalidArgument, "the secrets key must be at least \(KeyFile.byteCount) bytes")
        }
        self.store = store
        self.key = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: key), info: Data("hob-secrets/v1".utf8), outputByteCount: 32)
        for row in try await store.allSecrets() {
            do throws(HobError) {
                secrets[row.name] = try SecretSeal.open(row, key: self.key)
            } catch {
                broken[row.name] = Unreadable(error: error, createdAt: try? SecretSeal.metadata(row).createdAt)
            }
        }
    }

    /// Creates or replaces a secret (a replaced one keeps its creation date) and answers it as
    /// stored: validated, host and scheme in lowercase. Throws 400 for invalid input.
    @discardableResult
    public func set(_ secret: Secret, now: Date = Date()) async throws -> Secret {
        var s = try secret.validated()
        s.createdAt = secrets[s.name]?.createdAt ?? broken[s.name]?.createdAt ?? now
        s.updatedAt = now
        let row = try SecretSeal.seal(s, key: key)
        try await store.saveSecret(name: row.name, metadata: row.metadata, sealed: row.sealed)
        secrets[s.name] = s
        broken[s.name] = nil
        return s
    }

    /// The secret, values included, for the gateway; nil when there is none. Throws when it is
    /// stored but cannot be opened.
    public func secret(named name: String) throws(HobError) -> Secret? {
        if let error = broken[name]?.error { throw error }
        return secrets[name]
    }

    /// Every secret that can be opened, by name.
    public func list() -> [Secret] {
        secrets.values.sorted { $0.name < $1.name }
    }

    /// The secrets stored but not openable with this key, by name, and why.
    public func unreadable() -> [(name: String, error: HobError)] {
        broken.map { ($0.key, $0.value.error) }.sorted { $0.name < $1.name }
    }

    /// Throws 404 when there is no such secret.
    public func delete(name: String) async throws {
        guard secrets[name] != nil || broken[name] != nil else { throw Self.notFound(name) }
        guard try await store.deleteSecret(name: name) else { throw Self.notFound(name) }
        secrets[name] = nil
        broken[name] = nil
    }

    public static func notFound(_ name: String) -> HobError {
        HobError(.notFound, "secret \(name) not found; `hob secret list` shows the secrets there are")
    }
}

/// The bytes a secret is stored as, and back.
enum SecretSeal {
    /// The readable copy: never a header value.
    struct Metadata: Codable, Equatable {
        var host: String
        var scheme: String
        var port: Int?
        var headerNames: [String]
        var access: SecretAccess
        var createdAt: Date
        var updatedAt: Date

        enum CodingKeys: String, CodingKey {
            case host, scheme, port, access
            case headerNames = "header_names"
            case createdAt = "created_at"
            case updatedAt = "updated_at"
        }
    }

    /// What is sealed: everything the gateway acts on.
    struct Sealed: Codable {
        var host: String
        var scheme: String
        var port: Int?
        var headers: [SecretHeader]
        var access: SecretAccess
    }

    static func seal(_ s: Secret, key: SymmetricKey) throws -> SealedSecret {
        let metadata = Metadata(
            host: s.host, scheme: s.scheme, port: s.port, headerNames: s.headers.map(\.name), access: s.access, createdAt: s.createdAt,
            updatedAt: s.updatedAt)
        let plaintext = try JSONEncoder().encode(Sealed(host: s.host, scheme: s.scheme, port: s.port, headers: s.headers, access: s.access))
        let box = try ChaChaPoly.seal(plaintext, using: key, authenticating: Data(s.name.utf8))
        return SealedSecret(name: s.name, metadata: try JSONEncoder().encode(metadata), sealed: box.combined)
    }

    static func metadata(_ row: SealedSecret) throws(HobError) -> Metadata {
        do {
            return try JSONDecoder().decode(Metadata.self, from: row.metadata)
        } catch {
            throw HobError(.invalidState, "the stored metadata of secret \(row.name) is unreadable; set the secret again or delete it", cause: error)
        }
    }

    static func open(_ row: SealedSecret, key: SymmetricKey) throws(HobError) -> Secret {
        let meta = try metadata(row)
        let plaintext: Data
        do {
            plaintext = try ChaChaPoly.open(ChaChaPoly.SealedBox(combined: row.sealed), using: key, authenticating: Data(row.name.utf8))
        } catch {
            throw HobError(
                .invalidState,
                "secret \(row.name) cannot be opened: it was sealed with another secrets key or under another name; "
                    + "set it again (`hob secret set \(row.name) …`) or delete it (`hob secret rm \(row.name)`)",
                cause: error)
        }
        let sealed: Sealed
        do {
            sealed = try JSONDecoder().decode(Sealed.self, from: plaintext)
        } catch {
            throw HobError(.invalidState, "secret \(row.name) opened but does not decode; set it again or delete it", cause: error)
        }
        return Secret(
            name: row.name, host: sealed.host, scheme: sealed.scheme, port: sealed.port, headers: sealed.headers, access: sealed.access,
            createdAt: meta.createdAt, updatedAt: meta.updatedAt)
    }
}
