// Checkpoints, restore and fork: "git for the whole disk".
//
// A checkpoint is a read-only snapshot of the sprite's disk (Storage), taken with the sprite frozen
// so that no write falls between the flush and the snapshot; the sprite keeps running. Restore
// replaces the disk in place with a writable snapshot of a checkpoint, after saving the state it
// replaces as an `auto-N` checkpoint. A fork is a new sprite whose disk is a snapshot of another's.
//
// Every operation on one sprite's disk runs through `exclusively`, one after another, so a
// checkpoint never races a restore, a stop or another checkpoint.
//
// Crash safety ("old state or new, never a mix, never nothing"):
//   - checkpoint: snapshot, then the row. A snapshot without a row is deleted at the next start.
//   - restore: snapshot the current disk (auto-N) and stage the checkpoint as root.next; then one
//     transaction records auto-N and `restoring`; then the disk is swapped; then the head moves.
//     At start, a recorded restore is rolled forward, an unrecorded one is dropped.
import Foundation
import HobAPI
import HobOS
import Logging
import Metrics

/// Receives progress lines of long operations (they become NDJSON `info` lines).
public typealias ProgressHandler = @Sendable (String) async -> Void

extension Fleet {
    /// Checkpoints mounted read-only at /.sprite/checkpoints/<id> inside a running sprite.
    static let mountedCheckpoints = 5
    /// Automatic checkpoints kept per sprite; older ones are deleted at the next restore.
    static let autoCheckpointsKept = 5
    static let maxCommentBytes = 4096

    // MARK: - Queries

    /// The sprite's checkpoints as the API lists them: `Current` first, then newest first.
    /// `history` keeps those descended from that checkpoint.
    public func checkpointList(_ name: String, includeAuto: Bool, history: String?) throws -> [CheckpointInfo] {
        let record = try self.record(name)
        var entries = [currentEntry(record)]
        entries += (sprites[record.id]?.checkpoints ?? []).reversed().filter { includeAuto || !$0.isAuto }.map { info($0, of: record) }
        if let history { entries = entries.filter { $0.history.contains(history) } }
        return entries
    }

    public func checkpointInfo(_ name: String, _ id: String) throws -> CheckpointInfo {
        let record = try self.record(name)
        if id == "Current" { return currentEntry(record) }
        return info(try checkpoint(record, id), of: record)
    }

    func checkpoint(_ record: SpriteRecord, _ id: String) throws -> CheckpointRecord {
        guard let c = sprites[record.id]?.checkpoints.first(where: { $0.id == id }) else {
            throw HobError(.notFound, "checkpoint \(id) not found for sprite \(record.name)")
        }
        return c
    }

    /// The live disk: the checkpoint it descends from, then that checkpoint's history.
    func lineage(_ record: SpriteRecord) -> [String] {
        let head = sprites[record.id]?.checkpoints.first { $0.id == record.head }
        return [record.head] + (head?.history ?? [])
    }

    func currentEntry(_ record: SpriteRecord) -> CheckpointInfo {
        let history = lineage(record)
        return CheckpointInfo(
            id: "Current", createTime: Timestamp.format(Date()), comment: "", history: history, isAuto: false,
            sizeBytes: spaceReport(record.id)?.rootExclusive, health: storage.hasDisk(record.id) ? "" : "mount_failed",
            sourceID: history.first)
    }

    func info(_ c: CheckpointRecord, of record: SpriteRecord) -> CheckpointInfo {
        // A v0 that is the base image holds nothing of the sprite's own.
        let size = ownsVolume(c) ? spaceReport(record.id)?.checkpoints[c.id] : 0
        return CheckpointInfo(
            id: c.id, createTime: Timestamp.format(c.createdAt), comment: c.comment, history: c.history, isAuto: c.isAuto,
            sizeBytes: size, health: storage.hasVolume(c.volume) ? "" : "mount_failed", sourceID: c.history.first)
    }

    func ownsVolume(_ c: CheckpointRecord) -> Bool { storage.owns(c.volume, sprite: c.spriteID) }

    // MARK: - Create

