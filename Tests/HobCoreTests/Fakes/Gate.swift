// A point a fake operation stops at until the test lets it go on: how Fleet tests put two
// operations in a chosen order (a wake that arrives while a freeze is under way, say).
import Synchronization

final class Gate: Sendable {
    private struct State {
        var arrived = false
        var open = false
        var arrivalWaiters: [CheckedContinuation<Void, Never>] = []
        var openWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    /// Called by the fake: records the arrival, then waits until the test opens the gate.
    func pass() async {
        let arrivals = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.arrived = true
            defer { s.arrivalWaiters = [] }
            return s.arrivalWaiters
        }
        for waiter in arrivals { waiter.resume() }
        await withCheckedContinuation { continuation in
            let open = state.withLock { s -> Bool in
                if !s.open { s.openWaiters.append(continuation) }
                return s.open
            }
            if open { continuation.resume() }
        }
    }

    /// Returns once the fake has reached the gate.
    func reached() async {
        await withCheckedContinuation { continuation in
            let arrived = state.withLock { s -> Bool in
                if !s.arrived { s.arrivalWaiters.append(continuation) }
                return s.arrived
            }
            if arrived { continuation.resume() }
        }
    }

    func open() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.open = true
            defer { s.openWaiters = [] }
            return s.openWaiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
