import Foundation
import HobAPI
import HobCore
import HobStore
import Testing

@Suite("Secret vault")
struct SecretVaultTests {
    let key = [UInt8](repeating: 7, count: 32)
    let otherKey = [UInt8](repeating: 8, count: 32)
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    /// Recognisable in any bytes it ends up in.
    static let value = "Bearer sk-live-VALUE-THAT-MUST-NOT-LEAK-4f1c2e"

    func secret(_ name: String = "openai", host: String = "api.openai.com", access: SecretAccess = SecretAccess(allSprites: true)) -> Secret {
        Secret(name: name, host: host, headers: [SecretHeader(name: "Authorization", value: Self.value)], access: access)
    }

    @Test("a secret set is read back, values included, after a reload from the store")
    func roundTrip() async throws {
        let store = MemorySecretStore()
        let vault = try await SecretVault(store: store, key: key)
        let stored = try await vault.set(
            Secret(
                name: "internal", host: "API.Example.COM", scheme: "HTTP", port: 8080,
                headers: [SecretHeader(name: "X-Api-Key", value: "k1"), SecretHeader(name: "X-Team", value: "t")],
                access: SecretAccess(sprites: ["demo"], paths: ["/v1/*"])),
            now: t0)
        #expect(stored.host == "api.example.com")
        #expect(stored.scheme == "http")
        #expect(stored.createdAt == t0 && stored.updatedAt == t0)
        let reloaded = try await SecretVault(store: store, key: key)
        #expect(try await reloaded.secret(named: "internal") == stored)
        #expect(await reloaded.list() == [stored])
        #expect(try await reloaded.secret(named: "missing") == nil)
        #expect(await reloaded.unreadable().isEmpty)
    }

    @Test("replacing a secret keeps its creation date and replaces everything else")
    func replaceKeepsCreatedAt() async throws {
        let store = MemorySecretStore()
        let vault = try await SecretVault(store: store, key: key)
        try await vault.set(secret(), now: t0)
        let later = t0.addingTimeInterval(60)
        var changed = secret(host: "api2.openai.com")
        changed.headers = [SecretHeader(name: "X-Other", value: "v2")]
        let replaced = try await vault.set(changed, now: later)
        #expect(replaced.createdAt == t0)
        #expect(replaced.updatedAt == later)
        let reloaded = try #require(try await SecretVault(store: store, key: key).secret(named: "openai"))
        #expect(reloaded.createdAt == t0 && reloaded.updatedAt == later)
        #expect(reloaded.headers == [SecretHeader(name: "X-Other", value: "v2")])
        #expect(reloaded.host == "api2.openai.com")
    }

    @Test("deleting removes the secret; deleting a missing one is a 404")
    func delete() async throws {
        let store = MemorySecretStore()
        let vault = try await SecretVault(store: store, key: key)
        try await vault.set(secret())
        try await vault.delete(name: "openai")
        #expect(try await vault.secret(named: "openai") == nil)
        #expect(try await store.allSecrets().isEmpty)
        let error = await #expect(throws: HobError.self) { try await vault.delete(name: "openai") }
        #expect(error?.code == .notFound)
    }

    @Test("the stored metadata names the headers but never holds a value")
    func metadataHasNoValue() async throws {
        let store = MemorySecretStore()
        try await SecretVault(store: store, key: key).set(secret())
        let row = try #require(try await store.allSecrets().first)
        let metadata = String(decoding: row.metadata, as: UTF8.self)
        #expect(metadata.contains("Authorization"))
        #expect(metadata.contains("api.openai.com"))
        #expect(!metadata.contains("sk-live"))
        #expect(!Self.contains(row.sealed, Self.value))
    }