    /// Checks a checkpoint request before any work (and before a response stream starts).
    public nonisolated static func validateComment(_ comment: String) throws {
        guard comment.utf8.count <= maxCommentBytes, !comment.contains("\0") else {
            throw HobError(.invalidArgument, "comment must be at most \(maxCommentBytes) bytes of text")
        }
    }

    /// Checks a restore request before any work: the sprite and checkpoint exist and `id` is not
    /// the live disk.
    public func validateRestore(_ name: String, _ id: String) throws {
        let record = try bootable(name)
        guard id != "Current" else { throw HobError(.invalidArgument, "Current is the live disk; restore a checkpoint id such as v1") }
        _ = try checkpoint(record, id)
    }

    public func createCheckpoint(_ name: String, comment: String) async throws -> CheckpointRecord {
        try Self.validateComment(comment)
        let record = try bootable(name)
        try requireSpace("checkpoint sprite \(name)")
        // A request that needs the sprite counts as activity, and wakes it if it sleeps.
        if status(of: record) != .cold { _ = try await running(name) }
        return try await exclusively(record.id) {
            let started = ContinuousClock.now
            let checkpoint = try await self.takeCheckpoint(record, comment: comment)
            self.metrics.checkpointTime.record(since: started)
            return checkpoint
        }
    }

    private func takeCheckpoint(_ expected: SpriteRecord, comment: String) async throws -> CheckpointRecord {
        guard var record = sprites[expected.id]?.record else { throw notFound(expected.name) }
        // Admitted requests queue here one after another: the cap holds however many raced in.
        try checkCheckpointCount(record)
        let name = "v\(record.nextVersion)"
        let id = record.id
        let started = ContinuousClock.now
        let volume = try await consistentSnapshot(record) { [storage] in try await storage.snapshotDisk(id, as: name) }
        let snapshotted = ContinuousClock.now
        let checkpoint = CheckpointRecord(
            spriteID: record.id, id: name, createdAt: Date(), comment: comment, isAuto: false, history: lineage(record),
            volume: volume)
        record.head = name
        record.nextVersion += 1
        do {
            try await store.saveCheckpoints(spriteID: record.id, state: CheckpointState(record), inserting: [checkpoint], deleting: [])
        } catch {
            try? await storage.deleteVolume(volume)
            throw HobError.wrap(error, "record checkpoint \(name) of sprite \(record.name)")
        }
        setCheckpointState(record)
        sprites[record.id]?.checkpoints.append(checkpoint)
        let recorded = ContinuousClock.now
        requestSpaceReport(record.id)
        await refreshCheckpointMounts(record.id)
        logger.info("checkpoint created", metadata: [
            "sprite": "\(record.name)", "checkpoint": "\(name)", "ms": "\((ContinuousClock.now - started).milliseconds)",
            "snapshot_ms": "\((snapshotted - started).milliseconds)", "record_ms": "\((recorded - snapshotted).milliseconds)",
        ])
        return checkpoint
    }

    /// Snapshots the sprite's disk with `take`. A running sprite is frozen for the snapshot (which
    /// flushes its dirty data first) and thawed right after, whatever happened; a warm one is
    /// frozen already and stays asleep.
    func consistentSnapshot(_ record: SpriteRecord, _ take: @escaping @Sendable () async throws -> String) async throws -> String {
        var running: RunningSprite?
        switch sprites[record.id]?.phase ?? .cold {
        case .creating: throw HobError(.unavailable, "sprite \(record.name) is still being created; retry")
        case .cold, .warm: running = nil
        case .booting(let task): running = try? await task.value
        case .running(let r): running = r
        }
        guard let running else {
            do { return try await take() } catch { throw HobError.wrap(error, "snapshot the disk of sprite \(record.name)") }
        }
        let runtime = runtimes.of(record)
        try await runtime.freeze(record.id)
        let result: Result<String, any Error>
        do { result = .success(try await take()) } catch { result = .failure(error) }
        do {
            try await runtime.wake(record.id)
        } catch {
            // Still frozen: marked warm, so the next request's wake tries again (and restarts the
            // sprite if it must) rather than talking to a frozen agent.
            logger.error("could not thaw the sprite after a snapshot", metadata: ["sprite": "\(record.name)", "error": "\(error)"])
            if case .running(let current)? = sprites[record.id]?.phase, current == running {
                accrue(record.id)
                sprites[record.id]?.phase = .warm(running)
            }
        }
        do { return try result.get() } catch { throw HobError.wrap(error, "snapshot the disk of sprite \(record.name)") }
    }

