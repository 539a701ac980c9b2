// Storage: spare disks, made ahead of time so that a create only renames one into place.
//
// A new sprite's disk is a writable snapshot of its image, and a snapshot waits for the pool's
// transaction commit (~10 ms, far more while other sprites write). So the pool keeps a few such
// snapshots ready per image, made in the background one at a time:
//
//   pool/spares/<image>/<n>/root      a writable snapshot of images/<image>, never booted
//   pool/spares/<image>/<n>/qgroup    its quota group (level 1, in the sprites' group; the limit
//                                     is set when a sprite takes it)
//   pool/spares/<image>/.new-<n>/     one being made, not yet usable
//
// A create from an image takes a spare by renaming its directory to sprites/<id>: atomic, so two
// creates never get the same one, and a crash leaves it either a spare or a sprite's disk (which
// the Fleet's start removes if the create never reached the database). Only a create from that
// same image takes one; forks and restores never do. Spares hold nothing of anyone, but they are
// not trusted across a restart (one may be half made, and the image may have changed): every
// start deletes them all and makes new ones.
import Dispatch
import Foundation
import Glibc
import HobOS
import Logging
import Synchronization

/// Which images want spares, and whether the background filler is at work.
final class SpareDisks: Sendable {
    /// Ready spares kept per image: enough for a burst of creates, few enough that their
    /// (shared, copy-on-write) subvolumes cost nothing worth counting.
    static let kept = 2

    struct State {
        var images: Set<String> = []
        var filling = false
        var made = 0
    }

    let state = Mutex(State())
    let queue = DispatchQueue(label: "hob.spare-disks", qos: .utility)
}

extension BtrfsPool {
    var sparesDirectory: String { "\(root)/spares" }
    func sparesDirectory(of image: String) -> String { "\(sparesDirectory)/\(image)" }

    /// The image a volume name stands for ("images/<name>"); nil for checkpoints.
    static func imageName(ofVolume volume: String) -> String? {
        let parts = volume.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0] == "images", !parts[1].isEmpty, !parts[1].hasPrefix(".") else { return nil }
        return String(parts[1])
    }

    /// Deletes every spare (at start: they are not trusted across a restart).
    func removeSpares(logger: Logger) {
        guard Files.exists(sparesDirectory) else { return }
        do {
            try Self.removeVolumes(sparesDirectory)
        } catch {
            logger.warning("could not remove the spare disks of an earlier run", metadata: ["error": "\(error)"])
        }
    }

    /// Keeps spares of `image` ready from now on (made in the background).
    public func keepSpares(of image: String) {
        spares.state.withLock { _ = $0.images.insert(image) }
        fillSpares()
    }

    /// Makes no more spares, and waits for one being made.
    func stopSpares() async {
        spares.state.withLock { $0.images.removeAll() }
        _ = try? await offload { [spares] in spares.queue.sync {} }
    }

    /// Ready spares of `image`, oldest first.
    func readySpares(of image: String) -> [String] {
        let dir = sparesDirectory(of: image)
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return entries.filter { !$0.hasPrefix(".") }.sorted { (Int($0) ?? 0) < (Int($1) ?? 0) }.map { "\(dir)/\($0)" }
    }

    /// Moves a ready spare of `image` to be sprite `id`'s volume directory; false when there is
    /// none (or `id` already has a directory, which is then left alone).
    func takeSpare(of image: String, for id: String) -> Bool {
        let target = "\(spritesDirectory)/\(id)"
        guard !Files.exists(target) else { return false }
        for spare in readySpares(of: image) {
            if rename(spare, target) == 0 { return true }
            // ENOENT: another create took it first; try the next one. Anything else: make the
            // disk the slow way.
            if errno != ENOENT { return false }
        }
        return false
    }

    /// Quota groups that spares (ready or being made) hold, so that releasing unused groups
    /// never takes one.
    func spareQuotaGroups() -> Set<Qgroup> {
        guard quota != nil else { return [] }
        var groups = Set<Qgroup>()
        for image in (try? FileManager.default.contentsOfDirectory(atPath: sparesDirectory)) ?? [] {
            let dir = sparesDirectory(of: image)
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
                if let group = quotaGroup(recordedIn: "\(dir)/\(entry)/qgroup") { groups.insert(group) }
            }
        }
        return groups
    }

    /// Tops up every kept image's spares, one snapshot at a time, off the caller's thread.
    func fillSpares() {
        let start = spares.state.withLock { state -> Bool in
            guard !state.filling, !state.images.isEmpty else { return false }
            state.filling = true
            return true
        }
        guard start else { return }
        let pool = self
        spares.queue.async {
            while true {
                let next = pool.spares.state.withLock { state -> (image: String, number: Int)? in
                    for image in state.images.sorted() where pool.readySpares(of: image).count < SpareDisks.kept {
                        state.made += 1
                        return (image, state.made)
                    }
                    state.filling = false
                    return nil
                }
                guard let next else { return }
                do {
                    try pool.makeSpare(of: next.image, number: next.number)
                } catch {
                    // Creates fall back to snapshotting themselves; the next create tries again.
                    pool.spares.state.withLock {
                        $0.images.remove(next.image)
                        $0.filling = false
                    }
                    return
                }
            }
        }
    }

    /// One spare: made under a hidden name, renamed into place once complete.
    func makeSpare(of image: String, number: Int) throws {
        guard hasImage(image) else { throw SystemError(operation: "make a spare disk of image \(image)", errno: ENOENT) }
        let dir = sparesDirectory(of: image)
        try Files.makeDirectory(sparesDirectory, mode: 0o700)
        try Files.makeDirectory(dir, mode: 0o700)
        let staging = "\(dir)/.new-\(number)"
        try? Self.removeVolumes(staging)
        do {
            try Files.makeDirectory(staging, mode: 0o700)
            var group: Qgroup?
            if let quota { group = try makeSpriteGroup(quota, recordedIn: "\(staging)/qgroup") }
            try Btrfs.snapshot(imagePath(image), to: "\(staging)/root", readOnly: false, qgroup: group)
            try syscall("rename \(staging) → \(dir)/\(number)") { rename(staging, "\(dir)/\(number)") }
        } catch {
            try? Self.removeVolumes(staging)
            throw error
        }
    }
}
