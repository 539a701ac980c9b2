import Foundation
import GRDB
import HobCore
@testable import HobStore
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

    func checkpoint(_ sprite: SpriteRecord, _ id: String, history: [String], at seconds: Double) -> CheckpointRecord {
        CheckpointRecord(
            spriteID: sprite.id, id: id, createdAt: Date(timeIntervalSince1970: 1_700_000_000 + seconds), comment: "c \(id)",
            isAuto: id.hasPrefix("auto-"), history: history, volume: "sprites/\(sprite.id)/ckpt/\(id)")
    }

    @Test("checkpoints are written with the sprite's head in one step, and go with the sprite")
    func checkpoints() async throws {
        let store = try GRDBSpriteStore()
        var r = record("demo", slot: 0)
        let v0 = checkpoint(r, "v0", history: [], at: 0)
        try await store.insert(r, checkpoints: [v0])
        let v1 = checkpoint(r, "v1", history: ["v0"], at: 1)
        let auto = checkpoint(r, "auto-1", history: ["v1", "v0"], at: 2)
        r.head = "v1"
        r.nextVersion = 2
        try await store.saveCheckpoints(spriteID: r.id, state: CheckpointState(r), inserting: [v1, auto], deleting: [])
        #expect(try await store.allCheckpoints() == [v0, v1, auto])
        r.head = "v0"
        r.nextAuto = 2
        r.restoring = "v0"
        try await store.saveCheckpoints(spriteID: r.id, state: CheckpointState(r), inserting: [], deleting: ["v1"])
        #expect(try await store.allCheckpoints() == [v0, auto])
        #expect(try await store.allSprites() == [r])
        try await store.delete(id: r.id)
        #expect(try await store.allCheckpoints().isEmpty)
    }

    @Test("a metadata update leaves the checkpoint fields alone")
    func updateKeepsCheckpointState() async throws {
        let store = try GRDBSpriteStore()
        var r = record("demo", slot: 0)
        try await store.insert(r, checkpoints: [])
        var moved = r
        moved.head = "v3"
        moved.nextVersion = 4
        try await store.saveCheckpoints(spriteID: r.id, state: CheckpointState(moved), inserting: [], deleting: [])
        r.labels = ["changed"]  // a stale copy, as an update that raced a checkpoint holds
        try await store.update(r)
        let stored = try #require(try await store.allSprites().first)
        #expect(stored.labels == ["changed"])
        #expect(stored.head == "v3" && stored.nextVersion == 4)
    }

    @Test("saving checkpoints of a sprite that is gone fails and writes nothing")
    func saveForMissingSprite() async throws {
        let store = try GRDBSpriteStore()
        let r = record("ghost", slot: 0)
        await #expect(throws: HobError.self) {
            try await store.saveCheckpoints(
                spriteID: r.id, state: CheckpointState(r), inserting: [checkpoint(r, "v1", history: [], at: 0)], deleting: [])
        }
        #expect(try await store.allCheckpoints().isEmpty)
    }

    @Test("sprites made before checkpoints existed get their base image as v0")
    func migrationAddsV0() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hob-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("hob.db").path
        do {
            let old = try DatabaseQueue(path: path)
            try GRDBSpriteStore.migrator.migrate(old, upTo: "v1: sprites")
            try await old.write { db in
                try db.execute(sql: """
                    INSERT INTO sprite (id, name, slot, ramMB, cpus, storageGB, region, environment, labels, urlAuth,
                                        createdAt, updatedAt)
                    VALUES ('00aa', 'old', 0, 512, 1, 10, 'local', '{}', '[]', 'sprite', '2025-01-01 00:00:00.000',
                            '2025-01-01 00:00:00.000')
                    """)
            }
        }
        let store = try GRDBSpriteStore(path: path)
        let sprite = try #require(try await store.allSprites().first)
        #expect(sprite.head == "v0" && sprite.nextVersion == 1 && sprite.restoring == nil)
        let v0 = try #require(try await store.allCheckpoints().first)
        #expect(v0.spriteID == "00aa" && v0.id == "v0" && v0.volume == "images/bookworm-v2" && v0.history.isEmpty)
    }

    @Test("lifecycle fields persist; recordWarming touches only its column")
    func lifecycleFields() async throws {
        let store = try GRDBSpriteStore()
        var r = record("demo", slot: 0)
        r.idleTimeout = 0
        r.coldTimeout = 3600
        try await store.insert(r)
        let warmed = Date(timeIntervalSince1970: 1_700_000_100)
        try await store.recordWarming(id: r.id, at: warmed)
        r.lastWarmingAt = warmed
        #expect(try await store.allSprites() == [r])
    }

    @Test("tasks: saved, replaced by name, deleted, and gone with the sprite")
    func tasks() async throws {
        let store = try GRDBSpriteStore()
        let r = record("demo", slot: 0)
        try await store.insert(r)
        let start = Date(timeIntervalSince1970: 1_700_000_000)
        let t = SpriteTaskRecord(spriteID: r.id, name: "agent", startedAt: start, expiresAt: start.addingTimeInterval(60))
        try await store.saveTask(t)
        var renewed = t
        renewed.expiresAt = start.addingTimeInterval(3600)
        try await store.saveTask(renewed)
        try await store.saveTask(SpriteTaskRecord(spriteID: r.id, name: "sync", startedAt: start, expiresAt: start))
        #expect(try await store.allTasks().sorted { $0.name < $1.name } == [renewed, SpriteTaskRecord(spriteID: r.id, name: "sync", startedAt: start, expiresAt: start)])
        try await store.deleteTasks(spriteID: r.id, names: ["sync"])
        #expect(try await store.allTasks() == [renewed])
        try await store.delete(id: r.id)
        #expect(try await store.allTasks().isEmpty)
    }

    @Test("services: saved, replaced by name, deleted, and gone with the sprite")
    func services() async throws {
        let store = try GRDBSpriteStore()
        let r = record("demo", slot: 0)
        try await store.insert(r)
        let at = Date(timeIntervalSince1970: 1_700_000_000)
        let web = ServiceRecord(
            spriteID: r.id, name: "web", cmd: "python3", args: ["-m", "http.server"], needs: ["db"], httpPort: 8080,
            environment: ["A": "1"], directory: "/srv", wanted: true, createdAt: at, updatedAt: at)
        let db = ServiceRecord(spriteID: r.id, name: "db", cmd: "pg", createdAt: at.addingTimeInterval(-1), updatedAt: at)
        try await store.saveService(web)
        try await store.saveService(db)
        var stopped = web
        stopped.wanted = false
        try await store.saveService(stopped)
        #expect(try await store.allServices() == [db, stopped])  // in order of creation
        try await store.deleteService(spriteID: r.id, name: "db")
        #expect(try await store.allServices() == [stopped])
        try await store.delete(id: r.id)
        #expect(try await store.allServices().isEmpty)
    }

    @Test("usage is kept per sprite, and a destroyed sprite's usage is retired into the host total")
    func usage() async throws {
        let store = try GRDBSpriteStore()
        let a = record("a", slot: 0)
        let b = record("b", slot: 1)
        try await store.insert(a)
        try await store.insert(b)
        var ua = UsageRecord(spriteID: a.id)
        ua.cpuMicros = 5_000_000
        ua.memoryByteSeconds = 1e9
        ua.memoryPeakBytes = 100
        ua.runningSeconds = 10
        ua.warmSeconds = 2
        ua.boot = "42:7"
        ua.countedCPUMicros = 123
        ua.countedUntil = Date(timeIntervalSince1970: 1_700_000_000)
        var ub = UsageRecord(spriteID: b.id)
        ub.cpuMicros = 1_000_000
        ub.memoryPeakBytes = 300
        try await store.saveUsage([ua, ub])
        #expect(Set(try await store.allUsage().map(\.spriteID)) == [a.id, b.id])
        #expect(try await store.allUsage().first { $0.spriteID == a.id } == ua)

        try await store.delete(id: a.id)
        try await store.delete(id: b.id)
        #expect(try await store.allUsage().isEmpty)
        let retired = try await store.retiredUsage()
        #expect(retired.cpuMicros == 6_000_000 && retired.memoryPeakBytes == 300 && retired.runningSeconds == 10)

        // A late write for a destroyed sprite does not bring its usage back.
        try await store.saveUsage([ua])
        #expect(try await store.allUsage().isEmpty)
        #expect(try await store.retiredUsage().cpuMicros == 6_000_000)
    }
}
