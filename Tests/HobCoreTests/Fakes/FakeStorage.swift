// Storage in memory, for Fleet tests without root. A disk's or volume's content is a label
// ("base", "after v1"...) so a test can tell which state a restore brought back; each disk also
// gets an empty directory for the file API. Snapshots copy the label, as a btrfs snapshot copies
// the tree. Failures and pauses can be injected at the points the Fleet's crash safety is about.
import Foundation
import HobCore
import Synchronization

final class FakeStorage: Storage {
    let directory: String
    private let state = Mutex(State())

    private struct State {
        var volumes: [String: String] = [:]
        var disks: [String: String] = [:]
        var staged: [String: String] = [:]
        var snapshotGate: Gate?
        var failSnapshots = false
        var failSwaps = false
        var snapshots = 0
    }

    init(directory: String, image: String) {
        self.directory = directory
        state.withLock { $0.volumes[imageVolume(image)] = "base" }
    }

    // MARK: Test controls

    func content(of sprite: String) -> String? { state.withLock { $0.disks[sprite] } }
    func write(_ sprite: String, _ content: String) { state.withLock { $0.disks[sprite] = content } }
    func content(ofVolume volume: String) -> String? { state.withLock { $0.volumes[volume] } }
    var snapshotCount: Int { state.withLock { $0.snapshots } }
    var volumeNames: Set<String> { state.withLock { Set($0.volumes.keys) } }
    /// The next snapshots wait at this gate.
    func pauseSnapshots(at gate: Gate?) { state.withLock { $0.snapshotGate = gate } }
    func failSnapshots(_ fail: Bool) { state.withLock { $0.failSnapshots = fail } }
    func failSwaps(_ fail: Bool) { state.withLock { $0.failSwaps = fail } }
    /// A volume left behind without a database row (as a crash mid-checkpoint leaves one).
    func leaveVolume(_ volume: String, content: String) { state.withLock { $0.volumes[volume] = content } }

    // MARK: Disks

    func hasDisk(_ sprite: String) -> Bool { state.withLock { $0.disks[sprite] != nil } }

    func diskIDs() -> [String] {
        state.withLock { s in
            Set(s.disks.keys).union(s.volumes.keys.compactMap(Self.owner)).sorted()
        }
    }

    func diskDirectory(_ sprite: String) -> String { "\(directory)/\(sprite)" }

    func createDisk(_ sprite: String, from volume: String, keepAsV0: Bool, quotaBytes: Int64) async throws {
        try FileManager.default.createDirectory(atPath: diskDirectory(sprite), withIntermediateDirectories: true)
        try state.withLock { s in
            guard let content = s.volumes[volume] else { throw HobError(.internalError, "no volume \(volume)") }
            if keepAsV0 { s.volumes[checkpointVolume(sprite: sprite, "v0")] = content }
            s.disks[sprite] = content
        }
    }

    func deleteDisk(_ sprite: String) async throws {
        state.withLock { s in
            s.disks[sprite] = nil
            s.staged[sprite] = nil
            for volume in s.volumes.keys where Self.owner(volume) == sprite { s.volumes[volume] = nil }
        }
        try? FileManager.default.removeItem(atPath: diskDirectory(sprite))
    }

    // MARK: Volumes

    func imageVolume(_ image: String) -> String { "images/\(image)" }
    func checkpointVolume(sprite: String, _ name: String) -> String { "sprites/\(sprite)/\(name)" }
    func owns(_ volume: String, sprite: String) -> Bool { Self.owner(volume) == sprite }
    func hasVolume(_ volume: String) -> Bool { state.withLock { $0.volumes[volume] != nil } }
    func deleteVolume(_ volume: String) async throws { _ = state.withLock { $0.volumes.removeValue(forKey: volume) } }
    func volumeDirectory(_ volume: String) -> String { "\(directory)/volumes/\(volume)" }

    func snapshotDisk(_ sprite: String, as name: String) async throws -> String {
        try await snapshot(sprite, into: checkpointVolume(sprite: sprite, name))
    }

    func snapshotDisk(_ sprite: String, intoV0Of other: String) async throws -> String {
        try await snapshot(sprite, into: checkpointVolume(sprite: other, "v0"))
    }

    private func snapshot(_ sprite: String, into volume: String) async throws -> String {
        let (gate, fail) = state.withLock { ($0.snapshotGate, $0.failSnapshots) }
        await gate?.pass()
        if fail { throw HobError(.internalError, "snapshot failed (injected)") }
        try state.withLock { s in
            guard let content = s.disks[sprite] else { throw HobError(.internalError, "sprite \(sprite) has no disk") }
            s.volumes[volume] = content
            s.snapshots += 1
        }
        return volume
    }

    func checkpointNames(_ sprite: String) -> [String] {
        state.withLock { s in
            s.volumes.keys.filter { Self.owner($0) == sprite }.map { String($0.split(separator: "/").last ?? "") }.sorted()
        }
    }

    static func owner(_ volume: String) -> String? {
        let parts = volume.split(separator: "/")
        return parts.count == 3 && parts[0] == "sprites" ? String(parts[1]) : nil
    }

    // MARK: Restore

    func stageRestore(_ sprite: String, from volume: String) async throws {
        try state.withLock { s in
            guard let content = s.volumes[volume] else { throw HobError(.internalError, "no volume \(volume)") }
            s.staged[sprite] = content
        }
    }

    func swapDisk(_ sprite: String) async throws {
        try state.withLock { s in
            if s.failSwaps { throw HobError(.internalError, "swap failed (injected)") }
            guard let next = s.staged.removeValue(forKey: sprite) else { throw HobError(.internalError, "nothing staged") }
            s.disks[sprite] = next
        }
    }

    func completeRestore(_ sprite: String) async throws {
        state.withLock { s in
            if let next = s.staged.removeValue(forKey: sprite) { s.disks[sprite] = next }
        }
    }

    func abandonRestore(_ sprite: String) async throws { _ = state.withLock { $0.staged.removeValue(forKey: sprite) } }

    // MARK: Space

    func measureSpace(_ sprite: String, checkpoints: [(id: String, volume: String)], image: String) async throws -> SpaceReport {
        SpaceReport(checkpoints: Dictionary(uniqueKeysWithValues: checkpoints.map { ($0.id, 0) }), total: 0, rootExclusive: 0, measuredAt: .now)
    }

    var enforcesQuotas: Bool { false }
    func prepareQuota(_ sprite: String, bytes: Int64) async throws {}
    func adoptQuota(_ sprite: String, bytes: Int64) async throws {}
    func quotaUsedBytes(_ sprite: String) -> Int64? { nil }
    func releaseUnusedQuotas() async {}
    func refreshBudget() async -> Int64? { nil }
    func spaceLeftForSprites() -> Int64? { nil }
    func usage() -> StorageUsage { StorageUsage() }
}