    // MARK: - Restore

    /// Replaces the sprite's disk with checkpoint `id`, saving the current state as `auto-N`
    /// first. Sessions end; a sprite that was running or asleep is booted again before this returns.
    public func restoreCheckpoint(_ name: String, _ id: String, progress: @escaping ProgressHandler) async throws {
        try validateRestore(name, id)
        let record = try bootable(name)
        // A sleeping sprite comes back running too: restore is a request that needs the sprite.
        let wasRunning = status(of: record) != .cold
        try await exclusively(record.id) {
            let started = ContinuousClock.now
            try await self.swapDisk(record, to: id, progress: progress)
            self.metrics.restoreTime.record(since: started)
        }
        if wasRunning {
            await progress("Starting sprite...")
            _ = try await running(name)
        }
    }

    private func swapDisk(_ expected: SpriteRecord, to target: String, progress: ProgressHandler) async throws {
        guard var record = sprites[expected.id]?.record else { throw notFound(expected.name) }
        let id = record.id
        let checkpoint = try self.checkpoint(record, target)
        let started = ContinuousClock.now
        await progress("Restoring checkpoint \(target)...")
        // The file API works on the disk from the host: none of its operations may run on the
        // disk being replaced (Fleet+Files.swift).
        sprites[id]?.diskSwap = true
        defer { sprites[id]?.diskSwap = false }
        await fileAccessEnded(id)

        // 1. Stop the sprite. Marked cold first: new requests wait for this work, then boot the new disk.
        switch sprites[id]?.phase ?? .cold {
        case .creating: throw HobError(.unavailable, "sprite \(record.name) is still being created; retry")
        case .cold: break
        case .booting(let task):
            sprites[id]?.phase = .cold
            let final = await runtimes.of(record).stop(record, running: try? await task.value, graceMs: 0)
            await stopped(id, final: final)
        case .running(let r), .warm(let r):
            await endRun(record, r, graceMs: 0)
        }

        // 2. Keep the state being replaced, and stage the new disk beside the old one.
        let autoName = "auto-\(record.nextAuto)"
        let autoVolume: String
        do {
            autoVolume = try await storage.snapshotDisk(id, as: autoName)
            try await storage.stageRestore(id, from: checkpoint.volume)
        } catch {
            try? await storage.abandonRestore(id)
            throw HobError.wrap(error, "prepare the restore of \(target) for sprite \(record.name)")
        }
        let auto = CheckpointRecord(
            spriteID: id, id: autoName, createdAt: Date(), comment: "before restoring \(target)", isAuto: true,
            history: lineage(record), volume: autoVolume)

        // 3. Record it: from here on a crash finishes the restore instead of undoing it.
        record.nextAuto += 1
        record.restoring = target
        do {
            try await store.saveCheckpoints(spriteID: id, state: CheckpointState(record), inserting: [auto], deleting: [])
        } catch {
            try? await storage.abandonRestore(id)
            try? await storage.deleteVolume(autoVolume)
            throw HobError.wrap(error, "record the restore of \(target) for sprite \(record.name)")
        }
        sprites[id]?.checkpoints.append(auto)
        setCheckpointState(record)
        await progress("Saved the replaced state as \(autoName)")

        // 4. Swap the disks, 5. move the head and prune old automatic checkpoints.
        do {
            try await storage.swapDisk(id)
        } catch {
            // The row says "restoring": the next start rolls it forward.
            throw HobError.wrap(error, "swap in the disk of \(target) for sprite \(record.name)")
        }
        record.head = target
        record.restoring = nil
        let autos = (sprites[id]?.checkpoints ?? []).filter { $0.isAuto && $0.id != target }
        let pruned = autos.dropLast(Self.autoCheckpointsKept)
        try await store.saveCheckpoints(spriteID: id, state: CheckpointState(record), inserting: [], deleting: pruned.map(\.id))
        setCheckpointState(record)
        sprites[id]?.checkpoints.removeAll { c in pruned.contains { $0.id == c.id } }
        for c in pruned { try? await storage.deleteVolume(c.volume) }
        requestSpaceReport(id)
        logger.info("checkpoint restored", metadata: [
            "sprite": "\(record.name)", "checkpoint": "\(target)", "saved_as": "\(autoName)",
            "ms": "\((ContinuousClock.now - started).milliseconds)",
        ])
        await progress("Restore complete")
    }

