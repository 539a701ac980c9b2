// Storage: the pool of copy-on-write volumes that hold base images and sprite disks.
//
// The pool is btrfs on a sparse loop file (<state>/pool.img) mounted at <state>/pool, also when the
// state directory is itself on btrfs: a pool of its own keeps a full pool away from the database
// and lets Hob enable quotas without touching the host's filesystem. (Pools that older versions made
// directly in a btrfs state directory still work, without quotas; see `open`.) A sprite's disk is a
// writable snapshot of a read-only base image subvolume, so creating one costs a btrfs
// transaction, not a copy.
//
//   pool/images/<image>              read-only base images
//   pool/sprites/<id>/root           a sprite's disk
//   pool/sprites/<id>/ckpt/<name>    its read-only checkpoints (v1…, auto-1…; v0 of a fork)
//   pool/sprites/<id>/root.next      a restore's new disk, before the swap
//   pool/sprites/<id>/root.old       a restore's old disk, after the swap
//   pool/sprites/<id>/qgroup         the sprite's quota group, e.g. "1/7" (BtrfsPool+Quota.swift)
//   pool/spares/<image>/<n>          a disk made ahead of time for the next create (BtrfsPool+Spares.swift)
//
// A checkpoint is a read-only snapshot of root; a restore snapshots the checkpoint to root.next
// and renames it into place; a fork snapshots a checkpoint into a new sprite. All copy-on-write.
// Every new subvolume of a sprite joins the sprite's quota group in its own transaction, which is
// what enforces `storage_gb` (BtrfsPool+Quota.swift). The sizes shown per checkpoint come from
// scanning extents in the background (Fleet+Space.swift).
import Foundation
import Glibc
import HobOS
import Logging

public struct BtrfsPool: Sendable {
    public let root: String
    /// True when Hob mounted a loop file and must unmount it on shutdown.
    public let ownsMount: Bool
    let imageFile: String
    /// Simple quotas on the pool; nil when they could not be enabled (then nothing is enforced).
    public let quota: BtrfsQuota?
    /// The host filesystem the pool file lives on and the bytes to leave free there; nil for an
    /// old pool made directly in the state directory's btrfs.
    let host: (path: String, reserve: DiskReserve)?
    /// Disks made ahead of time (BtrfsPool+Spares.swift).
    let spares = SpareDisks()

    var imagesDirectory: String { "\(root)/images" }
    var spritesDirectory: String { "\(root)/sprites" }

