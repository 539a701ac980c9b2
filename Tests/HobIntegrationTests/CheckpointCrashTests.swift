// Crash safety of checkpoints: the daemon is killed (SIGKILL) in the middle of a restore or a
// checkpoint and started again on the same state directory. The sprite must boot with its disk
// exactly in the old state or the new one (never a mix, never nothing), its checkpoint list must
// agree with its disk, and every listed checkpoint must still restore.
//
// Where the kill lands inside the operation depends on the machine; each test repeats with a few
// delays after the stream's first line so that different steps get interrupted.
import Foundation
import Testing

extension HobIntegration {
    @Suite("Checkpoint crash safety", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct CheckpointCrashTests {
        @Test("a restore interrupted by kill -9 leaves the old disk or the new one", arguments: [0, 10, 20, 40, 60, 100, 400])
        func restoreInterrupted(killAfterMilliseconds delay: Int) async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                // v1 holds the "old" state, v2 (the head, and the live disk) the "new" one.
                try await write(daemon, name, state: "old")
                let v1 = try await daemon.checkpoint(name, comment: "old")
                try await write(daemon, name, state: "new")
                let v2 = try await daemon.checkpoint(name, comment: "new")

                let crash = try await daemon.crash(
                    during: "POST", "/v1/sprites/\(name)/checkpoints/\(v1)/restore", after: .milliseconds(delay))
                await expectNoStrays(daemon, crash)
                try await daemon.restart()

                let state = try await diskState(daemon, name)
                #expect(state == "old" || state == "new", "after a crash during the restore (first line: \(crash.received))")
                let head = try await daemon.head(name)
                #expect(head == (state == "old" ? v1 : v2), "the disk is \(state) but the head is \(String(describing: head))")
                if state == "old" {
                    let autos = try await daemon.checkpoints(name, includeAuto: true).filter(\.isAuto)
                    #expect(autos.map(\.comment) == ["before restoring \(v1)"], "the replaced state was not kept: \(autos)")
                }
                try await expectVolumesMatchList(daemon, name)
                try await expectEveryCheckpointRestores(daemon, name, expected: ["v0": "none", v1: "old", v2: "new"])
            }
        }

        @Test(
            "a checkpoint interrupted by kill -9 leaves the disk as it was and the sprite running",
            arguments: [0, 10, 20, 40, 60, 100, 400])
        func checkpointInterrupted(killAfterMilliseconds delay: Int) async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                try await write(daemon, name, state: "kept")
                // A process that keeps writing: it must still make progress after the restart (a
                // sprite frozen for the snapshot must not stay frozen).
                let ticking = try await daemon.sh(
                    name, "(n=0; while :; do n=$((n+1)); echo $n > /tmp/ticks; sleep 0.1; done >/dev/null 2>&1 &)")
                #expect(ticking.succeeded, "\(ticking)")

                let crash = try await daemon.crash(during: "POST", "/v1/sprites/\(name)/checkpoint", after: .milliseconds(delay))
                await expectNoStrays(daemon, crash)
                try await daemon.restart()

                var first = ""
                let progressing = try await eventually(timeout: .seconds(20)) {
                    let ticks = try await daemon.exec(name, ["cat", "/tmp/ticks"], timeout: .seconds(30)).stdout
                    if first.isEmpty { first = ticks }
                    return !ticks.isEmpty && ticks != first
                }
                #expect(progressing, "the sprite's background process stopped after the crash (first line: \(crash.received))")
                #expect(try await diskState(daemon, name) == "kept")

