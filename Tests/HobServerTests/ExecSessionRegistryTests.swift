// The registry's bookkeeping as pure state: which disconnect timers still apply, and which entries are forgotten.
import Testing

@testable import HobServer

@Suite("Exec session registry")
struct ExecSessionRegistryTests {
    let key = ExecSessionRegistry.Key(sprite: "s", session: 42)

    @Test("a session that reuses a PID does not match the earlier session's pending timer")
    func reusedPID() throws {
        let registry = ExecSessionRegistry()
        registry.started(key, rows: 0, cols: 0, afterDisconnect: .limit(.seconds(10)))
        let first = try #require(registry.entry(key)).generation
        registry.ended(key)
        registry.started(key, rows: 0, cols: 0, afterDisconnect: .limit(.seconds(10)))
        #expect(!registry.isCurrent(key, generation: first))
    }

    @Test("an attach invalidates the timer set when the last client left")
    func attachInvalidates() throws {
        let registry = ExecSessionRegistry()
        registry.started(key, rows: 0, cols: 0, afterDisconnect: .limit(.seconds(10)))
        let left = try #require(registry.entry(key)).generation
        #expect(registry.isCurrent(key, generation: left))
        _ = registry.attached(key)
        #expect(!registry.isCurrent(key, generation: left))
    }

    @Test("listing a sprite's sessions forgets those hob-init no longer runs, and only that sprite's")
    func prune() {
        let registry = ExecSessionRegistry()
        let other = ExecSessionRegistry.Key(sprite: "t", session: 7)
        let alive = ExecSessionRegistry.Key(sprite: "s", session: 43)
        for k in [key, alive, other] { registry.started(k, rows: 0, cols: 0, afterDisconnect: .forever) }
        registry.prune(sprite: "s", running: [43])
        #expect(registry.entry(key) == nil)
        #expect(registry.entry(alive) != nil)
        #expect(registry.entry(other) != nil)
    }
}