    // MARK: - Delete

    public func deleteCheckpoint(_ name: String, _ id: String) async throws {
        let record = try bootable(name)
        let c = try checkpoint(record, id)
        guard ownsVolume(c) else {
            throw HobError(.invalidState, "\(id) is the base image sprite \(name) was created from; it holds no space of its own")
        }
        try await exclusively(record.id) { try await self.dropCheckpoint(record, id) }
    }

    private func dropCheckpoint(_ expected: SpriteRecord, _ id: String) async throws {
        guard let record = sprites[expected.id]?.record else { throw notFound(expected.name) }
        let c = try checkpoint(record, id)
        guard record.head != id else {
            throw HobError(.invalidState, "sprite \(record.name) is currently on \(id); take or restore another checkpoint before deleting it")
        }
        // The row goes first: a checkpoint is never listed without its volume.
        try await store.saveCheckpoints(spriteID: record.id, state: CheckpointState(record), inserting: [], deleting: [id])
        sprites[record.id]?.checkpoints.removeAll { $0.id == id }
        await refreshCheckpointMounts(record.id)
        do {
            try await storage.deleteVolume(c.volume)
        } catch {
            logger.error("checkpoint volume not deleted; the next start removes it", metadata: ["sprite": "\(record.name)", "checkpoint": "\(id)", "error": "\(error)"])
        }
        requestSpaceReport(record.id)
        logger.info("checkpoint deleted", metadata: ["sprite": "\(record.name)", "checkpoint": "\(id)"])
    }

    // MARK: - Fork

    /// A new sprite whose disk is a copy-on-write snapshot of `source`'s checkpoint, or of its live
    /// disk (taken like a checkpoint) when no checkpoint is named. It inherits the source's
    /// resources and environment unless the request sets them; the snapshot is its v0.
    func fork(_ request: CreateSpriteRequest, from source: ForkSource) async throws -> SpriteInfo {
        guard let src = named(source.sprite) else { throw HobError(.notFound, "source sprite \(source.sprite) not found") }
        // "Current" names the live disk, as in the checkpoint list.
        let from = try source.checkpoint.flatMap { $0 == "Current" ? nil : try checkpoint(src, $0) }
        let record = try makeRecord(request, inheriting: src)
        register(record, .creating)
        let v0: CheckpointRecord
        do {
            let volume: String
            let quotaBytes = Self.quotaBytes(record)
            if let from {
                try await storage.createDisk(record.id, from: from.volume, keepAsV0: true, quotaBytes: quotaBytes)
                volume = storage.checkpointVolume(sprite: record.id, "v0")
            } else {
                let live = try bootable(src.name)
                let storage = self.storage
                // The quota first, so that the v0 snapshot joins it.
                try await storage.prepareQuota(record.id, bytes: quotaBytes)
                volume = try await exclusively(live.id) {
                    try await self.consistentSnapshot(live) { try await storage.snapshotDisk(live.id, intoV0Of: record.id) }
                }
                try await storage.createDisk(record.id, from: volume, keepAsV0: false, quotaBytes: quotaBytes)
            }
            v0 = CheckpointRecord(
                spriteID: record.id, id: "v0", createdAt: record.createdAt,
                comment: "fork of \(src.name) at \(source.checkpoint ?? "its live disk")", isAuto: false, history: [],
                volume: volume)
            try await store.insert(record, checkpoints: [v0])
        } catch {
            unregister(record.id)
            try? await storage.deleteDisk(record.id)
            throw HobError.wrap(error, "fork sprite \(src.name) as \(record.name)")
        }
        sprites[record.id]?.checkpoints = [v0]
        await copyServices(from: src.id, to: record.id)
        sprites[record.id]?.phase = .cold
        requestSpaceReport(record.id)
        logger.info("sprite forked", metadata: [
            "sprite": "\(record.name)", "id": "\(record.id)", "source": "\(src.name)", "checkpoint": "\(source.checkpoint ?? "live")",
        ])
        return info(record)
    }