    @Test("the value is in no byte of the SQLite database or its WAL")
    func valueNotInDatabaseFile() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hob-secrets-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("hob.db").path
        let store = try GRDBSpriteStore(path: path)
        let vault = try await SecretVault(store: store, key: key)
        try await vault.set(secret())
        try await vault.set(secret("second"))
        var bytes = Data()
        for file in [path, path + "-wal"] {
            if let data = FileManager.default.contents(atPath: file) { bytes.append(data) }
        }
        // What the metadata holds is there, so the search reads what was written.
        #expect(Self.contains(bytes, "api.openai.com"))
        #expect(!Self.contains(bytes, Self.value))
        #expect(!Self.contains(bytes, "sk-live"))
        // And the database alone gives the secret back with the key.
        #expect(try await SecretVault(store: GRDBSpriteStore(path: path), key: key).secret(named: "second")?.headers.first?.value == Self.value)
    }

    @Test("a sealed blob copied under another name does not open")
    func blobUnderAnotherName() async throws {
        let store = MemorySecretStore()
        try await SecretVault(store: store, key: key).set(secret())
        let row = try #require(try await store.allSecrets().first)
        try await store.saveSecret(name: "stolen", metadata: row.metadata, sealed: row.sealed)
        let vault = try await SecretVault(store: store, key: key)
        #expect(try await vault.secret(named: "openai") != nil)
        #expect(await vault.unreadable().map(\.name) == ["stolen"])
        #expect(await vault.list().map(\.name) == ["openai"])
        let error = await #expect(throws: HobError.self) { try await vault.secret(named: "stolen") }
        #expect(error?.code == .invalidState)
        #expect(error?.message.contains("secret stolen cannot be opened") == true)
        #expect(error?.message.contains("another secrets key or under another name") == true)
    }

    @Test("with another key every secret is unreadable, and setting it again repairs it")
    func anotherKey() async throws {
        let store = MemorySecretStore()
        try await SecretVault(store: store, key: key).set(secret(), now: t0)
        let vault = try await SecretVault(store: store, key: otherKey)
        let error = await #expect(throws: HobError.self) { try await vault.secret(named: "openai") }
        #expect(error?.code == .invalidState)
        #expect(await vault.unreadable().map(\.name) == ["openai"])
        let repaired = try await vault.set(secret(), now: t0.addingTimeInterval(5))
        #expect(repaired.createdAt == t0)
        #expect(try await vault.secret(named: "openai") == repaired)
        #expect(await vault.unreadable().isEmpty)
    }

    @Test("a key shorter than 32 bytes is refused")
    func shortKey() async throws {
        let error = await #expect(throws: HobError.self) { try await SecretVault(store: MemorySecretStore(), key: [1, 2, 3]) }
        #expect(error?.code == .invalidArgument)
    }

    @Test("invalid secrets are 400s naming what is wrong, never the value", arguments: [
        ("bad name", Secret(name: "Open_AI", host: "h.example", headers: [SecretHeader(name: "A", value: "v")], access: SecretAccess()), "secret name"),
        ("scheme in host", Secret(name: "a", host: "https://h.example", headers: [SecretHeader(name: "A", value: "v")], access: SecretAccess()), "host"),
        ("path in host", Secret(name: "a", host: "h.example/v1", headers: [SecretHeader(name: "A", value: "v")], access: SecretAccess()), "host"),
        ("bad IPv4", Secret(name: "a", host: "10.0.0.256", headers: [SecretHeader(name: "A", value: "v")], access: SecretAccess()), "IPv4"),
        ("ftp", Secret(name: "a", host: "h.example", scheme: "ftp", headers: [SecretHeader(name: "A", value: "v")], access: SecretAccess()), "scheme"),
        ("port", Secret(name: "a", host: "h.example", port: 70000, headers: [SecretHeader(name: "A", value: "v")], access: SecretAccess()), "port"),
        ("no headers", Secret(name: "a", host: "h.example", headers: [], access: SecretAccess()), "at least one header"),
        ("header name", Secret(name: "a", host: "h.example", headers: [SecretHeader(name: "Bad Name", value: "v")], access: SecretAccess()), "header name"),
        ("Host header", Secret(name: "a", host: "h.example", headers: [SecretHeader(name: "Host", value: "v")], access: SecretAccess()), "cannot be injected"),
        ("CRLF", Secret(name: "a", host: "h.example", headers: [SecretHeader(name: "A", value: "x-secret\r\nEvil: 1")], access: SecretAccess()), "line break"),
        ("NUL", Secret(name: "a", host: "h.example", headers: [SecretHeader(name: "A", value: "x-secret\u{0}")], access: SecretAccess()), "NUL"),
        ("twice", Secret(name: "a", host: "h.example", headers: [SecretHeader(name: "A", value: "1"), SecretHeader(name: "a", value: "2")], access: SecretAccess()), "twice"),
        ("all and more", Secret(name: "a", host: "h.example", headers: [SecretHeader(name: "A", value: "v")], access: SecretAccess(prefix: "x", allSprites: true)), "all_sprites"),
        ("bad path", Secret(name: "a", host: "h.example", headers: [SecretHeader(name: "A", value: "v")], access: SecretAccess(paths: ["/v1/../admin"])), "path"),
        ("relative path", Secret(name: "a", host: "h.example", headers: [SecretHeader(name: "A", value: "v")], access: SecretAccess(paths: ["v1/*"])), "must start with /"),
        ("inner star", Secret(name: "a", host: "h.example", headers: [SecretHeader(name: "A", value: "v")], access: SecretAccess(paths: ["/v1/*/x"])), "path"),
        ("bad sprite", Secret(name: "a", host: "h.example", headers: [SecretHeader(name: "A", value: "v")], access: SecretAccess(sprites: ["Demo"])), "sprite name"),
    ])
    func validation(_ label: String, _ secret: Secret, _ expected: String) async throws {
        let vault = try await SecretVault(store: MemorySecretStore(), key: key)
        do {
            try await vault.set(secret)
            Issue.record("\(label) was accepted")
        } catch let error as HobError {
            #expect(error.code == .invalidArgument, "\(label)")
            #expect(error.message.contains(expected), "\(label): \(error.message)")
            #expect(!error.message.contains("x-secret"), "\(label) echoes the value")
        }
        #expect(await vault.list().isEmpty)
    }

    @Test("hosts: DNS names and IPv4 addresses, lowercased")
    func hosts() throws {
        #expect(try SecretHost.validate("API.OpenAI.com") == "api.openai.com")
        #expect(try SecretHost.validate("10.0.0.5") == "10.0.0.5")
        #expect(try SecretHost.validate("localhost") == "localhost")
        for bad in ["", "h.example:443", "-a.example", "a..example", "a.example.", "[::1]", "1.2.3", "h_x.example"] {
            #expect(throws: HobError.self, "\(bad)") { try SecretHost.validate(bad) }
        }
    }

    static func contains(_ haystack: Data, _ needle: String) -> Bool {
        haystack.range(of: Data(needle.utf8)) != nil
    }
}

