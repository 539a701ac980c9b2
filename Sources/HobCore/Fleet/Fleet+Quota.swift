// Disk quotas as the fleet sees them: every sprite under its `storage_gb` (Storage; on btrfs, BtrfsPool+Quota.swift),
// the sprites' budget kept in line with the host's free space, and requests that would need space
// the storage no longer has answered with 507 insufficient_storage.
import Foundation
import HobOS
import Logging
import Metrics

extension Fleet {
    /// Ticks (seconds) between recomputing the sprites' budget from the host's free space, and
    /// between sweeps for quota groups that destroyed sprites left behind.
    static let budgetEvery = 5
    static let quotaSweepEvery = 60
    /// Below this much room for sprites, creating sprites and checkpoints is refused: they would
    /// pin space (a checkpoint keeps what the sprite deletes next) when there is none to give.
    static let minimumSpaceLeft: Int64 = 64 << 20

    /// The sprite's quota in bytes: `storage_gb` gibibytes.
    static func quotaBytes(_ record: SpriteRecord) -> Int64 { Int64(record.storageGB) << 30 }

    /// At start: every sprite in its quota group with its limit (sprites from before quotas are
    /// adopted), leftover groups released, and the sprites' budget set.
    func adoptQuotas() async {
        guard storage.enforcesQuotas else { return }
        for record in registered {
            do {
                try await storage.adoptQuota(record.id, bytes: Self.quotaBytes(record))
            } catch {
                logger.error("sprite has no disk quota", metadata: ["sprite": "\(record.name)", "error": "\(error)"])
            }
        }
        await storage.releaseUnusedQuotas()
        if let budget = await storage.refreshBudget() {
            logger.info("disk quotas on", metadata: ["sprites_budget": "\(budget)"])
        }
    }

    func refreshQuotas(tick n: Int) async {
        guard storage.enforcesQuotas else { return }
        if n % Self.budgetEvery == 0 { await storage.refreshBudget() }
        if n % Self.quotaSweepEvery == 0 { await storage.releaseUnusedQuotas() }
    }

    /// Throws 507 when the pool has no room left for sprites (not when one sprite is at its own
    /// quota: that is the sprite's business, and its checkpoints and restores stay possible).
    public func requireSpace(_ step: String) throws {
        guard let left = storage.spaceLeftForSprites(), left < Self.minimumSpaceLeft else { return }
        metrics.refused("pool_space")
        throw HobError(
            .insufficientStorage,
            "\(step): the storage is full (\(max(0, left) >> 20) MiB left for sprites); delete files, checkpoints or sprites to free space")
    }
}
