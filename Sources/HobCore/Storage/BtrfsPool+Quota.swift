// Disk quotas: btrfs simple quotas (squota) on the pool.
//
//   2/0          every sprite; its limit is the sprites' budget: what the pool and the host under
//                it can still hold (PoolSizing.spriteBudget), recomputed as free space moves
//   └─ 1/<n>     one sprite (number in pool/sprites/<id>/qgroup); limit = config.storage_gb
//      └─ 0/<s>  each of its subvolumes: root, checkpoints, a restore's new root
//
// Simple quotas charge an extent to the subvolume that wrote it, for as long as it exists. So a
// sprite is charged for what it writes, including data only its checkpoints still hold, and not
// for the base image (charged to the image's own group, outside 2/0). A fork is charged for what
// it writes after the fork; what it shares with its source stays charged to the source. When a
// subvolume is deleted while a checkpoint still holds its extents, its 0/<s> group lingers with
// that charge, still inside the sprite's group: deleting the checkpoint frees it. A write beyond a
// limit fails with EDQUOT inside the sprite; nothing else is affected.
//
// Measured (kernel 6.18): squota adds no measurable time to a snapshot (checkpoint p50 ~20 ms
// either way), where full qgroups added 38–61 ms to every checkpoint.
import Foundation
import Glibc
import HobOS
import Logging

extension BtrfsPool {
    /// The group over every sprite's group.
    static let spritesGroup = Qgroup(level: 2, id: 0)

    /// Enables simple quotas on the pool (idempotent) and makes the sprites' group. Without them
    /// (a kernel before 6.7, a pool with full qgroups) the pool works, unenforced, and says so.
    func withQuotas(logger: Logger) -> BtrfsPool {
        do {
            let quota = try BtrfsQuota.enableSimple(on: root)
            if quota.usage(Self.spritesGroup) == nil { try quota.create(Self.spritesGroup) }
            return BtrfsPool(root: root, ownsMount: ownsMount, imageFile: imageFile, quota: quota, host: host)
        } catch {
            logger.error("disk quotas are not enforced: btrfs simple quotas could not be enabled on the pool", metadata: ["error": "\(error)"])
            return self
        }
    }

    func quotaGroupFile(_ id: String) -> String { "\(spritesDirectory)/\(id)/qgroup" }

    /// The sprite's quota group, as recorded next to its volumes.
    public func quotaGroup(of id: String) -> Qgroup? { quotaGroup(recordedIn: quotaGroupFile(id)) }