@Suite("Secret access")
struct SecretAccessTests {
    @Test("with no sprite condition no sprite may use a secret, even with paths")
    func failClosed() {
        #expect(!SecretAccess().admits(sprite: "demo", labels: ["a"]))
        #expect(!SecretAccess(paths: ["/v1/*"]).admits(sprite: "demo", labels: []))
        #expect(!SecretAccess().admitsAnySprite)
        #expect(SecretAccess(allSprites: true).admits(sprite: "anything", labels: []))
    }

    @Test("sprites, prefix and labels: every condition given must hold")
    func admits() {
        let byName = SecretAccess(sprites: ["a", "b"])
        #expect(byName.admits(sprite: "a", labels: []) && byName.admits(sprite: "b", labels: []))
        #expect(!byName.admits(sprite: "c", labels: []))
        let byPrefix = SecretAccess(prefix: "agent-")
        #expect(byPrefix.admits(sprite: "agent-1", labels: []))
        #expect(!byPrefix.admits(sprite: "agent", labels: []))
        let byLabels = SecretAccess(labels: ["team-a", "prod"])
        #expect(byLabels.admits(sprite: "x", labels: ["prod", "team-a", "other"]))
        #expect(!byLabels.admits(sprite: "x", labels: ["team-a"]))
        let both = SecretAccess(prefix: "agent-", labels: ["prod"])
        #expect(both.admits(sprite: "agent-1", labels: ["prod"]))
        #expect(!both.admits(sprite: "agent-1", labels: []))
        #expect(!both.admits(sprite: "other", labels: ["prod"]))
    }

    @Test("paths: absent allows all; exact and prefix patterns; the query is ignored")
    func paths() {
        #expect(SecretAccess().allows(path: "/anything?x=1"))
        let a = SecretAccess(paths: ["/v1/models", "/v2/*"])
        #expect(a.allows(path: "/v1/models"))
        #expect(a.allows(path: "/v1/models?limit=5"))
        #expect(!a.allows(path: "/v1/models/x"))
        #expect(!a.allows(path: "/v1/model"))
        #expect(a.allows(path: "/v2/"))
        #expect(a.allows(path: "/v2/chat/completions"))
        #expect(!a.allows(path: "/v2"))
        #expect(!a.allows(path: "/v3/x?/v2/y"))
        #expect(SecretAccess(paths: ["/*"]).allows(path: "/"))
    }

    @Test("paths that could mean another path upstream are refused, whatever the patterns", arguments: [
        "/v1/../admin", "/v1/..", "/v1/%2e%2e/admin", "/v1/%2E%2E/admin", "/v1/.%2e/admin", "/v1/..;x/admin", "/v1/./models",
        "/v1/a%2fb", "/v1/a%2F..%2Fb", "/v1/a%5cb", "/v1/a\\b", "/v1/a%00", "v1/models", "", "/v1/a\u{0}b",
    ])
    func traversalRefused(_ path: String) {
        #expect(!SecretAccess(paths: ["/v1/*"]).allows(path: path))
        #expect(!SecretAccess().allows(path: path))
    }

    @Test("dots inside names are ordinary characters")
    func dotsInNames() {
        #expect(SecretAccess(paths: ["/v1/*"]).allows(path: "/v1/file..txt"))
        #expect(SecretAccess(paths: ["/v1/*"]).allows(path: "/v1/.well-known/x"))
    }

    @Test("all_sprites is read from JSON, false when absent")
    func json() throws {
        let decoded = try JSONDecoder().decode(SecretAccess.self, from: Data(#"{"all_sprites": true, "paths": ["/v1/*"]}"#.utf8))
        #expect(decoded == SecretAccess(paths: ["/v1/*"], allSprites: true))
        #expect(try JSONDecoder().decode(SecretAccess.self, from: Data("{}".utf8)) == SecretAccess())
    }
}
