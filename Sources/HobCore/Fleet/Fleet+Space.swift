// Space accounting: how many bytes each checkpoint holds alone, and how many the sprite holds in
// all (its disk and checkpoints, beyond the shared base image).
//
// Computed in the background by the storage (a scan of extents on btrfs) and cached: a scan of a
// Debian root costs a few hundred milliseconds, so nothing on a request path waits for one. A change to a
// sprite's checkpoints, or a read of one sprite's report older than a minute (not a listing of
// many), queues the sprite; one worker scans queued sprites one after another. Until a sprite's
// first scan, sizes are null.
import Foundation
import HobOS
import Logging

extension Fleet {
    static let spaceReportMaxAge: Duration = .seconds(60)

    /// The sprite's last report; a missing or old one queues a new scan.
    func spaceReport(_ id: String) -> SpaceReport? {
        let report = sprites[id]?.space
        if report.map({ ContinuousClock.now - $0.measuredAt > Self.spaceReportMaxAge }) ?? true { requestSpaceReport(id) }
        return report
    }

    /// Queues a scan of the sprite (once, however often it is asked for before the scan starts).
    func requestSpaceReport(_ id: String) {
        guard !spacePending.contains(id) else { return }
        spacePending.append(id)
        guard spaceWorker == nil else { return }
        spaceWorker = Task { await self.drainSpaceQueue() }
    }

    private func drainSpaceQueue() async {
        while !spacePending.isEmpty {
            let id = spacePending.removeFirst()
            guard let record = record(id: id) else { continue }
            let owned = (sprites[id]?.checkpoints ?? []).filter(ownsVolume).map { (id: $0.id, volume: $0.volume) }
            do {
                let report = try await storage.measureSpace(id, checkpoints: owned, image: image)
                // The sprite may have been destroyed while it was scanned.
                sprites[id]?.space = report
            } catch {
                // Usually a checkpoint deleted mid-scan; the next read queues it again.
                logger.debug("space accounting skipped a sprite", metadata: ["sprite": "\(record.name)", "error": "\(error)"])
            }
        }
        spaceWorker = nil
    }
}
