// A runtime in memory, for Fleet tests without root. A "run" is a record and an in-process
// agent on a real unix socket; freezing flips a flag. Tests can pause boot and freeze at a Gate,
// make freeze or wake fail, and end a run as if its init died, so races between lifecycle
// operations can be staged in a chosen order.
import Foundation
import Glibc
import HobCore
import HobOS
import Synchronization

final class FakeRuntime: Runtime {
    let name: String
    let directory: String
    let storage: FakeStorage
    private let state = Mutex(State())

    struct Run {
        var running: RunningSprite
        var agent: InProcessAgent
        var frozen = false
        var onExit: @Sendable () -> Void
        /// The disk content it booted from.
        var disk: String
        var uid: UInt32
    }

    private struct State {
        var runs: [String: Run] = [:]
        var boots = 0
        var stops = 0
        var bootGate: Gate?
        var freezeGate: Gate?
        var failBoots = false
        var failFreezes = false
        var failWakes = false
        var mounted: [String: [String]] = [:]
    }

    init(name: String = "fake", directory: String, storage: FakeStorage) {
        self.name = name
        self.directory = directory
        self.storage = storage
    }

    var capabilities: RuntimeCapabilities { RuntimeCapabilities(name: name, memoryCheckpoints: false, capacity: 1000) }

    // MARK: Test controls

    var bootCount: Int { state.withLock { $0.boots } }
    var stopCount: Int { state.withLock { $0.stops } }
    func run(_ id: String) -> Run? { state.withLock { $0.runs[id] } }
    func agent(_ id: String) -> InProcessAgent? { run(id)?.agent }
    func pauseBoots(at gate: Gate?) { state.withLock { $0.bootGate = gate } }
    func pauseFreezes(at gate: Gate?) { state.withLock { $0.freezeGate = gate } }
    func failBoots(_ fail: Bool) { state.withLock { $0.failBoots = fail } }
    func failFreezes(_ fail: Bool) { state.withLock { $0.failFreezes = fail } }
    func failWakes(_ fail: Bool) { state.withLock { $0.failWakes = fail } }
    func mountedCheckpoints(_ id: String) -> [String]? { state.withLock { $0.mounted[id] } }

    /// The sprite's init exits on its own (a crash, `kill 1` inside): its exit handler runs.
    func endRun(_ id: String) {
        guard let run = state.withLock({ $0.runs.removeValue(forKey: id) }) else { return }
        run.agent.close()
        run.onExit()
    }

    // MARK: Runs

    func boot(_ sprite: SpriteRecord, onExit: @escaping @Sendable () -> Void) async throws -> RunningSprite {
        let gate = state.withLock { $0.bootGate }
        await gate?.pass()
        guard let disk = storage.content(of: sprite.id) else {
            throw HobError(.internalError, "sprite \(sprite.name) has no disk in the storage")
        }
        let (n, fail) = state.withLock { s -> (Int, Bool) in
            s.boots += 1
            return (s.boots, s.failBoots)
        }
        if fail { throw HobError(.internalError, "boot sprite \(sprite.name): failed (injected)") }
        let agent = try InProcessAgent(directory: directory, name: "\(name)-\(sprite.id)-\(n)")
        let running = RunningSprite(
            runtime: name, agent: agent.endpoint, pid: pid_t(100_000 + n), startTime: UInt64(n), hostIDs: HostIDRange(index: n))
        state.withLock { $0.runs[sprite.id] = Run(running: running, agent: agent, onExit: onExit, disk: disk, uid: UInt32(200_000 + n)) }
        return running
    }

    func adopt(_ sprite: SpriteRecord, frozen: Bool, onExit: @escaping @Sendable () -> Void) async -> RunningSprite? {
        state.withLock { s in
            s.runs[sprite.id]?.onExit = onExit
            return s.runs[sprite.id]?.running
        }
    }

    func finishAdoption() async {}

    func isAlive(_ running: RunningSprite) -> Bool {
        state.withLock { s in s.runs.values.contains { $0.running == running } }
    }

    func stop(_ sprite: SpriteRecord, running: RunningSprite?, graceMs: UInt32) async -> CgroupUsage? {
        state.withLock { $0.stops += 1 }
        return await cleanUp(sprite.id)
    }

    func cleanUp(_ id: String) async -> CgroupUsage? {
        guard let run = state.withLock({ $0.runs.removeValue(forKey: id) }) else { return nil }
        run.agent.close()
        return CgroupUsage(cpuMicros: 1000, memoryBytes: 1 << 20, memoryPeakBytes: 2 << 20)
    }

    func strays(known: Set<String>) -> [String] { state.withLock { $0.runs.keys.filter { !known.contains($0) } } }
    func tearDown() {}

    // MARK: Sleep

    func freeze(_ id: String) async throws {
        let (gate, fail) = state.withLock { ($0.freezeGate, $0.failFreezes) }
        await gate?.pass()
        if fail { throw HobError(.internalError, "freeze sprite \(id): failed (injected)") }
        state.withLock { $0.runs[id]?.frozen = true }
    }

    func wake(_ id: String) async throws {
        if state.withLock({ $0.failWakes }) { throw HobError(.internalError, "thaw sprite \(id): failed (injected)") }
        state.withLock { $0.runs[id]?.frozen = false }
    }

    func thaw(_ id: String) async { state.withLock { $0.runs[id]?.frozen = false } }
    func isFrozen(_ id: String) -> Bool { state.withLock { $0.runs[id]?.frozen ?? false } }

    // MARK: What runs inside

    func usage(_ id: String) -> CgroupUsage? {
        state.withLock { $0.runs[id] == nil ? nil : CgroupUsage(cpuMicros: 1000, memoryBytes: 1 << 20, memoryPeakBytes: 2 << 20) }
    }

    func processes(_ id: String) -> [pid_t] { state.withLock { $0.runs[id].map { [$0.running.pid] } ?? [] } }

    func spriteID(ofCaller caller: PeerCredentials) -> String? {
        state.withLock { s in s.runs.first { $0.value.uid == caller.uid }?.key }
    }

    func connect(_ running: RunningSprite, host: String, port: Int, timeout: Duration) async throws -> Int32 {
        throw HobError(.unavailable, "connect to \(host):\(port) in the sprite: the fake runtime has no network")
    }

    // MARK: Changes while it runs

    func setMemoryLimit(_ id: String, bytes: Int64) throws -> Bool { state.withLock { $0.runs[id] != nil } }
    func applyNetworkPolicy(_ sprite: SpriteRecord) async throws {}
    func applyPrivileges(_ sprite: SpriteRecord, running: RunningSprite) async throws {}

    func mountCheckpoints(_ sprite: SpriteRecord, running: RunningSprite, volumes: [(name: String, volume: String)]) async throws {
        guard isAlive(running) else { throw HobError(.invalidState, "mount checkpoints in sprite \(sprite.name): the sprite is not running") }
        state.withLock { $0.mounted[sprite.id] = volumes.map(\.name) }
    }
}
