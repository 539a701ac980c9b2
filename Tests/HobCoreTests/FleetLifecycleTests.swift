// The Fleet's lifecycle logic on the in-memory runtime and storage: what happens when requests
// and lifecycle operations overlap, staged in a chosen order with gates. No root needed.
import Foundation
import HobAPI
import HobAgentProtocol
@testable import HobCore
import HobStore
import Testing

@Suite("Fleet lifecycle (fake runtime and storage)", .timeLimit(.minutes(1)))
struct FleetLifecycleTests {
    @Test("a new sprite is cold and boots on its first request")
    func bootsOnDemand() async throws {
        let h = try await FleetHarness()
        defer { Task { await h.close() } }
        try await h.create("a")
        #expect(try await h.status("a") == .cold)
        #expect(h.runtime.bootCount == 0)
        _ = try await h.fleet.running("a")
        #expect(try await h.status("a") == .running)
        #expect(h.runtime.run(try await h.id("a"))?.disk == "base")
    }

    @Test("concurrent requests for a cold sprite share one boot")
    func oneBoot() async throws {
        let h = try await FleetHarness()
        defer { Task { await h.close() } }
        try await h.create("a")
        let gate = Gate()
        h.runtime.pauseBoots(at: gate)
        let runs = Task {
            try await withThrowingTaskGroup(of: RunningSprite.self) { group in
                for _ in 0..<10 { group.addTask { try await h.fleet.running("a").1 } }
                return try await group.reduce(into: [RunningSprite]()) { $0.append($1) }
            }
        }
        await gate.reached()
        gate.open()
        let all = try await runs.value
        #expect(h.runtime.bootCount == 1)
        #expect(Set(all.map(\.bootID)).count == 1)
    }

    @Test("a request that arrives while the sprite is being frozen waits, then wakes it")
    func wakeDuringFreeze() async throws {
        let h = try await FleetHarness()
        defer { Task { await h.close() } }
        try await h.create("a")
        let first = try await h.fleet.running("a").1
        let gate = Gate()
        h.runtime.pauseFreezes(at: gate)
        let sleeping = Task { try await h.fleet.sleep("a", to: .warm) }
        await gate.reached()
        // Marked warm before the freeze starts: the request queues a wake behind it.
        #expect(try await h.status("a") == .warm)
        let request = Task { try await h.fleet.running("a").1 }
        gate.open()
        _ = try await sleeping.value
        let after = try await request.value
        #expect(after == first)  // woken, not rebooted
        #expect(try await h.status("a") == .running)
        #expect(!h.runtime.isFrozen(try await h.id("a")))
        #expect(h.runtime.bootCount == 1)
    }

    @Test("a freeze that fails leaves the sprite running")
    func failedFreeze() async throws {
        let h = try await FleetHarness()
        defer { Task { await h.close() } }
        try await h.create("a")
        _ = try await h.fleet.running("a")
        h.runtime.failFreezes(true)
        await #expect { try await h.fleet.sleep("a", to: .warm) } throws: { ($0 as? HobError)?.code == .unavailable }
        #expect(try await h.status("a") == .running)
    }

    @Test("a sprite that cannot be thawed is restarted by the next request")
    func failedWake() async throws {
        let h = try await FleetHarness()
        defer { Task { await h.close() } }
        try await h.create("a")
        let first = try await h.fleet.running("a").1
        _ = try await h.fleet.sleep("a", to: .warm)
        h.runtime.failWakes(true)
        let second = try await h.fleet.running("a").1
        #expect(second != first)
        #expect(h.runtime.bootCount == 2)
        #expect(try await h.status("a") == .running)
    }

    @Test("a sleeping sprite whose init dies goes cold, and boots again on demand")
    func initExitsWhileWarm() async throws {
        let h = try await FleetHarness()
        defer { Task { await h.close() } }
        try await h.create("a")
        _ = try await h.fleet.running("a")
        _ = try await h.fleet.sleep("a", to: .warm)
        h.runtime.endRun(try await h.id("a"))
        #expect(try await h.eventually { try await h.status("a") == .cold })
        _ = try await h.fleet.running("a")
        #expect(h.runtime.bootCount == 2)
    }

    @Test("a boot that fails leaves the sprite cold, and the next request tries again")
    func failedBoot() async throws {
        let h = try await FleetHarness()
        defer { Task { await h.close() } }
        try await h.create("a")
        h.runtime.failBoots(true)
        await #expect(throws: HobError.self) { try await h.fleet.running("a") }
        #expect(try await h.status("a") == .cold)
        h.runtime.failBoots(false)
        _ = try await h.fleet.running("a")
        #expect(try await h.status("a") == .running)
    }

