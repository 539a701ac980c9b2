// Forks: new sprites whose disks are copy-on-write snapshots of another sprite's checkpoint or of
// its live disk. Each fork is a sprite of its own: it starts from the source's files and diverges.
import Foundation
import Testing

extension HobIntegration {
    @Suite("Forks", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct ForkTests {
        @Test("ten forks of one checkpoint start from its files and diverge independently")
        func tenForks() async throws {
            let daemon = try DaemonFixture.shared()
            let source = TestEnvironment.spriteName("src")
            let forks = (1...10).map { "\(source)-f\($0)" }
            try await daemon.cleaningUp(sprites: [source] + forks) {
                try await daemon.createSprite(source)
                let written = try await daemon.sh(source, "echo at-the-checkpoint > /root/origin")
                #expect(written.succeeded, "\(written)")
                let checkpoint = try await daemon.checkpoint(source, comment: "fork point")
                let later = try await daemon.sh(source, "echo after-the-checkpoint > /root/origin")
                #expect(later.succeeded, "\(later)")

                try await withThrowingTaskGroup(of: Void.self) { group in
                    for fork in forks { group.addTask { try await daemon.forkSprite(fork, from: source, checkpoint: checkpoint) } }
                    try await group.waitForAll()
                }
                let results = try await withThrowingTaskGroup(of: (String, ExecResult).self) { group in
                    for fork in forks {
                        group.addTask { (fork, try await daemon.sh(fork, "cat /root/origin && echo \(fork) > /root/mine-\(fork)")) }
                    }
                    return try await group.reduce(into: [String: ExecResult]()) { $0[$1.0] = $1.1 }
                }
                for fork in forks {
                    #expect(results[fork]?.stdout == "at-the-checkpoint\n", "\(fork): \(String(describing: results[fork]))")
                }

                for fork in forks {
                    let mine = try await daemon.sh(fork, "ls /root | grep '^mine-' || true")
                    #expect(mine.stdout.lines == ["mine-\(fork)"], "\(fork) sees: \(mine)")
                }
                let inSource = try await daemon.sh(source, "ls /root | grep '^mine-' || true; cat /root/origin")
                #expect(inSource.stdout == "after-the-checkpoint\n", "the source: \(inSource)")

                let firstFork = try await daemon.checkpointList(forks[0])
                #expect(ids(firstFork) == ["Current", "v0"], "\(firstFork)")
                #expect(firstFork.last?.comment == "fork of \(source) at \(checkpoint)", "\(firstFork)")
                #expect(firstFork.last?.history == [], "\(firstFork)")
                #expect(ids(try await daemon.checkpoints(source)) == [checkpoint, "v0"], "forking changed the source's checkpoints")
            }
        }

        @Test("a fork without a checkpoint copies the source's live disk, unsynced writes included")
        func forkLiveDisk() async throws {
            let daemon = try DaemonFixture.shared()
            let source = TestEnvironment.spriteName("src")
            let fork = source + "-live"
            try await daemon.cleaningUp(sprites: [source, fork]) {
                try await daemon.createSprite(source)
                let content = TestEnvironment.randomName(32)
                let written = try await daemon.sh(
                    source, "echo \(content) > /root/live && head -c 8388608 /dev/urandom > /root/bulk && sha256sum /root/bulk")
                #expect(written.succeeded, "\(written)")

                try await daemon.forkSprite(fork, from: source)

                let copied = try await daemon.sh(fork, "cat /root/live && sha256sum /root/bulk")
                #expect(copied.stdout == content + "\n" + written.stdout.lines.joined(separator: "\n") + "\n", "\(copied)")
                #expect(try await daemon.spriteInfo(source)["status"] as? String == "running", "forking stopped the source")
                let own = try await daemon.checkpointList(fork)
                #expect(ids(own) == ["Current", "v0"], "\(own)")
                #expect(ids(try await daemon.checkpoints(source)) == ["v0"], "forking the live disk added a checkpoint to the source")
            }
        }

        @Test("a fork's v0 holds its own disk: it can be deleted once the fork has moved on")
        func forkV0IsDeletable() async throws {
            let daemon = try DaemonFixture.shared()
            let source = TestEnvironment.spriteName("src")
            let fork = source + "-del"
            try await daemon.cleaningUp(sprites: [source, fork]) {
                try await daemon.createSprite(source)
                let checkpoint = try await daemon.checkpoint(source)
                try await daemon.forkSprite(fork, from: source, checkpoint: checkpoint)
                expectError(try await daemon.http("DELETE", "/v1/sprites/\(fork)/checkpoints/v0"), 409, "invalid_state")
                let v1 = try await daemon.checkpoint(fork)
                let deleted = try await daemon.http("DELETE", "/v1/sprites/\(fork)/checkpoints/v0")
                #expect(deleted.status == 204, "\(deleted)")
                #expect(ids(try await daemon.checkpoints(fork)) == [v1])
                let works = try await daemon.exec(fork, ["true"])
                #expect(works.succeeded, "\(works)")
            }
        }
    }
}
