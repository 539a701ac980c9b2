// Which creates may take a spare disk (BtrfsPool+Spares.swift): only those whose disk is a
// snapshot of an image. A fork's or a restore's source is a checkpoint and never matches.
@testable import HobCore
import Testing

@Suite("Spare disks")
struct SpareDiskTests {
    @Test("an image volume names its image")
    func imageVolume() {
        #expect(BtrfsPool.imageName(ofVolume: BtrfsPool.imageVolume("bookworm-3")) == "bookworm-3")
    }

    @Test("checkpoints, staging imports and malformed names are not images")
    func notImages() {
        for volume in [
            BtrfsPool.checkpointVolume(sprite: "0123456789abcdef", "v1"), "images/.import-bookworm", "images/", "images", "images/a/b",
            "sprites/x",
        ] {
            #expect(BtrfsPool.imageName(ofVolume: volume) == nil, "\(volume)")
        }
    }
}