    func quotaGroup(recordedIn file: String) -> Qgroup? {
        guard quota != nil, let text = try? Files.read(file) else { return nil }
        let parts = text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "/")
        guard parts.count == 2, let level = UInt64(parts[0]), let number = UInt64(parts[1]) else { return nil }
        return Qgroup(level: level, id: number)
    }

    /// Gives the sprite a quota group (unless it has one) inside the sprites' group, limited to
    /// `bytes`. Idempotent. Subvolumes made for the sprite afterwards join the group.
    public func prepareQuota(_ id: String, bytes: Int64) throws {
        try Files.makeDirectory("\(spritesDirectory)/\(id)", mode: 0o700)
        guard let quota else { return }
        let group: Qgroup
        if let existing = quotaGroup(of: id), quota.usage(existing) != nil {
            group = existing
        } else {
            group = try makeSpriteGroup(quota, recordedIn: quotaGroupFile(id))
        }
        try quota.limit(group, bytes: bytes)
    }

    /// A new level-1 group for the sprite, numbered past every group there is (lingering ones
    /// included). The number is recorded before the group exists, so that a concurrent
    /// `releaseUnusedQuotaGroups` never takes it for the group of a destroyed sprite.
    func makeSpriteGroup(_ quota: BtrfsQuota, recordedIn file: String) throws -> Qgroup {
        var number = (quota.groups().filter { $0.level == 1 }.map(\.id).max() ?? 0) + 1
        while true {
            let group = Qgroup(level: 1, id: number)
            // No fsync (it would cost milliseconds per create): the sprite's first snapshot commits
            // the transaction, and after a crash before that the sprite is removed anyway.
            guard FileManager.default.createFile(atPath: file, contents: Data("\(group)\n".utf8), attributes: [.posixPermissions: 0o600])
            else { throw SystemError(operation: "write \(file)", errno: EIO) }
            do {
                try quota.create(group)
                try quota.assign(group, to: Self.spritesGroup)
                return group
            } catch {
                // Taken (a group nobody's file names, say): try the next number.
                guard error.errno == EEXIST, number < 1 << 40 else { throw error }
                number += 1
            }
        }
    }

    /// Puts a sprite whose volumes predate quotas (or lost their group) under its quota: a group
    /// with the limit, and its existing subvolumes in it. Data written before the pool had quotas
    /// is charged to no one (simple quotas only see extents allocated after they were enabled).
    public func adoptQuota(_ id: String, bytes: Int64) throws {
        guard let quota else { return }
        let had = quotaGroup(of: id).flatMap { quota.usage($0) } != nil
        try prepareQuota(id, bytes: bytes)
        guard !had, let group = quotaGroup(of: id) else { return }
        let volumes = [spriteRoot(id), nextRoot(id)] + ((try? FileManager.default.contentsOfDirectory(atPath: checkpointsDirectory(id))) ?? [])
            .map { "\(checkpointsDirectory(id))/\($0)" }
        for volume in volumes where Btrfs.isSubvolume(volume) {
            do {
                try quota.assign(Qgroup(level: 0, id: try Btrfs.subvolumeID(volume)), to: group)
            } catch {
                guard error.errno == EEXIST else { throw error }  // already a member
            }
        }
    }

    /// What the sprite is charged for and its limit; nil without quotas.
    public func quotaUsage(_ id: String) -> QgroupUsage? {
        guard let quota, let group = quotaGroup(of: id) else { return nil }
        return quota.usage(group)
    }

    /// Destroys quota groups nothing needs any more: those of deleted subvolumes that no longer
    /// hold anything, then the groups of destroyed sprites that have no members left. Subvolumes
    /// are dropped in the background and a destroyed sprite's group stays while a fork still shares
    /// its data, so this is retried from time to time; refusals (EBUSY) are expected.
    public func releaseUnusedQuotaGroups() {
        guard let quota else { return }
        let groups = quota.all()
        for (group, referenced) in groups where group.level == 0 && referenced == 0 {
            // The kernel refuses (EBUSY) for a subvolume that still exists.
            try? quota.destroy(group)
        }
        let live = Set(spriteVolumeIDs().compactMap { quotaGroup(of: $0) }).union(spareQuotaGroups())
        for group in groups.keys where group.level == 1 && !live.contains(group) {
            try? quota.destroy(group)
        }
    }

    // MARK: - The sprites' budget

    /// Recomputes what all sprites together may hold from the pool's and the host's free space,
    /// and sets it as the limit of the sprites' group (when it moved by more than a little).
    /// Returns the budget; nil without quotas.
    @discardableResult
    public func refreshSpriteBudget(logger: Logger) -> Int64? {
        guard let quota, let usage = quota.usage(Self.spritesGroup) else { return nil }
        var fs = statvfs()
        guard statvfs(root, &fs) == 0 else { return nil }
        let capacity = Int64(fs.f_blocks) * Int64(fs.f_frsize)
        let used = Int64(fs.f_blocks - fs.f_bfree) * Int64(fs.f_frsize)
        var hostSpace: HostSpace?
        var reserve: Int64 = 0
        if let host, let space = try? Self.hostSpace(host.path) {
            hostSpace = space
            reserve = host.reserve.bytes(hostTotal: space.total)
        }
        let budget = PoolSizing.spriteBudget(
            poolCapacity: capacity, poolUsed: used, spritesCharged: usage.referenced, host: hostSpace, reserve: reserve)
        if abs(budget - (usage.limit ?? 0)) >= Self.budgetSlack {
            do {
                try quota.limit(Self.spritesGroup, bytes: budget)
                logger.debug("sprites' storage budget", metadata: ["budget": "\(budget)", "charged": "\(usage.referenced)"])
            } catch {
                logger.error("could not set the sprites' storage budget", metadata: ["error": "\(error)"])
            }
        }
        return budget
    }

    /// Budget changes smaller than this are not worth a btrfs transaction.
    static let budgetSlack: Int64 = 32 << 20

    /// What all sprites together are charged for, and their budget; nil without quotas.
    public func spritesUsage() -> QgroupUsage? { quota?.usage(Self.spritesGroup) }

    /// Bytes sprites may still write before the pool is full for them; nil without quotas.
    public func spriteSpaceLeft() -> Int64? {
        guard let usage = quota?.usage(Self.spritesGroup), let limit = usage.limit else { return nil }
        return limit - usage.referenced
    }
}