    // MARK: - Mounts inside the sprite

    /// Makes /.sprite/checkpoints show the newest non-automatic checkpoints of a running sprite.
    /// Best effort: a failure is logged, and the next change or boot tries again.
    func refreshCheckpointMounts(_ id: String) async {
        if case .warm? = sprites[id]?.phase {
            sprites[id]?.staleAgent = true  // its agent is frozen; refreshed when it wakes (refreshAgent)
            return
        }
        guard case .running(let running)? = sprites[id]?.phase, let record = record(id: id) else { return }
        // Only the sprite's own volumes: a plain sprite's v0 is the shared base image, which no
        // sprite may ever mount.
        let visible = (sprites[id]?.checkpoints ?? []).filter { !$0.isAuto && ownsVolume($0) }.suffix(Self.mountedCheckpoints)
        let volumes = visible.map { (name: $0.id, volume: $0.volume) }
        do {
            try await runtimes.of(record).mountCheckpoints(record, running: running, volumes: volumes)
        } catch {
            logger.warning("could not mount checkpoints in the sprite", metadata: ["sprite": "\(record.name)", "error": "\(error)"])
        }
    }

    // MARK: - Start-up

    /// Brings one sprite's checkpoints and disk back in line after a crash: finishes a recorded
    /// restore, drops an unrecorded one, deletes volumes that never reached the database and
    /// forgets rows whose volume is gone.
    func reconcileCheckpoints(_ record: SpriteRecord) async -> SpriteRecord {
        var record = record
        let id = record.id
        let log = logger.with(sprite: record)
        do {
            if let target = record.restoring {
                try await storage.completeRestore(id)
                record.head = target
                record.restoring = nil
                try await store.saveCheckpoints(spriteID: id, state: CheckpointState(record), inserting: [], deleting: [])
                log.info("finished an interrupted restore", metadata: ["checkpoint": "\(target)"])
            } else {
                try await storage.abandonRestore(id)
            }
        } catch {
            log.error("could not reconcile an interrupted restore", metadata: ["error": "\(error)"])
        }
        let rows = sprites[id]?.checkpoints ?? []
        for name in storage.checkpointNames(id) where !rows.contains(where: { $0.id == name && self.ownsVolume($0) }) {
            log.info("removing a checkpoint left by an interrupted operation", metadata: ["checkpoint": "\(name)"])
            try? await storage.deleteVolume(storage.checkpointVolume(sprite: id, name))
        }
        let lost = rows.filter { !storage.hasVolume($0.volume) }
        if !lost.isEmpty {
            log.error("checkpoints without a volume in the storage are forgotten", metadata: ["checkpoints": "\(lost.map(\.id))"])
            try? await store.saveCheckpoints(spriteID: id, state: CheckpointState(record), inserting: [], deleting: lost.map(\.id))
            sprites[id]?.checkpoints.removeAll { c in lost.contains { $0.id == c.id } }
        }
        return record
    }

    // MARK: - Helpers

    /// The sprite, if it is not being created.
    public func bootable(_ name: String) throws -> SpriteRecord {
        let record = try self.record(name)
        if case .creating? = sprites[record.id]?.phase { throw HobError(.unavailable, "sprite \(name) is still being created; retry") }
        return record
    }

    /// Copies the checkpoint fields into the registry's record, leaving the rest as it is now.
    func setCheckpointState(_ r: SpriteRecord) {
        guard var current = sprites[r.id]?.record else { return }
        current.head = r.head
        current.nextVersion = r.nextVersion
        current.nextAuto = r.nextAuto
        current.restoring = r.restoring
        sprites[r.id]?.record = current
    }
}