    @Test("a request during a restore waits for it and runs on the restored disk")
    func requestDuringRestore() async throws {
        let h = try await FleetHarness()
        defer { Task { await h.close() } }
        try await h.create("a")
        let id = try await h.id("a")
        _ = try await h.fleet.running("a")
        h.storage.write(id, "v1 state")
        _ = try await h.fleet.createCheckpoint("a", comment: "")
        h.storage.write(id, "later state")
        let gate = Gate()
        h.storage.pauseSnapshots(at: gate)  // the restore's auto-1 snapshot
        let restore = Task { try await h.fleet.restoreCheckpoint("a", "v1") { _ in } }
        await gate.reached()
        let request = Task { try await h.fleet.running("a").1 }
        gate.open()
        try await restore.value
        let running = try await request.value
        #expect(h.runtime.run(id)?.running == running)
        #expect(h.runtime.run(id)?.disk == "v1 state")
        #expect(h.storage.content(ofVolume: h.storage.checkpointVolume(sprite: id, "auto-1")) == "later state")
        #expect(try await h.fleet.record("a").head == "v1")
    }

    @Test("a restore whose disk swap fails keeps the sprite's disk and can be retried")
    func failedSwap() async throws {
        let h = try await FleetHarness()
        defer { Task { await h.close() } }
        try await h.create("a")
        let id = try await h.id("a")
        h.storage.write(id, "v1 state")
        _ = try await h.fleet.createCheckpoint("a", comment: "")
        h.storage.write(id, "later state")
        h.storage.failSwaps(true)
        await #expect(throws: HobError.self) { try await h.fleet.restoreCheckpoint("a", "v1") { _ in } }
        #expect(h.storage.content(of: id) == "later state")
        // The row says "restoring": the next start rolls it forward.
        h.storage.failSwaps(false)
        await h.fleet.shutdown()
        let again = try await h.restarted()
        #expect(again.storage.content(of: id) == "v1 state")
        #expect(try await again.fleet.record("a").head == "v1")
        #expect(try await again.fleet.record("a").restoring == nil)
    }

    @Test("destroy during a checkpoint: the destroy wins and leaves nothing behind")
    func destroyDuringCheckpoint() async throws {
        let h = try await FleetHarness()
        defer { Task { await h.close() } }
        try await h.create("a")
        let id = try await h.id("a")
        _ = try await h.fleet.running("a")
        let gate = Gate()
        h.storage.pauseSnapshots(at: gate)
        let checkpoint = Task { try await h.fleet.createCheckpoint("a", comment: "") }
        await gate.reached()
        let destroy = Task { try await h.fleet.destroy("a") }
        gate.open()
        try await destroy.value
        _ = try? await checkpoint.value  // either finished first or found the sprite gone
        await #expect { try await h.fleet.record("a") } throws: { ($0 as? HobError)?.code == .notFound }
        #expect(!h.storage.hasDisk(id))
        #expect(h.storage.checkpointNames(id).isEmpty)
        #expect(h.runtime.run(id) == nil)
        #expect(try await h.store.allCheckpoints().allSatisfy { $0.spriteID != id })
    }

    @Test("a restore waits for file operations on the disk; a destroy meanwhile ends both cleanly")
    func restoreWaitsForFiles() async throws {
        let h = try await FleetHarness()
        defer { Task { await h.close() } }
        try await h.create("a")
        let id = try await h.id("a")
        _ = try await h.fleet.createCheckpoint("a", comment: "")
        let reading = Gate()
        let files = Task { try await h.fleet.withFiles("a") { _ in await reading.pass() } }
        await reading.reached()
        let restore = Task { try await h.fleet.restoreCheckpoint("a", "v1") { _ in } }
        #expect(try await h.eventually { (await h.fleet.sprites[id]?.fileAccessWaiters.count ?? 0) == 1 })
        // New file operations are refused while the restore waits to swap the disk.
        await #expect { try await h.fleet.withFiles("a") { _ in } } throws: { ($0 as? HobError)?.code == .unavailable }
        let destroy = Task { try await h.fleet.destroy("a") }
        _ = try? await restore.value  // let go by the destroy, not by the reader
        reading.open()
        try await files.value
        try await destroy.value
        #expect(!h.storage.hasDisk(id))
        #expect(h.storage.checkpointNames(id).isEmpty)
    }

    @Test("a checkpoint snapshot left without its row by a crash is removed at the next start")
    func orphanCheckpointVolume() async throws {
        let h = try await FleetHarness()
        defer { Task { await h.close() } }
        try await h.create("a")
        let id = try await h.id("a")
        await h.fleet.shutdown()
        h.storage.leaveVolume(h.storage.checkpointVolume(sprite: id, "v7"), content: "half-made")
        let again = try await h.restarted()
        #expect(!again.storage.hasVolume(again.storage.checkpointVolume(sprite: id, "v7")))
        #expect(try await again.fleet.checkpointList("a", includeAuto: true, history: nil).map(\.id) == ["Current", "v0"])
    }

    @Test("a disk whose create never reached the database is removed at the next start")
    func orphanDisk() async throws {
        let h = try await FleetHarness()
        defer { Task { await h.close() } }
        await h.fleet.shutdown()
        try await h.storage.createDisk("0123456789abcdef", from: h.storage.imageVolume(FleetHarness.image), keepAsV0: false, quotaBytes: 1 << 30)
        let again = try await h.restarted()
        #expect(!again.storage.hasDisk("0123456789abcdef"))
    }

