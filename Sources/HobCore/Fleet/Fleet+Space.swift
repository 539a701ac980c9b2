// Space accounting: how many bytes each checkpoint holds alone, and how many the sprite holds in
// all (its disk and checkpoints, beyond the shared base image).
//
// Computed in the background by scanning extents (ExtentScan) and cached: a scan of a Debian root
// costs a few hundred milliseconds, so nothing on a request path waits for one. A change to a
// sprite's checkpoints, or a read of one sprite's report older than a minute (not a listing of
// many), queues the sprite; one worker scans queued sprites one after another. Until a sprite's
// first scan, sizes are null.
import Foundation
import HobOS
import Logging

/// The last accounting pass over one sprite.
struct SpaceReport: Sendable {
    /// Exclusive bytes by checkpoint id.
    var checkpoints: [String: Int64]
    /// Bytes referenced by the sprite's disk or any of its checkpoints and not by the base image.
    var total: Int64
    var rootExclusive: Int64
    var measuredAt: ContinuousClock.Instant
}

extension Fleet {
    static let spaceReportMaxAge: Duration = .seconds(60)

    /// The sprite's last report; a missing or old one queues a new scan.
    func spaceReport(_ id: String) -> SpaceReport? {
        let report = spaceReports[id]
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
            let owned = (checkpoints[id] ?? []).filter(ownsVolume).map { (id: $0.id, path: pool.path(ofVolume: $0.volume)) }
            let root = pool.spriteRoot(id)
            let imagePath = pool.imagePath(image)
            let cachedImage = imageExtents
            do {
                let (report, image) = try await offload {
                    let image = try cachedImage ?? ExtentScan.scan(imagePath).extents
                    var union = try ExtentScan.scan(root)
                    let rootExclusive = union.exclusiveBytes
                    var sizes: [String: Int64] = [:]
                    for c in owned {
                        let scan = try ExtentScan.scan(c.path)
                        sizes[c.id] = scan.exclusiveBytes
                        union.extents.merge(scan.extents) { max($0, $1) }
                        union.unmappedBytes += scan.unmappedBytes
                    }
                    let total = union.bytes(notIn: image) + union.unmappedBytes
                    return (SpaceReport(checkpoints: sizes, total: total, rootExclusive: rootExclusive, measuredAt: .now), image)
                }
                imageExtents = image
                // The sprite may have been destroyed while it was scanned.
                if byName.values.contains(where: { $0.id == id }) { spaceReports[id] = report }
            } catch {
                // Usually a checkpoint deleted mid-scan; the next read queues it again.
                logger.debug("space accounting skipped a sprite", metadata: ["sprite": "\(record.name)", "error": "\(error)"])
            }
        }
        spaceWorker = nil
    }
}
