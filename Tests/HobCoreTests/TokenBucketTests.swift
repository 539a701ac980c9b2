// The checkpoint rate limiter: a burst, then one per interval, and how long to wait when empty.
import Testing

@testable import HobCore

@Suite("Token bucket")
struct TokenBucketTests {
    let start = ContinuousClock.now

    @Test("a full bucket gives its burst at once, then says how long until the next token")
    func burstThenWait() {
        var bucket = TokenBucket(burst: 3, now: start)
        for _ in 0..<3 { #expect(bucket.take(burst: 3, interval: .seconds(2), now: start) == nil) }
        let wait = bucket.take(burst: 3, interval: .seconds(2), now: start)
        #expect(wait == .seconds(2))
    }

    @Test("tokens come back one per interval, never beyond the burst")
    func refill() {
        var bucket = TokenBucket(burst: 2, now: start)
        _ = bucket.take(burst: 2, interval: .seconds(2), now: start)
        _ = bucket.take(burst: 2, interval: .seconds(2), now: start)
        let later = start + .seconds(3)
        #expect(bucket.take(burst: 2, interval: .seconds(2), now: later) == nil, "1.5 tokens earned")
        #expect(bucket.take(burst: 2, interval: .seconds(2), now: later) == .seconds(1), "half a token left")
        let muchLater = later + .seconds(3600)
        #expect(bucket.take(burst: 2, interval: .seconds(2), now: muchLater) == nil)
        #expect(bucket.take(burst: 2, interval: .seconds(2), now: muchLater) == nil)
        #expect(bucket.take(burst: 2, interval: .seconds(2), now: muchLater) != nil, "an hour earns the burst, not more")
    }
}
