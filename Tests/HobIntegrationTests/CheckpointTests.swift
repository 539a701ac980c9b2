// Checkpoints through the public API: the NDJSON streams, the list and its lineage, restore (of a
// running, a stopped and a never-booted sprite, and of the state a restore replaced), delete rules
// and space accounting. Commands run over the exec WebSocket, so these tests do not depend on the CLI.
import Foundation
import Testing

extension HobIntegration {
    @Suite("Checkpoints", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct CheckpointTests {
        @Test("creating a checkpoint streams the documented NDJSON lines")
        func createStream() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let response = try await daemon.http("POST", "/v1/sprites/\(name)/checkpoint", body: Data(#"{"comment":"streamed"}"#.utf8))
                #expect(response.status == 200, "\(response)")
                #expect(response.header("Content-Type")?.hasPrefix("application/x-ndjson") == true, "\(response.headers)")
                let messages = response.streamMessages
                #expect(messages.map(\.type) == ["info", "info", "info", "info", "complete"], "\(response)")
                #expect(
                    messages.map(\.data) == [
                        "Creating checkpoint...", "Checkpoint created successfully", "  ID: v1", "  Path: checkpoints/v1",
                        "Checkpoint v1 created successfully",
                    ], "\(response)")
                let untimed = response.ndjson.filter { ($0["time"] as? String)?.isEmpty != false }
                #expect(untimed.isEmpty, "lines without a time: \(response)")
            }
        }

        @Test("the comment comes from a JSON body or ?comment=, and is empty without either")
        func commentSources() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let fromBody = try await daemon.http(
                    "POST", "/v1/sprites/\(name)/checkpoint", body: Data(#"{"comment":"from the body"}"#.utf8))
                #expect(fromBody.streamCompleted, "\(fromBody)")
                let fromQuery = try await daemon.http("POST", "/v1/sprites/\(name)/checkpoint?comment=from%20the%20query")
                #expect(fromQuery.streamCompleted, "\(fromQuery)")
                let bare = try await daemon.http("POST", "/v1/sprites/\(name)/checkpoint")
                #expect(bare.streamCompleted, "\(bare)")

                let listed = try await daemon.checkpoints(name)
                #expect(ids(listed) == ["v3", "v2", "v1", "v0"], "\(listed)")
                #expect(listed.prefix(3).map(\.comment) == ["", "from the query", "from the body"], "\(listed)")
            }
        }

        @Test("the list starts with Current, then checkpoints newest first, each with its lineage")
        func listAndLineage() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let fresh = try await daemon.checkpointList(name)
                #expect(ids(fresh) == ["Current", "v0"], "\(fresh)")
                #expect(fresh.map(\.history) == [["v0"], []], "\(fresh)")

                let v1 = try await daemon.checkpoint(name, comment: "first")
                let v2 = try await daemon.checkpoint(name, comment: "second")
                #expect([v1, v2] == ["v1", "v2"])
                try await daemon.restore(name, "v1")
                try await daemon.checkpoint(name, comment: "third")

                let listed = try await daemon.checkpointList(name)
                #expect(ids(listed) == ["Current", "v3", "v2", "v1", "v0"], "\(listed)")
                #expect(listed.map(\.history) == [["v3", "v1", "v0"], ["v1", "v0"], ["v1", "v0"], ["v0"], []], "\(listed)")
                #expect(listed.dropFirst().map(\.comment).prefix(3) == ["third", "second", "first"], "\(listed)")
                #expect(listed.allSatisfy { !$0.isAuto && !$0.createTime.isEmpty }, "\(listed)")

                let withAuto = try await daemon.checkpointList(name, includeAuto: true)
                #expect(ids(withAuto) == ["Current", "v3", "auto-1", "v2", "v1", "v0"], "\(withAuto)")
                let auto = withAuto.first { $0.id == "auto-1" }
                #expect(auto?.history == ["v2", "v1", "v0"], "\(withAuto)")

                let descendants = try await daemon.http("GET", "/v1/sprites/\(name)/checkpoints?history=v2&includeAuto=true")
                #expect(descendants.status == 200, "\(descendants)")
                #expect(descendants.header("Content-Type")?.hasPrefix("text/plain") == true, "\(descendants.headers)")
                #expect(descendants.jsonArray?.compactMap { $0["id"] as? String } == ["auto-1"], "\(descendants)")
                let ofV1 = try await daemon.http("GET", "/v1/sprites/\(name)/checkpoints?history=v1")
                #expect(ofV1.jsonArray?.compactMap { $0["id"] as? String } == ["Current", "v3", "v2"], "\(ofV1)")
            }
        }

        @Test("one checkpoint, and Current, can be fetched by id")
        func getOne() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let id = try await daemon.checkpoint(name, comment: "fetch me")
                let listed = try await daemon.checkpoints(name).first { $0.id == id }

                let one = try await daemon.http("GET", "/v1/sprites/\(name)/checkpoints/\(id)")
                #expect(one.status == 200, "\(one)")
                let entry = one.json.flatMap(CheckpointEntry.init)
                #expect(entry != nil && entry == listed, "GET \(id): \(one); listed: \(String(describing: listed))")

                let current = try await daemon.http("GET", "/v1/sprites/\(name)/checkpoints/Current")
                #expect(current.status == 200, "\(current)")
                #expect(current.json.flatMap(CheckpointEntry.init)?.history == [id, "v0"], "\(current)")
            }
        }

        @Test("restore brings back every file of the checkpoint and keeps the replaced state as auto-1")
        func restoreRepairsAWreck() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let (checkpoint, fingerprint) = try await checkpointThenWreck(daemon, name)

                try await daemon.restore(name, checkpoint)

                let works = try await daemon.exec(name, ["ls", "/usr/bin/ls"])
                #expect(works.succeeded, "exec after the restore: \(works)")
                let restored = try await daemon.sh(name, Self.fingerprintScript)
                #expect(restored.succeeded, "\(restored)")
                #expect(restored.stdout == fingerprint, "the disk differs from the checkpoint")
                let newFile = try await daemon.exec(name, ["test", "-e", "/root/new-file"])
                #expect(newFile.exitCode == 1, "/root/new-file, created after the checkpoint, survived the restore: \(newFile)")

                let autos = try await daemon.checkpoints(name, includeAuto: true).filter(\.isAuto)
                #expect(ids(autos) == ["auto-1"], "\(autos)")
                #expect(autos.first?.comment == "before restoring \(checkpoint)", "\(autos)")
                let visible = try await daemon.checkpoints(name)
                #expect(
                    !visible.contains { $0.id == "auto-1" || $0.isAuto }, "automatic checkpoints listed without includeAuto: \(visible)")
            }
        }

        @Test("restoring auto-1 undoes a restore")
        func undoRestore() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let (checkpoint, _) = try await checkpointThenWreck(daemon, name)
                try await daemon.restore(name, checkpoint)

                try await daemon.restore(name, "auto-1")

                // The wrecked state is back: no /usr/bin, so only the rescued tools run.
                let newFile = try await daemon.exec(name, ["/opt/rescue/cat", "/root/new-file", "/root/keep/note"])
                #expect(newFile.succeeded, "\(newFile)")
                #expect(newFile.stdout == "new\noverwritten\n", "\(newFile)")
                let usrBin = try await daemon.exec(name, ["/opt/rescue/dash", "-c", "test -e /usr/bin"])
                #expect(usrBin.exitCode == 1, "/usr/bin is back: \(usrBin)")
                #expect(try await daemon.head(name) == "auto-1")
                let autos = try await daemon.checkpoints(name, includeAuto: true).filter(\.isAuto)
                #expect(autos.map(\.comment) == ["before restoring auto-1", "before restoring \(checkpoint)"], "\(autos)")
            }
        }

        @Test("restoring a running sprite ends its processes and leaves it running")
        func restoreRunningSprite() async throws {
            let daemon = try DaemonFixture.shared()
            let seconds = 7_654_000 + Int.random(in: 0..<1000)
            try await daemon.withSprite { name in
                let id = try await daemon.checkpoint(name)
                let started = try await daemon.sh(name, "(sleep \(seconds) >/dev/null 2>&1 &)")
                #expect(started.succeeded, "\(started)")

                let response = try await daemon.http("POST", "/v1/sprites/\(name)/checkpoints/\(id)/restore")
                #expect(response.streamCompleted, "\(response)")
                #expect(response.streamMessages.last?.data == "Restored", "\(response)")
                #expect(response.ndjson.allSatisfy { ($0["time"] as? String)?.isEmpty == false }, "lines without a time: \(response)")

                #expect(try await daemon.spriteInfo(name)["status"] as? String == "running")
                let sleeping = try await daemon.exec(name, ["pgrep", "-f", "^sleep \(seconds)$"])
                #expect(sleeping.exitCode == 1, "the background sleep survived the restore: \(sleeping)")
            }
        }

        @Test("a sprite that never booted, or was stopped, can be checkpointed and restored")
        func coldSprite() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                #expect(try await daemon.spriteInfo(name)["status"] as? String == "cold")
                let pristine = try await daemon.checkpoint(name, comment: "never booted")
                #expect(try await daemon.spriteInfo(name)["status"] as? String == "cold", "a checkpoint booted the sprite")

                let written = try await daemon.sh(name, "echo written-while-running > /root/marker")
                #expect(written.succeeded, "\(written)")
                // A clean stop of the daemon stops its sprites; they boot again on demand.
                #expect(await daemon.stop() == 0)
                try await daemon.restart()
                #expect(try await daemon.spriteInfo(name)["status"] as? String == "cold")

                let stopped = try await daemon.checkpoint(name, comment: "stopped")
                try await daemon.restore(name, pristine)
                #expect(try await daemon.spriteInfo(name)["status"] as? String == "cold", "restoring a cold sprite booted it")

                let gone = try await daemon.exec(name, ["test", "-e", "/root/marker"])
                #expect(gone.exitCode == 1, "the restored never-booted state has /root/marker: \(gone)")

                try await daemon.restore(name, stopped)
                let back = try await daemon.exec(name, ["cat", "/root/marker"])
                #expect(back.stdout == "written-while-running\n", "the checkpoint of the stopped sprite: \(back)")
            }
        }

        @Test("the head and a base-image v0 cannot be deleted; other checkpoints can, and vanish everywhere")
        func deleteRules() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                expectError(try await daemon.http("DELETE", "/v1/sprites/\(name)/checkpoints/v0"), 409, "invalid_state")
                let v1 = try await daemon.checkpoint(name, comment: "one")
                expectError(try await daemon.http("DELETE", "/v1/sprites/\(name)/checkpoints/\(v1)"), 409, "invalid_state")
                let v2 = try await daemon.checkpoint(name, comment: "two")
                let v3 = try await daemon.checkpoint(name, comment: "three")
                expectError(try await daemon.http("DELETE", "/v1/sprites/\(name)/checkpoints/v0"), 409, "invalid_state")

                // Booted, the sprite shows its checkpoints under /.sprite/checkpoints (filled in after
                // boot); never a base-image v0, which is the pool's shared image.
                var seen: [String] = []
                let mounted = try await eventually(timeout: .seconds(15)) {
                    seen = try await daemon.mountedCheckpoints(name)
                    return seen == [v1, v2, v3]
                }
                #expect(mounted, "/.sprite/checkpoints after boot: \(seen)")

                let deleted = try await daemon.http("DELETE", "/v1/sprites/\(name)/checkpoints/\(v2)")
                #expect(deleted.status == 204, "\(deleted)")
                #expect(ids(try await daemon.checkpoints(name, includeAuto: true)) == [v3, v1, "v0"])
                expectError(try await daemon.http("GET", "/v1/sprites/\(name)/checkpoints/\(v2)"), 404, "not_found")
                expectError(try await daemon.http("DELETE", "/v1/sprites/\(name)/checkpoints/\(v2)"), 404, "not_found")
                #expect(try await daemon.mountedCheckpoints(name) == [v1, v3])

                // A restored checkpoint becomes the head; the previous head is free to go.
                try await daemon.restore(name, v1)
                expectError(try await daemon.http("DELETE", "/v1/sprites/\(name)/checkpoints/\(v1)"), 409, "invalid_state")
                #expect(try await daemon.http("DELETE", "/v1/sprites/\(name)/checkpoints/\(v3)").status == 204)
                #expect(try await daemon.http("DELETE", "/v1/sprites/\(name)/checkpoints/auto-1").status == 204)
                #expect(ids(try await daemon.checkpoints(name, includeAuto: true)) == [v1, "v0"])
                let unmounted = try await eventually(timeout: .seconds(15)) {
                    seen = try await daemon.mountedCheckpoints(name)
                    return seen == [v1]
                }
                #expect(unmounted, "/.sprite/checkpoints after the restore and deletes: \(seen)")
            }
        }

        @Test("storage_bytes is reported and counts what the sprite writes")
        func storageBytes() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let written = try await daemon.sh(name, "head -c 33554432 /dev/urandom > /root/big && sync")
                #expect(written.succeeded, "\(written)")
                try await daemon.checkpoint(name)
                // Space is measured in the background; the first report may take a moment.
                var last: Any?
                let counted = try await eventually(timeout: .seconds(60), every: .seconds(1)) {
                    last = try await daemon.spriteInfo(name)["storage_bytes"]
                    return ((last as? NSNumber)?.int64Value ?? 0) >= 32 << 20
                }
                #expect(counted, "storage_bytes is \(String(describing: last)), expected at least 32 MiB")
                let listed = try await daemon.http("GET", "/v1/sprites?prefix=\(name)")
                let entry = (listed.json?["sprites"] as? [[String: Any]])?.first { $0["name"] as? String == name }
                #expect(entry?["storage_bytes"] is NSNumber, "the sprite list has no storage_bytes: \(listed)")
            }
        }

        // Last in the suite: when it fails, the daemon has usually stopped answering.
        @Test("execs that race a restore all finish, and the next one sees the restored disk")
        func execsRacingRestore() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                try #require(try await daemon.sh(name, "echo restored > /root/state").succeeded)
                let id = try await daemon.checkpoint(name)
                try #require(try await daemon.sh(name, "echo replaced > /root/state").succeeded)

                async let restore = daemon.http("POST", "/v1/sprites/\(name)/checkpoints/\(id)/restore")
                let racers = await withTaskGroup(of: String.self) { group in
                    for _ in 0..<4 {
                        group.addTask {
                            do {
                                let result = try await daemon.exec(name, ["cat", "/root/state"], timeout: .seconds(30))
                                return result.timedOut ? "no end: \(result)" : "finished"
                            } catch {
                                return "failed: \(error)"
                            }
                        }
                    }
                    return await group.reduce(into: []) { $0.append($1) }
                }
                #expect(racers.allSatisfy { $0 == "finished" }, "\(racers)")
                let restored = try await restore
                #expect(restored.streamCompleted, "\(restored)")
                let after = try await daemon.exec(name, ["cat", "/root/state"], timeout: .seconds(30))
                #expect(after.stdout == "restored\n", "\(after)")
            }
        }

        // MARK: - A disk worth restoring

        /// What must come back exactly: the bytes of some files, and the names, sizes, modes, owners
        /// and link targets under /usr/bin and /root/keep.
        static let fingerprintScript = """
            set -e
            sha256sum /root/keep/data /root/keep/note /usr/bin/ls /usr/bin/curl /etc/passwd
            find /usr/bin /root/keep -printf '%p %s %m %U:%G %l\\n' | LC_ALL=C sort | sha256sum
            find /usr/bin | wc -l
            """

        /// Fills the sprite with data, checkpoints it, then wrecks it: /usr/bin removed, a file
        /// overwritten, a new one created (dash and cat are rescued to /opt/rescue first, so the
        /// wrecked state can still be inspected). Returns the checkpoint and its fingerprint.
        func checkpointThenWreck(_ daemon: DaemonFixture, _ name: String) async throws -> (String, String) {
            let note = TestEnvironment.randomName(24)
            let filled = try await daemon.sh(
                name, "mkdir -p /root/keep && head -c 1048576 /dev/urandom > /root/keep/data && echo \(note) > /root/keep/note")
            try #require(filled.succeeded, "\(filled)")
            let fingerprint = try await daemon.sh(name, Self.fingerprintScript)
            try #require(fingerprint.succeeded && fingerprint.stdout.lines.count == 7, "\(fingerprint)")
            try #require((Int(fingerprint.stdout.lines.last ?? "") ?? 0) > 100, "/usr/bin looks empty: \(fingerprint)")
            let checkpoint = try await daemon.checkpoint(name, comment: "known good")

            let wreck = try await daemon.sh(
                name,
                """
                set -e
                mkdir -p /opt/rescue && cp /usr/bin/dash /usr/bin/cat /opt/rescue/
                echo overwritten > /root/keep/note
                echo new > /root/new-file
                exec /usr/bin/rm -rf /usr/bin
                """)
            try #require(wreck.succeeded, "\(wreck)")
            let broken = try await daemon.exec(name, ["ls", "/"])
            try #require(!broken.succeeded, "ls still runs after rm -rf /usr/bin: \(broken)")
            return (checkpoint, fingerprint.stdout)
        }
    }
}
