// Spare disks (BtrfsPool+Spares.swift): snapshots of the base image made ahead of time, so that a
// create only renames one into place. They are never trusted across a restart: whatever a crash
// leaves in pool/spares is removed at the next start, and nothing put there reaches a sprite.
import Foundation
import Testing

extension HobIntegration {
    @Suite("Spare disks", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct SpareDiskTests {
        /// pool/spares/<image>/<n> directories (ready spares), by image.
        static func readySpares(_ daemon: DaemonFixture) -> [String] {
            let root = "\(daemon.stateDirectory)/pool/spares"
            let images = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
            return images.flatMap { image in
                ((try? FileManager.default.contentsOfDirectory(atPath: "\(root)/\(image)")) ?? [])
                    .filter { !$0.hasPrefix(".") }.map { "\(root)/\(image)/\($0)" }
            }
        }

        @Test("the pool keeps spares ready, and a create takes one and gets it replaced")
        func keptReady() async throws {
            let daemon = try DaemonFixture.shared()
            let made = await eventually(timeout: .seconds(30)) { Self.readySpares(daemon).count >= 2 }
            #expect(made, "no spares were made")
            let before = Set(Self.readySpares(daemon))
            try await daemon.withSprite { name in
                let ran = try await daemon.exec(name, ["cat", "/etc/debian_version"])
                #expect(ran.succeeded, "\(ran)")
                let replaced = await eventually(timeout: .seconds(30)) {
                    let now = Set(Self.readySpares(daemon))
                    return now.count >= 2 && now != before
                }
                #expect(replaced, "the spare taken by the create was not replaced: \(Self.readySpares(daemon))")
            }
        }

        @Test("spares left by kill -9, made or half made, are removed at the next start")
        func leftoversRemoved() async throws {
            let daemon = try DaemonFixture.shared()
            let made = await eventually(timeout: .seconds(30)) { !Self.readySpares(daemon).isEmpty }
            #expect(made, "no spares were made")
            let spare = try #require(Self.readySpares(daemon).first)
            let imageDirectory = (spare as NSString).deletingLastPathComponent
            await daemon.kill9()
            // The pool stays mounted after a crash. Plant a half-made spare and a ready-looking one.
            let planted = ["\(imageDirectory)/.new-9999", "\(imageDirectory)/9999"]
            for directory in planted {
                try FileManager.default.createDirectory(atPath: "\(directory)/root", withIntermediateDirectories: true)
                try "planted\n".write(toFile: "\(directory)/root/planted", atomically: false, encoding: .utf8)
            }
            try await daemon.restart()
            for directory in planted {
                #expect(!FileManager.default.fileExists(atPath: directory), "\(directory) survived the restart")
            }
            try await daemon.withSprite { name in
                let found = try await daemon.exec(name, ["test", "-e", "/planted"])
                #expect(!found.succeeded, "a new sprite's disk holds a file planted among the spares")
            }
        }
    }
}
