// Storage: the pool of copy-on-write volumes that hold base images and sprite disks.
//
// The pool is btrfs: the state directory itself when it is on btrfs, otherwise a sparse loop
// file (<state>/pool.img) mounted at <state>/pool. A sprite's disk is a writable snapshot of a
// read-only base image subvolume, so creating one costs a btrfs transaction, not a copy.
//
//   pool/images/<image>        read-only base images
//   pool/sprites/<id>/root     a sprite's disk
import Foundation
import Glibc
import HobOS
import Logging

public struct BtrfsPool: Sendable {
    public let root: String
    /// True when Hob mounted a loop file and must unmount it on shutdown.
    public let ownsMount: Bool
    let imageFile: String

    var imagesDirectory: String { "\(root)/images" }
    var spritesDirectory: String { "\(root)/sprites" }

    /// Mounts (or reattaches) the pool for `config`, creating it on first start.
    public static func open(config: DaemonConfig, logger: Logger) async throws -> BtrfsPool {
        let state = config.stateDirectory
        try Files.makeDirectory(state, mode: 0o700)
        let poolDir = config.poolDirectory
        let pool: BtrfsPool
        if Btrfs.isBtrfs(state) {
            try Files.makeDirectory(poolDir, mode: 0o700)
            pool = BtrfsPool(root: poolDir, ownsMount: false, imageFile: "")
            logger.info("storage pool on the state directory's btrfs", metadata: ["pool": "\(poolDir)"])
        } else if let mounted = Mounts.entry(at: poolDir), mounted.fsType == "btrfs" {
            // A previous daemon (killed without shutdown) left the pool mounted: reuse it.
            pool = BtrfsPool(root: poolDir, ownsMount: true, imageFile: config.poolImage)
            logger.info("storage pool reattached", metadata: ["pool": "\(poolDir)", "device": "\(mounted.source)"])
        } else {
            try Files.makeDirectory(poolDir, mode: 0o700)
            if !Files.exists(config.poolImage) {
                try await createImage(config.poolImage, size: poolSize(config), logger: logger)
            }
            try await HostCommand.run("mount", ["-t", "btrfs", "-o", "loop,noatime", config.poolImage, poolDir])
            pool = BtrfsPool(root: poolDir, ownsMount: true, imageFile: config.poolImage)
            logger.info("storage pool mounted", metadata: ["pool": "\(poolDir)", "file": "\(config.poolImage)"])
        }
        try Files.makeDirectory(pool.imagesDirectory, mode: 0o700)
        try Files.makeDirectory(pool.spritesDirectory, mode: 0o700)
        // An import interrupted by a crash leaves a half-filled subvolume behind.
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: pool.imagesDirectory)) ?? [] where entry.hasPrefix(".import-") {
            try? Btrfs.deleteSubvolume("\(pool.imagesDirectory)/\(entry)")
        }
        return pool
    }

    /// The pool file is sparse: size is a ceiling, not an allocation. Never promise more than
    /// the filesystem underneath holds.
    static func poolSize(_ config: DaemonConfig) -> Int64 {
        var fs = statvfs()
        guard statvfs(config.stateDirectory, &fs) == 0 else { return config.poolSizeBytes }
        let total = Int64(fs.f_blocks) * Int64(fs.f_frsize)
        return max(min(config.poolSizeBytes, total), 1 << 30)
    }

    static func createImage(_ path: String, size: Int64, logger: Logger) async throws {
        logger.info("creating storage pool", metadata: ["file": "\(path)", "size_gb": "\(size >> 30)"])
        let fd = try syscall("create \(path)") { Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600) }
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
        guard ownsMount else { return }
        try await HostCommand.run("umount", [root])
    }

    // MARK: - Images

    public func imagePath(_ name: String) -> String { "\(imagesDirectory)/\(name)" }

    public func hasImage(_ name: String) -> Bool { Btrfs.isSubvolume(imagePath(name)) }

    /// Copies a cached rootfs into a new read-only image subvolume.
    public func importImage(_ name: String, from rootfs: String, logger: Logger) async throws {
        let staging = "\(imagesDirectory)/.import-\(name)"
        if Files.exists(staging) { try Btrfs.deleteSubvolume(staging) }
        try Btrfs.createSubvolume(staging)
        logger.info("importing base image into the pool", metadata: ["image": "\(name)"])
        try await HostCommand.run("cp", ["-a", "--reflink=auto", "\(rootfs)/.", "\(staging)/"])
        try syscall("rename \(staging)") { rename(staging, imagePath(name)) }
        try Btrfs.setReadOnly(imagePath(name), true)
        // A snapshot commits the whole filesystem's transaction: flush the import now, at start-up,
        // rather than inside the first sprite's create.
        try Btrfs.sync(root)
    }

    // MARK: - Sprite volumes

    public func spriteRoot(_ id: String) -> String { "\(spritesDirectory)/\(id)/root" }

    public func hasSpriteVolume(_ id: String) -> Bool { Btrfs.isSubvolume(spriteRoot(id)) }

    public func createSpriteVolume(_ id: String, image: String) throws {
        let dir = "\(spritesDirectory)/\(id)"
        try Files.makeDirectory(dir, mode: 0o700)
        if Btrfs.isSubvolume(spriteRoot(id)) { try Btrfs.deleteSubvolume(spriteRoot(id)) }
        try Btrfs.snapshot(imagePath(image), to: spriteRoot(id), readOnly: false)
    }

    public func deleteSpriteVolume(_ id: String) throws {
        let dir = "\(spritesDirectory)/\(id)"
        guard Files.exists(dir) else { return }
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
            let path = "\(dir)/\(entry)"
            if Btrfs.isSubvolume(path) { try Btrfs.deleteSubvolume(path) } else { try Files.removeTree(path) }
        }
        try syscall("remove \(dir)") { rmdir(dir) }
    }

    /// Ids of every sprite volume directory in the pool.
    public func spriteVolumeIDs() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: spritesDirectory)) ?? []).filter { !$0.hasPrefix(".") }
    }
}
