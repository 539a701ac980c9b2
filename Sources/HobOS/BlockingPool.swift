// A fixed set of threads for blocking work: btrfs ioctls that wait for a transaction commit,
// host commands, file I/O on a sprite's disk, descriptor passing with a deadline.
//
// Why not GCD's global queue: it starts another thread whenever one blocks, so a burst of blocked
// work (a hundred sprites checkpointing at once) grows the daemon by a hundred threads. Here the
// width is fixed; work beyond it waits its turn in FIFO order. Every job the daemon runs here ends
// on its own (each blocking call has a deadline or is bounded by the disk), so waiting is never
// forever.
import Dispatch
import Foundation
import Synchronization

public final class BlockingPool: Sendable {
    /// The daemon's pool. Wide enough that a few slow disk operations do not hold up the quick
    /// ones behind them, narrow enough that a burst cannot multiply threads.
    public static let shared = BlockingPool(threads: max(8, 4 * ProcessInfo.processInfo.activeProcessorCount))

    public let threads: Int
    private let jobs = Mutex<Jobs>(Jobs())
    private let ready = DispatchSemaphore(value: 0)

    private struct Jobs: ~Copyable {
        /// FIFO from `head`. A started job's slot is emptied at once: a job holds what its closure
        /// captured (an open file, say), which must go when the job is done, not at compaction.
        var queue: [(@Sendable () -> Void)?] = []
        var head = 0
        var started = 0

        mutating func pop() -> (@Sendable () -> Void)? {
            guard head < queue.count else { return nil }
            let job = queue[head]
            queue[head] = nil
            head += 1
            // Compact now and then so the array does not grow without end.
            if head > 64, head * 2 > queue.count {
                queue.removeFirst(head)
                head = 0
            }
            return job
        }
    }

    public init(threads: Int) {
        self.threads = max(1, threads)
    }

    /// Runs `job` on one of the pool's threads, after the jobs submitted before it have started.
    public func submit(_ job: @escaping @Sendable () -> Void) {
        let startThread = jobs.withLock { jobs -> Bool in
            jobs.queue.append(job)
            guard jobs.started < threads else { return false }
            jobs.started += 1
            return true
        }
        // Threads start on demand, up to the width, and then live as long as the process.
        if startThread {
            let worker = Thread { [self] in work() }
            worker.name = "hob-blocking"
            worker.start()
        }
        ready.signal()
    }

    /// Runs `body` on the pool and returns its result to the awaiting task.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            submit { continuation.resume(with: Result { try body() }) }
        }
    }

    /// Jobs submitted and not yet started.
    public var waiting: Int { jobs.withLock { $0.queue.count - $0.head } }

    private func work() {
        while true {
            ready.wait()
            if let job = jobs.withLock({ $0.pop() }) { job() }
        }
    }
}

/// Runs blocking work on the daemon's bounded pool, so it never holds up the cooperative pool or
/// an actor.
public func offload<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await BlockingPool.shared.run(body)
}
