import Foundation
import HobOS
import Synchronization
import Testing

@Suite("Blocking pool")
struct BlockingPoolTests {
    final class Witness: Sendable {}

    /// A value jobs share (a Mutex cannot be captured by an escaping closure itself).
    final class Shared<Value: Sendable>: Sendable {
        let value: Mutex<Value>
        init(_ value: Value) { self.value = Mutex(value) }
    }

    final class WeakWitness: @unchecked Sendable {
        weak var witness: Witness?
    }

    @Test("a finished job lets go of what it captured (an open file stays open no longer)")
    func releasesCaptures() async throws {
        let pool = BlockingPool(threads: 2)
        let probe = WeakWitness()
        do {
            let witness = Witness()
            probe.witness = witness
            _ = try await pool.run { _ = witness }
        }
        // The worker drops the job right after running it; give it a moment to get there.
        for _ in 0..<200 where probe.witness != nil { try await Task.sleep(for: .milliseconds(5)) }
        #expect(probe.witness == nil)
    }

    @Test("no more jobs run at once than the pool has threads; the rest wait their turn")
    func bounded() async throws {
        let pool = BlockingPool(threads: 3)
        let counts = Shared((now: 0, most: 0))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<24 {
                group.addTask {
                    try await pool.run {
                        counts.value.withLock { $0.now += 1; $0.most = max($0.most, $0.now) }
                        usleep(5_000)
                        counts.value.withLock { $0.now -= 1 }
                    }
                }
            }
            for try await _ in group {}
        }
        #expect(counts.value.withLock { $0.most } == 3)
    }

    @Test("jobs start in the order they were submitted")
    func fifo() async throws {
        let pool = BlockingPool(threads: 1)
        let order = Shared<[Int]>([])
        let gate = DispatchSemaphore(value: 0)
        pool.submit { gate.wait() }  // holds the only thread while the rest queue up
        var all: [Task<Void, any Error>] = []
        for i in 0..<50 {
            all.append(Task { try await pool.run { order.value.withLock { $0.append(i) } } })
            while pool.waiting < i + 1 { try await Task.sleep(for: .milliseconds(1)) }
        }
        gate.signal()
        for task in all { try await task.value }
        #expect(order.value.withLock { $0 } == Array(0..<50))
    }

    @Test("a job's error reaches the caller")
    func errors() async throws {
        struct Failure: Error {}
        let pool = BlockingPool(threads: 1)
        await #expect(throws: Failure.self) { try await pool.run { throw Failure() } }
    }
}