                let listed = try await daemon.checkpoints(name, includeAuto: true)
                #expect(ids(listed) == ["v0"] || ids(listed) == ["v1", "v0"], "\(listed)")
                #expect(try await daemon.head(name) == listed.first?.id, "the head is not the newest checkpoint: \(listed)")
                try await expectVolumesMatchList(daemon, name)
                try await expectEveryCheckpointRestores(daemon, name, expected: ["v0": "none", "v1": "kept"])
            }
        }

        /// Processes the killed daemon forked must not outlive it: they keep its lock and its
        /// port, and the next `hob serve` refuses to start. Any that do are recorded, then killed so
        /// that the rest of the test can check what the restart makes of the disk.
        func expectNoStrays(_ daemon: DaemonFixture, _ crash: Crash, sourceLocation: SourceLocation = #_sourceLocation) async {
            let gone = await eventually(timeout: .seconds(5)) { crash.strays.allSatisfy(ChildProcess.hasEnded) }
            let alive = crash.strays.filter { !ChildProcess.hasEnded($0) }
            let what = "processes \(alive) forked by the killed hob serve (still running its command line) outlived it"
            #expect(gone, "\(what) (first line: \(crash.received))", sourceLocation: sourceLocation)
            if !gone { await daemon.killStrayProcesses() }
        }

        // MARK: - Disk states

        /// Writes a state as three files in separate directories, so that a mix of two states shows.
        func write(_ daemon: DaemonFixture, _ name: String, state: String) async throws {
            let written = try await daemon.sh(
                name, "mkdir -p /root/a /srv/b && for f in /root/a/state /srv/b/state /etc/hob-test-state; do echo \(state) > $f; done")
            try #require(written.succeeded, "\(written)")
        }

        /// The state the disk is in ("none" before any was written); fails on a mix.
        func diskState(_ daemon: DaemonFixture, _ name: String) async throws -> String {
            let read = try await daemon.sh(
                name, "for f in /root/a/state /srv/b/state /etc/hob-test-state; do cat $f 2>/dev/null || echo none; done")
            try #require(read.succeeded, "the sprite does not run commands: \(read)")
            let states = Set(read.stdout.lines)
            try #require(states.count == 1, "the disk mixes states: \(read.stdout)")
            return states.first!
        }

        /// Restores every listed checkpoint (automatic ones included) and checks the disk it gives.
        /// `expected` maps checkpoint ids to states; automatic checkpoints may hold any state.
        func expectEveryCheckpointRestores(
            _ daemon: DaemonFixture, _ name: String, expected: [String: String], sourceLocation: SourceLocation = #_sourceLocation
        ) async throws {
            for entry in try await daemon.checkpoints(name, includeAuto: true) {
                let response = try await daemon.http("POST", "/v1/sprites/\(name)/checkpoints/\(entry.id)/restore")
                #expect(response.streamCompleted, "restore \(entry.id): \(response)", sourceLocation: sourceLocation)
                let state = try await diskState(daemon, name)
                if let wanted = expected[entry.id] {
                    #expect(state == wanted, "restored \(entry.id)", sourceLocation: sourceLocation)
                } else {
                    #expect(entry.isAuto, "unexpected checkpoint \(entry)", sourceLocation: sourceLocation)
                }
            }
        }

        /// The pool holds a volume for exactly the listed checkpoints that own one (a base-image v0
        /// does not), and no half-done restore (root.next, root.old).
        func expectVolumesMatchList(_ daemon: DaemonFixture, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) async throws
        {
            let id = try #require(try await daemon.spriteInfo(name)["id"] as? String)
            let directory = "\(daemon.stateDirectory)/pool/sprites/\(id)"
            let volumes = ((try? FileManager.default.contentsOfDirectory(atPath: directory + "/ckpt")) ?? []).filter { !$0.hasPrefix(".") }
            let listed = try await daemon.checkpoints(name, includeAuto: true).map(\.id).filter { $0 != "v0" }
            #expect(
                volumes.sorted() == listed.sorted(), "volumes in \(directory)/ckpt vs listed checkpoints", sourceLocation: sourceLocation)
            // `qgroup` records the sprite's quota group (BtrfsPool+Quota.swift), not a disk.
            let disks = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0 != "qgroup" }.sorted()
            #expect(disks == ["ckpt", "root"] || disks == ["root"], "\(directory): \(disks)", sourceLocation: sourceLocation)
        }
    }
}
