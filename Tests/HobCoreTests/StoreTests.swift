import Foundation
import HobCore
import HobStore
import Testing

@Suite("Sprite store (SQLite)")
struct StoreTests {
    func record(_ name: String, slot: Int) -> SpriteRecord {
        SpriteRecord(
            id: SpriteID.generate(), name: name, slot: slot, ramMB: 512, cpus: 1.5, storageGB: 10, region: "local",
            environment: ["A": "1", "B": "x=y"], labels: ["l1"], urlAuth: "sprite", urlPrivateAccess: nil,
            createdAt: Date(timeIntervalSince1970: 1_700_000_000), updatedAt: Date(timeIntervalSince1970: 1_700_000_000))
    }

    @Test("insert, read back, update, delete")
    func lifecycle() async throws {
        let store = try GRDBSpriteStore()
        var r = record("demo", slot: 0)
        try await store.insert(r)
        #expect(try await store.allSprites() == [r])
        r.labels = ["x", "y"]
        r.destroying = true
        try await store.update(r)
        #expect(try await store.allSprites() == [r])
        try await store.delete(id: r.id)
        #expect(try await store.allSprites().isEmpty)
    }

    @Test("a duplicate name is an `exists` error")
    func duplicate() async throws {
        let store = try GRDBSpriteStore()
        try await store.insert(record("demo", slot: 0))
        await #expect {
            try await store.insert(record("demo", slot: 1))
        } throws: { ($0 as? HobError)?.code == .exists }
    }

    @Test("the database persists across reopen")
    func persistence() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hob-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("hob.db").path
        let r = record("keep", slot: 3)
        try await GRDBSpriteStore(path: path).insert(r)
        #expect(try await GRDBSpriteStore(path: path).allSprites() == [r])
    }
}
