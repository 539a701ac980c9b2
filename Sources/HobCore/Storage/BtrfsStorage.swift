// Storage on btrfs: the Storage seam over a BtrfsPool. Each sprite is a directory of subvolumes
// (its disk `root`, checkpoints under `ckpt/`) in a quota group; volumes are pool-relative paths
// such as `images/bookworm-v5` or `sprites/<id>/ckpt/v3`.
//
// Every mutation waits for a btrfs transaction commit, so it runs on the blocking pool; queries
// are a stat or an ioctl and run where they are asked.
import Foundation
import Glibc
import HobOS
import Logging
import Synchronization

public final class BtrfsStorage: Storage {
    public let pool: BtrfsPool
    let logger: Logger
    /// The base image's extents, by image: scanned once (images never change).
    private let imageExtents = Mutex<[String: [UInt64: UInt64]]>([:])

    public init(pool: BtrfsPool, logger: Logger) {
        self.pool = pool
        self.logger = logger
    }

    // MARK: Disks

    public func hasDisk(_ sprite: String) -> Bool { pool.hasSpriteVolume(sprite) }
    public func diskIDs() -> [String] { pool.spriteVolumeIDs() }
    public func diskDirectory(_ sprite: String) -> String { pool.spriteRoot(sprite) }

    public func createDisk(_ sprite: String, from volume: String, keepAsV0: Bool, quotaBytes: Int64) async throws {
        try await offload { [pool] in try pool.createSpriteVolume(sprite, from: volume, keepAsV0: keepAsV0, quotaBytes: quotaBytes) }
    }

    public func deleteDisk(_ sprite: String) async throws {
        try await offload { [pool] in try pool.deleteSpriteVolume(sprite) }
    }

    // MARK: Volumes

    public func imageVolume(_ image: String) -> String { BtrfsPool.imageVolume(image) }
    public func checkpointVolume(sprite: String, _ name: String) -> String { BtrfsPool.checkpointVolume(sprite: sprite, name) }
    public func owns(_ volume: String, sprite: String) -> Bool { volume.hasPrefix("sprites/\(sprite)/") }
    public func hasVolume(_ volume: String) -> Bool { pool.hasVolume(volume) }
    public func volumeDirectory(_ volume: String) -> String { pool.path(ofVolume: volume) }

    public func deleteVolume(_ volume: String) async throws {
        try await offload { [pool] in try pool.deleteVolume(volume) }
    }

    public func snapshotDisk(_ sprite: String, as name: String) async throws -> String {
        try await offload { [pool] in try pool.snapshotRoot(sprite, as: name) }
    }

    public func snapshotDisk(_ sprite: String, intoV0Of other: String) async throws -> String {
        try await offload { [pool] in try pool.snapshotRoot(sprite, intoV0Of: other) }
    }

    public func checkpointNames(_ sprite: String) -> [String] { pool.checkpointNames(sprite) }

    // MARK: Restore

    public func stageRestore(_ sprite: String, from volume: String) async throws {
        try await offload { [pool] in try pool.stageRestore(sprite, from: volume) }
    }

    public func swapDisk(_ sprite: String) async throws {
        try await offload { [pool] in try pool.swapRoot(sprite) }
    }

    public func completeRestore(_ sprite: String) async throws {
        try await offload { [pool] in try pool.completeRestore(sprite) }
    }

    public func abandonRestore(_ sprite: String) async throws {
        try await offload { [pool] in try pool.abandonRestore(sprite) }
    }

    // MARK: Space

    /// Scans extents (ExtentScan): a Debian root costs a few hundred milliseconds.
    public func measureSpace(_ sprite: String, checkpoints: [(id: String, volume: String)], image: String) async throws -> SpaceReport {
        let owned = checkpoints.map { (id: $0.id, path: pool.path(ofVolume: $0.volume)) }
        let root = pool.spriteRoot(sprite)
        let imagePath = pool.imagePath(image)
        let cached = imageExtents.withLock { $0[image] }
        let (report, extents) = try await offload {
            let imageExtents = try cached ?? ExtentScan.scan(imagePath).extents
            var union = try ExtentScan.scan(root)
            let rootExclusive = union.exclusiveBytes
            var sizes: [String: Int64] = [:]
            for c in owned {
                let scan = try ExtentScan.scan(c.path)
                sizes[c.id] = scan.exclusiveBytes
                union.extents.merge(scan.extents) { max($0, $1) }
                union.unmappedBytes += scan.unmappedBytes
            }
            let total = union.bytes(notIn: imageExtents) + union.unmappedBytes
            return (SpaceReport(checkpoints: sizes, total: total, rootExclusive: rootExclusive, measuredAt: .now), imageExtents)
        }
        if cached == nil { imageExtents.withLock { $0[image] = extents } }
        return report
    }

    public var enforcesQuotas: Bool { pool.quota != nil }

    public func prepareQuota(_ sprite: String, bytes: Int64) async throws {
        try await offload { [pool] in try pool.prepareQuota(sprite, bytes: bytes) }
    }

    public func adoptQuota(_ sprite: String, bytes: Int64) async throws {
        try await offload { [pool] in try pool.adoptQuota(sprite, bytes: bytes) }
    }

    public func quotaUsedBytes(_ sprite: String) -> Int64? { pool.quotaUsage(sprite)?.referenced }

    public func releaseUnusedQuotas() async {
        _ = try? await offload { [pool] in pool.releaseUnusedQuotaGroups() }
    }

    @discardableResult
    public func refreshBudget() async -> Int64? {
        (try? await offload { [pool, logger] in pool.refreshSpriteBudget(logger: logger) }) ?? nil
    }

    public func spaceLeftForSprites() -> Int64? { pool.spriteSpaceLeft() }

    public func usage() -> StorageUsage {
        var usage = StorageUsage()
        var fs = statvfs()
        if statvfs(pool.root, &fs) == 0 {
            let block = Int64(fs.f_frsize)
            usage.size = Int64(fs.f_blocks) * block
            usage.used = Int64(fs.f_blocks - fs.f_bfree) * block
            usage.free = Int64(fs.f_bavail) * block
        }
        if let sprites = pool.spritesUsage() {
            usage.spritesCharged = sprites.referenced
            usage.spritesBudget = sprites.limit
        }
        return usage
    }
}