    @Test("after a daemon crash, running sprites are adopted and sleeping ones stay asleep")
    func adoption() async throws {
        let h = try await FleetHarness()
        defer { Task { await h.close() } }
        try await h.create("up")
        try await h.create("asleep")
        try await h.create("down")
        let up = try await h.fleet.running("up").1
        _ = try await h.fleet.running("asleep")
        _ = try await h.fleet.sleep("asleep", to: .warm)
        // The first daemon is "killed": nothing of it runs any more, its sprites do.
        let again = try await h.restarted()
        #expect(try await again.status("up") == .running)
        #expect(try await again.fleet.running("up").1 == up)
        #expect(try await again.status("asleep") == .warm)
        #expect(try await again.status("down") == .cold)
        #expect(h.runtime.bootCount == 2)
    }

    @Test("the in-sprite API's caller is whoever its runtime says, and nobody else")
    func callerIdentity() async throws {
        let h = try await FleetHarness()
        defer { Task { await h.close() } }
        try await h.create("a")
        try await h.create("b")
        _ = try await h.fleet.running("a")
        _ = try await h.fleet.running("b")
        let a = try #require(h.runtime.run(try await h.id("a")))
        #expect(await h.fleet.spriteName(ofCaller: PeerCredentials(pid: 1, uid: a.uid, gid: a.uid)) == "a")
        #expect(await h.fleet.spriteName(ofCaller: PeerCredentials(pid: 1, uid: 0, gid: 0)) == nil)
    }

    @Test("a checkpoint of a running sprite is mounted in it, through its runtime")
    func checkpointMounts() async throws {
        let h = try await FleetHarness()
        defer { Task { await h.close() } }
        try await h.create("a")
        let id = try await h.id("a")
        _ = try await h.fleet.running("a")
        _ = try await h.fleet.createCheckpoint("a", comment: "")
        _ = try await h.fleet.createCheckpoint("a", comment: "")
        #expect(h.runtime.mountedCheckpoints(id) == ["v1", "v2"])
    }

    @Test("the Fleet reaches a sprite's agent through the endpoint its runtime handed out")
    func agentThroughEndpoint() async throws {
        let h = try await FleetHarness()
        defer { Task { await h.close() } }
        try await h.create("a")
        let id = try await h.id("a")
        let running = try await h.fleet.running("a").1
        let agent = try #require(h.runtime.agent(id))
        agent.setSessions([])
        #expect(await h.fleet.sessionActivity(running) == nil)
        #expect(agent.requests.contains(.listSessions))
    }

    // MARK: Runtimes

    @Test("a sprite runs in the runtime it was created with; a fork inherits it unless it names another")
    func runtimePerSprite() async throws {
        let h = try await FleetHarness()
        defer { Task { await h.close() } }
        try await h.create("plain")
        try await h.create("special", runtime: "other")
        _ = try await h.fleet.running("plain")
        _ = try await h.fleet.running("special")
        #expect(h.runtime.run(try await h.id("plain")) != nil)
        #expect(h.other.run(try await h.id("special")) != nil)
        #expect(h.runtime.run(try await h.id("special")) == nil)
        _ = try await h.fleet.create(CreateSpriteRequest(name: "child", source: ForkSource(sprite: "special", checkpoint: "v0")))
        #expect(try await h.fleet.record("child").runtime == "other")
        _ = try await h.fleet.create(CreateSpriteRequest(name: "moved", runtime: "fake", source: ForkSource(sprite: "special", checkpoint: "v0")))
        #expect(try await h.fleet.record("moved").runtime == "fake")
        // The Sprites API's own names take the daemon's runtime.
        for (name, asked) in [("d", "default"), ("v", "dev")] {
            try await h.create(name, runtime: asked)
            #expect(try await h.fleet.record(name).runtime == "fake")
        }
    }

    @Test("an unknown runtime is refused before anything is made, naming the ones there are")
    func unknownRuntime() async throws {
        let h = try await FleetHarness()
        defer { Task { await h.close() } }
        await #expect {
            try await h.create("a", runtime: "firecracker")
        } throws: { error in
            let e = error as? HobError
            return e?.code == .invalidArgument && e?.message.contains("fake, other") == true
        }
        await #expect { try await h.fleet.record("a") } throws: { ($0 as? HobError)?.code == .notFound }
        #expect(h.storage.diskIDs().isEmpty)
    }

    @Test("a sprite whose runtime the daemon no longer has is not run in another one")
    func missingRuntime() async throws {
        let h = try await FleetHarness()
        defer { Task { await h.close() } }
        try await h.create("special", runtime: "other")
        await h.fleet.shutdown()
        let again = try await h.restarted(withOther: false)
        await #expect {
            try await again.fleet.running("special")
        } throws: { error in
            let e = error as? HobError
            return e?.code == .unavailable && e?.message.contains("runtime other") == true
        }
        #expect(again.runtime.bootCount == 0)
        #expect(try await again.status("special") == .cold)
        // It can still be destroyed.
        try await again.fleet.destroy("special")
    }
}
