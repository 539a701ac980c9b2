// Checkpoints from inside a sprite: the in-sprite API on /.sprite/api.sock (plain HTTP, the caller
// identified by its uid), the `sprite-env` command over it, and the read-only checkpoint mounts
// under /.sprite/checkpoints.
import Foundation
import Testing

extension HobIntegration {
    @Suite("In-sprite API", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct SpriteAPITests {
        @Test("a sprite checkpoints itself over /.sprite/api.sock, and the public API lists it")
        func checkpointFromInside() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let created = try await daemon.spriteAPI(in: name, "POST", "/v1/checkpoint", body: #"{"comment":"from inside"}"#)
                #expect(created.streamCompleted, "\(created)")
                #expect(created.streamMessages.last?.data == "Checkpoint v1 created successfully", "\(created)")

                let listed = try await daemon.checkpoints(name)
                #expect(listed.first?.id == "v1" && listed.first?.comment == "from inside", "\(listed)")

                let insideList = try await daemon.spriteAPI(in: name, "GET", "/v1/checkpoints")
                #expect(insideList.status == 200, "\(insideList)")
                #expect(insideList.jsonArray?.compactMap { $0["id"] as? String } == ["Current", "v1", "v0"], "\(insideList)")
                let insideOne = try await daemon.spriteAPI(in: name, "GET", "/v1/checkpoints/v1")
                #expect(insideOne.json.flatMap(CheckpointEntry.init) == listed.first, "\(insideOne)")
            }
        }

        @Test("any user inside the sprite may use the socket")
        func unprivilegedCaller() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let listed = try await daemon.spriteAPI(in: name, "GET", "/v1/checkpoints", asUser: 65534)
                #expect(listed.status == 200, "\(listed)")
                #expect(listed.jsonArray?.first?["id"] as? String == "Current", "\(listed)")
            }
        }

        @Test("the socket acts on the calling sprite only")
        func callerOnly() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { a in
                try await daemon.withSprite { b in
                    let created = try await daemon.spriteAPI(in: a, "POST", "/v1/checkpoint", body: #"{"comment":"made by A"}"#)
                    #expect(created.streamCompleted, "\(created)")

                    let seenByB = try await daemon.spriteAPI(in: b, "GET", "/v1/checkpoints")
                    #expect(seenByB.jsonArray?.compactMap { $0["id"] as? String } == ["Current", "v0"], "\(seenByB)")
                    expectError(try await daemon.spriteAPI(in: b, "GET", "/v1/checkpoints/v1"), 404, "not_found")
                    expectError(try await daemon.spriteAPI(in: b, "DELETE", "/v1/checkpoints/v1"), 404, "not_found")
                    #expect(ids(try await daemon.checkpoints(b)) == ["v0"])
                    #expect(ids(try await daemon.checkpoints(a)) == ["v1", "v0"])
                }
            }
        }

        @Test("a sprite deletes its own checkpoints over the socket, with the public API's rules")
        func deleteFromInside() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let v1 = try await daemon.checkpoint(name)
                let v2 = try await daemon.checkpoint(name)
                expectError(try await daemon.spriteAPI(in: name, "DELETE", "/v1/checkpoints/\(v2)"), 409, "invalid_state")
                let deleted = try await daemon.spriteAPI(in: name, "DELETE", "/v1/checkpoints/\(v1)")
                #expect(deleted.status == 204, "\(deleted)")
                #expect(ids(try await daemon.checkpoints(name)) == [v2, "v0"])
            }
        }

        @Test("host processes are refused on the socket with a 401")
        func hostRefused() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                _ = try await daemon.exec(name, ["true"])  // a running sprite: its uid range is known
                let result = try await HostProcess.run(
                    "curl", ["-s", "-S", "--unix-socket", daemon.spriteAPISocket, "-w", "\n%{http_code}", "http://sprite/v1/checkpoints"])
                #expect(result.succeeded, "\(result)")
                let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
                let response = HTTPResult(
                    status: Int(lines.last ?? "") ?? -1, body: Data(lines.dropLast().joined(separator: "\n").utf8), headers: [:])
                expectError(response, 401, "unauthorized")
                let created = try await HostProcess.run(
                    "curl",
                    [
                        "-s", "-S", "--unix-socket", daemon.spriteAPISocket, "-X", "POST", "-o", "/dev/null", "-w", "%{http_code}",
                        "http://sprite/v1/checkpoint",
                    ])
                #expect(created.stdout == "401", "\(created)")
                #expect(ids(try await daemon.checkpoints(name)) == ["v0"])
            }
        }

        @Test("/.sprite/checkpoints shows the newest five checkpoints, read-only, owned as inside the sprite")
        func checkpointMounts() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let prepared = try await daemon.sh(
                    name,
                    "echo private > /root/private && chmod 600 /root/private && echo theirs > /root/theirs && chown 1000:1000 /root/theirs")
                #expect(prepared.succeeded, "\(prepared)")
                var made: [String] = []
                for generation in 1...6 {
                    let written = try await daemon.sh(name, "echo \(generation) > /root/generation")
                    #expect(written.succeeded, "\(written)")
                    made.append(try await daemon.checkpoint(name, comment: "generation \(generation)"))
                }
                #expect(made == (1...6).map { "v\($0)" })

                #expect(try await daemon.mountedCheckpoints(name) == ["v2", "v3", "v4", "v5", "v6"])
                for generation in 2...6 {
                    let content = try await daemon.exec(name, ["cat", "/.sprite/checkpoints/v\(generation)/root/generation"])
                    #expect(content.stdout == "\(generation)\n", "v\(generation): \(content)")
                }

                let owners = try await daemon.exec(
                    name, ["stat", "-c", "%n %u:%g %a", "/.sprite/checkpoints/v6/root/private", "/.sprite/checkpoints/v6/root/theirs"])
                #expect(
                    owners.stdout.lines == [
                        "/.sprite/checkpoints/v6/root/private 0:0 600", "/.sprite/checkpoints/v6/root/theirs 1000:1000 644",
                    ],
                    "\(owners)")
                let rootName = try await daemon.exec(name, ["stat", "-c", "%U:%G", "/.sprite/checkpoints/v6/root/private"])
                #expect(rootName.stdout == "root:root\n", "\(rootName)")
                let secret = try await daemon.exec(name, ["cat", "/.sprite/checkpoints/v6/root/private"])
                #expect(secret.stdout == "private\n", "a root-owned 0600 file does not read back: \(secret)")

                let writes = try await daemon.sh(
                    name,
                    """
                    touch /.sprite/checkpoints/v6/root/new 2>/dev/null; echo "create $?"
                    (echo changed >> /.sprite/checkpoints/v6/root/generation) 2>/dev/null; echo "append $?"
                    rm -f /.sprite/checkpoints/v6/root/private 2>/dev/null; echo "remove $?"
                    mkdir /.sprite/checkpoints/v6/dir 2>/dev/null; echo "mkdir $?"
                    cat /.sprite/checkpoints/v6/root/generation
                    """)
                #expect(writes.stdout.lines.prefix(4).allSatisfy { !$0.hasSuffix(" 0") }, "a write inside a checkpoint worked: \(writes)")
                #expect(writes.stdout.lines.last == "6", "\(writes)")
                #expect(try await daemon.mountedCheckpoints(name) == ["v2", "v3", "v4", "v5", "v6"])
            }
        }

        // Last in the suite: when its restore fails, the daemon has usually stopped answering.
        @Test("sprite-env, on the exec PATH, creates, lists and restores checkpoints")
        func spriteEnv() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let found = try await daemon.sh(name, "command -v sprite-env")
                #expect(found.stdout == "/.sprite/bin/sprite-env\n", "\(found)")

                let before = try await daemon.sh(
                    name, "echo first > /root/state && sprite-env checkpoints create --comment 'made by sprite-env'")
                #expect(before.succeeded, "\(before)")
                #expect(before.stdout.lines.contains("ID: v1"), "\(before)")
                let listed = try await daemon.checkpoints(name)
                #expect(listed.first?.id == "v1" && listed.first?.comment == "made by sprite-env", "\(listed)")

                let shown = try await daemon.exec(name, ["sprite-env", "checkpoints", "list"])
                #expect(shown.succeeded, "\(shown)")
                #expect(shown.stdout.contains("v1") && shown.stdout.contains("made by sprite-env"), "\(shown)")

                let changed = try await daemon.sh(name, "echo second > /root/state")
                #expect(changed.succeeded, "\(changed)")
                // The restore stops every process in the sprite, sprite-env and this session included.
                let restoring = try await daemon.exec(name, ["sprite-env", "checkpoints", "restore", "v1"], timeout: .seconds(90))
                #expect(!restoring.timedOut, "the exec session running the restore never ended: \(restoring)")

                let state = try await daemon.exec(name, ["cat", "/root/state"])
                #expect(state.stdout == "first\n", "\(state)")
                let autos = try await daemon.checkpoints(name, includeAuto: true).filter(\.isAuto)
                #expect(autos.map(\.comment) == ["before restoring v1"], "\(autos)")
            }
        }
    }
}