    /// Mounts (or reattaches) the pool for `config`, creating it on first start and growing its
    /// file when the host has gained free space since.
    public static func open(config: DaemonConfig, logger: Logger) async throws -> BtrfsPool {
        let state = config.stateDirectory
        try Files.makeDirectory(state, mode: 0o700)
        let poolDir = config.poolDirectory
        let host = (path: state, reserve: config.diskReserve)
        var pool: BtrfsPool
        if let mounted = Mounts.loopMount(of: config.poolImage, at: poolDir), mounted.fsType == "btrfs" {
            // A previous daemon (killed without shutdown) left the pool mounted: reuse it. Found by
            // the loop device that serves the pool file, whatever else the host has mounted.
            pool = BtrfsPool(root: poolDir, ownsMount: true, imageFile: config.poolImage, quota: nil, host: host)
            logger.info("storage pool reattached", metadata: ["pool": "\(poolDir)", "device": "\(mounted.source)"])
        } else if Btrfs.isBtrfs(state), Files.isDirectory("\(poolDir)/images") {
            // Made by an older Hob straight in the state directory's btrfs. Enabling quotas there would
            // change the host's filesystem (an incompat flag older kernels cannot mount), so this
            // pool runs without them; a new state directory gets a pool file.
            pool = BtrfsPool(root: poolDir, ownsMount: false, imageFile: "", quota: nil, host: nil)
            logger.warning(
                "storage pool is a directory in the state directory's btrfs (made by an older Hob): disk quotas are not enforced and a full pool fills the filesystem the database is on; start with a new state directory to get a pool file",
                metadata: ["pool": "\(poolDir)"])
            try Files.makeDirectory(pool.imagesDirectory, mode: 0o700)
            try Files.makeDirectory(pool.spritesDirectory, mode: 0o700)
            pool.removeSpares(logger: logger)
            return pool
        } else {
            try Files.makeDirectory(poolDir, mode: 0o700)
            let space = try hostSpace(state)
            let reserve = config.diskReserve.bytes(hostTotal: space.total)
            var grown = false
            if !Files.exists(config.poolImage) {
                guard let size = PoolSizing.newPoolSize(host: space, reserve: reserve, maxSize: config.poolSizeBytes) else {
                    throw HobError(
                        .insufficientStorage,
                        "the filesystem of \(state) has \(ByteText.format(space.available)) free; keeping \(ByteText.format(reserve)) free (--disk-reserve) leaves too little for a storage pool (at least \(ByteText.format(PoolSizing.minimumPool)))")
                }
                try await createImage(config.poolImage, size: size, nocow: Btrfs.isBtrfs(state), logger: logger)
            } else {
                grown = try growImage(config.poolImage, host: space, reserve: reserve, maxSize: config.poolSizeBytes, logger: logger)
            }
            // nosuid, nodev: sprites' disks hold files their root made (setuid binaries included),
            // owned by uid 0 on disk; on the host they must be inert. A sprite's own root gets
            // setuid back through its idmapped mount (hob_open_idmapped_tree).
            try await HostCommand.run("mount", ["-t", "btrfs", "-o", "loop,noatime,nosuid,nodev", config.poolImage, poolDir])
            // The loop device took the file's new size at mount; btrfs takes it now.
            if grown {
                do {
                    try await HostCommand.run("btrfs", ["filesystem", "resize", "max", poolDir])
                } catch {
                    // The pool still works at its old size; the next start tries again.
                    logger.error("could not grow the storage pool", metadata: ["error": "\(error)"])
                }
            }
            pool = BtrfsPool(root: poolDir, ownsMount: true, imageFile: config.poolImage, quota: nil, host: host)
            logger.info("storage pool mounted", metadata: ["pool": "\(poolDir)", "file": "\(config.poolImage)"])
        }
        pool = pool.withQuotas(logger: logger)
        try Files.makeDirectory(pool.imagesDirectory, mode: 0o700)
        try Files.makeDirectory(pool.spritesDirectory, mode: 0o700)
        // An import interrupted by a crash leaves a half-filled subvolume behind.
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: pool.imagesDirectory)) ?? [] where entry.hasPrefix(".import-") {
            try? Btrfs.deleteSubvolume("\(pool.imagesDirectory)/\(entry)")
        }
        // Spare disks of an earlier run are not trusted (one may be half made): new ones are made.
        pool.removeSpares(logger: logger)
        return pool
    }

    /// The host filesystem holding `path`.
    static func hostSpace(_ path: String) throws -> HostSpace {
        var fs = statvfs()
        try syscall("statvfs \(path)") { statvfs(path, &fs) }
        return HostSpace(total: Int64(fs.f_blocks) * Int64(fs.f_frsize), available: Int64(fs.f_bavail) * Int64(fs.f_frsize))
    }

    /// Grows the pool file (before it is mounted) when the host can give at least a step more than
    /// it has; true when it did. Never shrinks: btrfs would have to move data out of the tail first.
    static func growImage(_ path: String, host: HostSpace, reserve: Int64, maxSize: Int64, logger: Logger) throws -> Bool {
        var st = stat()
        try syscall("stat \(path)") { stat(path, &st) }
        let allocated = Int64(st.st_blocks) * 512
        guard let size = PoolSizing.grownPoolSize(current: Int64(st.st_size), allocated: allocated, host: host, reserve: reserve, maxSize: maxSize)
        else {
            if Int64(st.st_size) > allocated + host.available - reserve {
                logger.notice(
                    "the storage pool file is larger than the host can back; sprites together may use only what the host has free",
                    metadata: ["size": "\(ByteText.format(Int64(st.st_size)))", "host_free": "\(ByteText.format(host.available))"])
            }
            return false
        }
        logger.info("growing the storage pool", metadata: ["from": "\(ByteText.format(Int64(st.st_size)))", "to": "\(ByteText.format(size))"])
        try syscall("grow \(path)") { truncate(path, off_t(size)) }
        return true
    }

    /// `nocow`: the file is on btrfs, whose copy-on-write under the pool's own would only
    /// fragment it; the attribute must be set while the file is empty.
    static func createImage(_ path: String, size: Int64, nocow: Bool, logger: Logger) async throws {
        logger.info("creating storage pool", metadata: ["file": "\(path)", "size": "\(ByteText.format(size))"])
        let fd = try syscall("create \(path)") { Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600) }
        if nocow {
            // FS_IOC_GETFLAGS / FS_IOC_SETFLAGS with FS_NOCOW_FL. Best effort: only a matter of speed.
            var flags: Int32 = 0
            if ioctl(fd, 0x8008_6601, &flags) == 0 {
                flags |= 0x0080_0000
                _ = ioctl(fd, 0x4008_6602, &flags)
            }
        }
        let sized = ftruncate(fd, off_t(size)) == 0 ? 0 : errno
        close(fd)
        do {
            if sized != 0 { throw SystemError(operation: "size \(path)", errno: sized) }
            try await HostCommand.run("mkfs.btrfs", ["-q", "-K", "-L", "hob-pool", path])
        } catch {
            // No half-made pool file: the next start would mistake it for a pool.
            unlink(path)
            throw error
        }
    }

    /// Unmounts the pool; the loop device goes with it (mount -o loop sets autoclear).
    public func detach() async throws {
        // No spare being made while the pool is unmounted (its snapshot would keep it busy).
        await stopSpares()
        guard ownsMount else { return }
        try await HostCommand.run("umount", [root])
    }

    // MARK: - Images

    public func imagePath(_ name: String) -> String { "\(imagesDirectory)/\(name)" }

    public func hasImage(_ name: String) -> Bool { Btrfs.isSubvolume(imagePath(name)) }

    /// Copies a cached rootfs into a new read-only image subvolume, after checking that the copy
    /// has the content digest the image was built with (`BaseImage.digest`).
    public func importImage(_ name: String, from image: BaseImage.Cached, logger: Logger) async throws {
        let staging = "\(imagesDirectory)/.import-\(name)"
        if Files.exists(staging) { try Btrfs.deleteSubvolume(staging) }
        try Btrfs.createSubvolume(staging)
        logger.info("importing base image into the pool", metadata: ["image": "\(name)"])
        try await HostCommand.run("cp", ["-a", "--reflink=auto", "\(image.rootfs)/.", "\(staging)/"])
        let digest = try await BaseImage.digest(of: staging)
        guard digest == image.digest else {
            try? Btrfs.deleteSubvolume(staging)
            throw HobError(
                .internalError,
                "the base image at \(image.rootfs) does not match the digest it was built with (\(image.digest), now \(digest)): "
                    + "it was changed or damaged. Remove \(URL(fileURLWithPath: image.rootfs).deletingLastPathComponent().path) and start again to rebuild it")
        }
        try syscall("rename \(staging)") { rename(staging, imagePath(name)) }
        try Btrfs.setReadOnly(imagePath(name), true)
        // A snapshot commits the whole filesystem's transaction: flush the import now, at start-up,
        // rather than inside the first sprite's create.
        try Btrfs.sync(root)
    }

    // MARK: - Sprite volumes

    public func spriteRoot(_ id: String) -> String { "\(spritesDirectory)/\(id)/root" }
    func nextRoot(_ id: String) -> String { "\(spritesDirectory)/\(id)/root.next" }
    func oldRoot(_ id: String) -> String { "\(spritesDirectory)/\(id)/root.old" }
    func checkpointsDirectory(_ id: String) -> String { "\(spritesDirectory)/\(id)/ckpt" }

    public func hasSpriteVolume(_ id: String) -> Bool { Btrfs.isSubvolume(spriteRoot(id)) }

    /// Pool-relative names of volumes, as checkpoint records store them.
    public static func imageVolume(_ image: String) -> String { "images/\(image)" }
    public static func checkpointVolume(sprite id: String, _ name: String) -> String { "sprites/\(id)/ckpt/\(name)" }
    public func path(ofVolume volume: String) -> String { "\(root)/\(volume)" }

    /// A sprite's disk: a writable snapshot of a read-only volume (an image, or for a fork another
    /// sprite's checkpoint, which is then also kept as the fork's own v0), in a quota group that
    /// lets the sprite hold at most `quotaBytes`.
    public func createSpriteVolume(_ id: String, from volume: String, keepAsV0: Bool = false, quotaBytes: Int64) throws {
        if !keepAsV0, let image = Self.imageName(ofVolume: volume) {
            defer { keepSpares(of: image) }
            // A spare already is this image's snapshot, in a quota group of its own.
            if takeSpare(of: image, for: id) { return try prepareQuota(id, bytes: quotaBytes) }
        }
        try prepareQuota(id, bytes: quotaBytes)
        if keepAsV0 { _ = try checkpointSnapshot(of: path(ofVolume: volume), sprite: id, as: "v0") }
        try Self.snapshot(path(ofVolume: volume), replacing: spriteRoot(id), readOnly: false, qgroup: quotaGroup(of: id))
    }

    /// Snapshots `source` to `destination`, replacing what an interrupted operation left there.
    static func snapshot(_ source: String, replacing destination: String, readOnly: Bool, qgroup: Qgroup?) throws {
        if Btrfs.isSubvolume(destination) { try Btrfs.deleteSubvolume(destination) }
        try Btrfs.snapshot(source, to: destination, readOnly: readOnly, qgroup: qgroup)
    }

    /// A read-only snapshot of `source` as checkpoint `name` of sprite `id`; returns its volume name.
    func checkpointSnapshot(of source: String, sprite id: String, as name: String) throws -> String {
        try Files.makeDirectory("\(spritesDirectory)/\(id)", mode: 0o700)
        try Files.makeDirectory(checkpointsDirectory(id), mode: 0o700)
        let volume = Self.checkpointVolume(sprite: id, name)
        try Self.snapshot(source, replacing: path(ofVolume: volume), readOnly: true, qgroup: quotaGroup(of: id))
        return volume
    }

    // MARK: - Checkpoints

    /// A read-only snapshot of the sprite's disk as checkpoint `name`; returns its volume name.
    /// A leftover of the same name (a checkpoint that never reached the database) is replaced.
    public func snapshotRoot(_ id: String, as name: String) throws -> String {
        try checkpointSnapshot(of: spriteRoot(id), sprite: id, as: name)
    }

    /// Snapshots a sprite's disk straight into a volume of another sprite (fork from the current
    /// state): the new sprite's v0.
    public func snapshotRoot(_ id: String, intoV0Of other: String) throws -> String {
        try checkpointSnapshot(of: spriteRoot(id), sprite: other, as: "v0")
    }

    public func deleteVolume(_ volume: String) throws {
        let p = path(ofVolume: volume)
        if Btrfs.isSubvolume(p) { try Btrfs.deleteSubvolume(p) }
    }

    /// Checkpoint names that have a volume in the pool (for reconciliation).
    public func checkpointNames(_ id: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: checkpointsDirectory(id))) ?? []).filter { !$0.hasPrefix(".") }
    }

    public func hasVolume(_ volume: String) -> Bool { Btrfs.isSubvolume(path(ofVolume: volume)) }

    // MARK: - Restore: stage, swap, finish
    //
    // Each step leaves the pool in a state that `recoverRestore` can finish or undo after a crash:
    //   stage:  root + root.next                  → undo: delete root.next
    //   swap:   root.old + root.next → root.old + root → finish: delete root.old

    /// Step 1: the new disk, a writable snapshot of the checkpoint, next to the current one.
    public func stageRestore(_ id: String, from volume: String) throws {
        try Self.snapshot(path(ofVolume: volume), replacing: nextRoot(id), readOnly: false, qgroup: quotaGroup(of: id))
    }

    /// Step 2 (after the database records the restore): put the new disk in place. Two renames in
    /// one directory; whichever point a crash stops at, `completeRestore` finishes the job.
    public func swapRoot(_ id: String) throws {
        if Btrfs.isSubvolume(spriteRoot(id)) {
            if Btrfs.isSubvolume(oldRoot(id)) { try Btrfs.deleteSubvolume(oldRoot(id)) }
            try syscall("rename \(spriteRoot(id)) → root.old") { rename(spriteRoot(id), oldRoot(id)) }
        }
        try syscall("rename \(nextRoot(id)) → root") { rename(nextRoot(id), spriteRoot(id)) }
        try? Btrfs.deleteSubvolume(oldRoot(id))
    }

    /// After a crash with the restore recorded: roll it forward from wherever it stopped.
    public func completeRestore(_ id: String) throws {
        if Btrfs.isSubvolume(nextRoot(id)) { try swapRoot(id) }
        if Btrfs.isSubvolume(oldRoot(id)) { try Btrfs.deleteSubvolume(oldRoot(id)) }
    }

    /// After a crash with no restore recorded: drop a staged disk that never went live.
    public func abandonRestore(_ id: String) throws {
        if !Btrfs.isSubvolume(spriteRoot(id)), Btrfs.isSubvolume(oldRoot(id)) {
            // Cannot happen with the order above, but never leave a sprite without a disk.
            try syscall("rename \(oldRoot(id)) → root") { rename(oldRoot(id), spriteRoot(id)) }
        }
        if Btrfs.isSubvolume(nextRoot(id)) { try Btrfs.deleteSubvolume(nextRoot(id)) }
        if Btrfs.isSubvolume(oldRoot(id)) { try Btrfs.deleteSubvolume(oldRoot(id)) }
    }

    /// Deletes a sprite's disk, checkpoints and any restore leftovers.
    public func deleteSpriteVolume(_ id: String) throws {
        let dir = "\(spritesDirectory)/\(id)"
        guard Files.exists(dir) else { return }
        try Self.removeVolumes(dir)
        // Its quota group goes once btrfs has dropped the subvolumes (in the background).
        releaseUnusedQuotaGroups()
    }

    /// Removes `path` and everything below it, deleting subvolumes (read-only ones included) as
    /// subvolumes and plain directories as directories.
    static func removeVolumes(_ path: String) throws {
        if Btrfs.isSubvolume(path) { return try Btrfs.deleteSubvolume(path) }
        guard Files.isDirectory(path) else { return try Files.removeTree(path) }
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] {
            try removeVolumes("\(path)/\(entry)")
        }
        try syscall("remove \(path)") { rmdir(path) }
    }

    /// Ids of every sprite volume directory in the pool.
    public func spriteVolumeIDs() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: spritesDirectory)) ?? []).filter { !$0.hasPrefix(".") }
    }
}
