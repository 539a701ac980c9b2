// The live sprite list's one poller: while any `GET /v1/sprites` NDJSON stream is open, one task
// reads the fleet's list twice a second and hands each snapshot to every stream, which filters it
// by its prefix and sends its own differences. Before, each client polled the Fleet actor itself,
// so the actor's work grew with the number of clients. Each stream still diffs every snapshot, so
// at most `maxStreams` are open at once; more are refused with 429 until one closes.
import HobCore

actor SpriteListFeed {
    let fleet: Fleet
    let interval: Duration
    private var subscribers: [Int: AsyncStream<SpriteListStream.Snapshot>.Continuation] = [:]
    private var poller: Task<Void, Never>?
    private var nextToken = 0

    let maxStreams: Int

    init(fleet: Fleet, interval: Duration = SpriteListStream.pollInterval, maxStreams: Int) {
        self.fleet = fleet
        self.interval = interval
        self.maxStreams = maxStreams
    }

    /// Throws the 429 for a new stream while `maxStreams` are open. Checked when the request
    /// arrives (the stream subscribes once its answer is under way), so requests arriving
    /// together may pass it together: the bound holds up to those.
    func admit() throws {
        guard subscribers.count < maxStreams else {
            throw HobError(.rateLimited, "\(maxStreams) live sprite lists are open on this daemon; close one or retry later", retryAfter: 5)
        }
    }

    struct Subscription: Sendable {
        let token: Int
        /// The list as the subscription began.
        let first: SpriteListStream.Snapshot
        /// One snapshot per poll (the newest only, for a reader that falls behind).
        let snapshots: AsyncStream<SpriteListStream.Snapshot>
    }

    func subscribe() async -> Subscription {
        let first = SpriteListStream.snapshot(await fleet.list(prefix: nil, maxResults: Int.max, after: nil))
        nextToken += 1
        let (snapshots, continuation) = AsyncStream<SpriteListStream.Snapshot>.makeStream(bufferingPolicy: .bufferingNewest(1))
        subscribers[nextToken] = continuation
        if poller == nil { poller = Task { [weak self] in await self?.poll() } }
        return Subscription(token: nextToken, first: first, snapshots: snapshots)
    }

    func unsubscribe(_ token: Int) {
        subscribers.removeValue(forKey: token)?.finish()
        if subscribers.isEmpty {
            poller?.cancel()
            poller = nil
        }
    }

    private func poll() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            guard !Task.isCancelled else { return }
            let snapshot = SpriteListStream.snapshot(await fleet.list(prefix: nil, maxResults: Int.max, after: nil))
            for continuation in subscribers.values { continuation.yield(snapshot) }
        }
    }
}
