// Limits on what one sprite may ask of the daemon (FairShareLimits), checked before any work.
//
// Checkpoints: a snapshot costs a btrfs commit, a row, a remount of /.sprite/checkpoints and a
// space scan; 300 in 24 s from one sprite kept a core busy for minutes after. So each sprite has
// a token bucket (a burst, then one per interval; a 429 with Retry-After beyond it) and a cap on
// the checkpoints it keeps (409 `resource_exhausted` at the cap). Both apply to the public and
// the in-sprite API alike, since both end here.
import Foundation
import Metrics

/// `burst` tokens to start with, and one more every `interval`, up to `burst`.
struct TokenBucket: Sendable {
    var tokens: Double
    var updated: ContinuousClock.Instant

    init(burst: Int, now: ContinuousClock.Instant = .now) {
        tokens = Double(burst)
        updated = now
    }

    /// Takes a token, or says how long until one is there.
    mutating func take(burst: Int, interval: Duration, now: ContinuousClock.Instant = .now) -> Duration? {
        let earned = (now - updated) / interval
        tokens = min(Double(burst), tokens + earned)
        updated = now
        guard tokens >= 1 else { return interval * (1 - tokens) }
        tokens -= 1
        return nil
    }
}

extension Fleet {
    /// Checks that the sprite may take one more checkpoint now, and spends a token of its rate.
    /// Throws `resourceExhausted` at the count cap, `rateLimited` (with `retryAfter`) past the rate.
    public func admitCheckpoint(_ name: String) throws {
        let record = try self.record(name)
        try checkCheckpointCount(record)
        let limits = config.limits
        var bucket = sprites[record.id]?.checkpointRate ?? TokenBucket(burst: limits.checkpointBurst)
        if let wait = bucket.take(burst: limits.checkpointBurst, interval: limits.checkpointInterval) {
            sprites[record.id]?.checkpointRate = bucket
            metrics.refused("checkpoint_rate")
            let seconds = max(1, Int((Double(wait.components.seconds) + Double(wait.components.attoseconds) / 1e18).rounded(.up)))
            throw HobError(
                .rateLimited,
                "sprite \(name) is taking checkpoints too fast: \(limits.checkpointBurst) at once, then one every "
                    + "\(limits.checkpointInterval.components.seconds) s; retry in \(seconds) s",
                retryAfter: seconds)
        }
        sprites[record.id]?.checkpointRate = bucket
    }

    /// Checkpoints the sprite keeps that count against its cap: neither automatic ones nor v0.
    func checkCheckpointCount(_ record: SpriteRecord) throws {
        let kept = (sprites[record.id]?.checkpoints ?? []).filter { !$0.isAuto && $0.id != "v0" }.count
        let limit = config.limits.checkpointsPerSprite
        guard kept < limit else {
            metrics.refused("checkpoint_count")
            throw HobError(
                .resourceExhausted, "sprite \(record.name) has \(kept) checkpoints, as many as it may keep (\(limit)); delete some first")
        }
    }
}
