// Fair shares: what one sprite can take from the daemon and the host, and what it cannot. Each
// test reproduces an attack from inside a sprite (as its root) and asserts the safe outcome: the
// attacker gets its share and no more, the daemon keeps serving, neighbours and the host keep
// working.
import Foundation
import Glibc
import Testing

extension DaemonFixture {
    /// The contents of `file` in the sprite's cgroup (or, with no id, the instance's parent) in
    /// whichever hierarchy has it: the v2 tree if it offers the controller, else its v1 hierarchy.
    func cgroupFile(_ file: String, spriteID id: String? = nil) -> String? {
        let controller = String(file.prefix { $0 != "." })
        let mounts = KernelFile.text("/proc/self/mountinfo")
        var candidates: [String] = []
        for line in mounts.lines {
            let halves = line.components(separatedBy: " - ")
            guard halves.count == 2 else { continue }
            let point = String(halves[0].split(separator: " ")[4])
            let right = halves[1].split(separator: " ")
            if right.first == "cgroup2" { candidates.append(point) }
            if right.first == "cgroup", right.count > 2, right[2].split(separator: ",").contains(Substring(controller)) {
                candidates.append(point)
            }
        }
        let relative = id.map { "\(instance)/\($0)" } ?? instance
        for point in candidates {
            if let text = try? String(contentsOfFile: "\(point)/\(relative)/\(file)", encoding: .utf8) { return text.trimmed }
        }
        return nil
    }
}

extension HobIntegration {
    @Suite("Fair shares: the in-sprite API", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct SpriteAPIFloodTests {
        /// Opens 2,000 connections to /.sprite/api.sock and keeps them; prints how many the daemon
        /// kept open and how many it closed.
        static let flood = """
            python3 - <<'PY'
            import os, resource, socket, time
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            held, failed = [], 0
            for _ in range(2000):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    s.connect("/.sprite/api.sock")
                    held.append(s)
                except OSError:
                    failed += 1
                    s.close()
            time.sleep(2)
            kept = closed = 0
            for s in held:
                s.setblocking(False)
                try:
                    if s.recv(1) == b"":
                        closed += 1
                except BlockingIOError:
                    kept += 1
                except OSError:
                    closed += 1
            print(f"kept={kept} closed={closed} failed={failed}", flush=True)
            open("/tmp/hob-ready", "w").close()
            while not os.path.exists("/tmp/hob-release"):
                time.sleep(0.1)
            PY
            """

        static func counts(_ output: String) -> [String: Int] {
            var counts: [String: Int] = [:]
            for field in output.split(whereSeparator: \.isWhitespace) {
                let parts = field.split(separator: "=")
                if parts.count == 2, let n = Int(parts[1]) { counts[String(parts[0])] = n }
            }
            return counts
        }

        @Test("a sprite flooding api.sock keeps at most 64 connections; the daemon and a neighbour's socket keep answering")
        func floodConfined() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { attacker in
                try await daemon.withSprite { neighbour in
                    _ = try await daemon.exec(neighbour, ["true"])
                    let flood = try await daemon.holding(attacker, Self.flood) {
                        let listed = try await daemon.http("GET", "/v1/sprites")
                        #expect(listed.status == 200, "the public API stopped answering: \(listed)")
                        let theirs = try await daemon.spriteAPI(in: neighbour, "GET", "/v1/checkpoints")
                        #expect(theirs.status == 200, "the neighbour's in-sprite API stopped answering: \(theirs)")
                        let mine = try await daemon.exec(
                            attacker, ["curl", "-s", "-S", "--max-time", "10", "--unix-socket", "/.sprite/api.sock", "http://sprite/v1/checkpoints"])
                        #expect(!mine.succeeded, "a connection past the attacker's share was served: \(mine)")
                    }
                    #expect(flood.succeeded, "\(flood)")
                    let counts = Self.counts(flood.stdout)
                    let kept = try #require(counts["kept"], "\(flood)")
                    #expect(kept <= 64, "the daemon kept \(kept) connections of one sprite: \(flood.stdout)")
                    #expect((counts["closed"] ?? 0) + (counts["failed"] ?? 0) >= 2000 - 64, "\(flood.stdout)")
                }
            }
            try await expectStillServing(daemon)
        }

        @Test("once a flood's connections close, the sprite's own in-sprite API works again")
        func recoversAfterFlood() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { attacker in
                let flood = try await daemon.holding(attacker, Self.flood) {}
                #expect(flood.succeeded, "\(flood)")
                let served = await eventually(timeout: .seconds(10)) {
                    (try? await daemon.spriteAPI(in: attacker, "GET", "/v1/checkpoints"))?.status == 200
                }
                #expect(served, "the sprite's own API did not come back after its connections closed")
            }
        }
    }

    @Suite(
        "Fair shares: the in-sprite API, daemon-wide", .sharedDaemon("--api-connections-per-sprite", "300", "--api-connections-total", "400"),
        .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct SpriteAPIDaemonWideTests {
        @Test("two flooding sprites together hold at most --api-connections-total connections")
        func totalCap() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { first in
                try await daemon.withSprite { second in
                    var secondFlood: ExecResult?
                    let firstFlood = try await daemon.holding(first, SpriteAPIFloodTests.flood) {
                        secondFlood = try await daemon.holding(second, SpriteAPIFloodTests.flood) {
                            let listed = try await daemon.http("GET", "/v1/sprites")
                            #expect(listed.status == 200, "\(listed)")
                        }
                    }
                    let kept = [firstFlood, try #require(secondFlood)].map { SpriteAPIFloodTests.counts($0.stdout)["kept"] ?? -1 }
                    #expect(kept[0] <= 300 && kept[1] >= 0, "\(kept)")
                    #expect(kept[0] + kept[1] <= 400, "the sprites held \(kept) connections together")
                }
            }
        }

        @Test("connections that would eat into the daemon's descriptor reserve are refused, and the daemon keeps serving")
        func descriptorReserve() async throws {
            let daemon = try DaemonFixture.shared()
            let pid = try #require(daemon.pid)
            try await daemon.withSprite { attacker in
                _ = try await daemon.exec(attacker, ["true"])  // booted first: its processes keep the old limit
                // A limit of 1200 leaves 176 descriptors above the reserve of 1024.
                _ = try await HostProcess.check("prlimit", ["--pid", "\(pid)", "--nofile=1200:1200"])
                let outcome: Result<Void, any Error>
                do {
                    var open = 0
                    let flood = try await daemon.holding(attacker, SpriteAPIFloodTests.flood) {
                        open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
                        let listed = try await daemon.http("GET", "/v1/sprites")
                        #expect(listed.status == 200, "\(listed)")
                    }
                    let kept = SpriteAPIFloodTests.counts(flood.stdout)["kept"] ?? -1
                    #expect(kept < 300, "the per-sprite cap, not the reserve, stopped the flood: \(flood.stdout)")
                    #expect(open <= 1200 - 1024 + 64, "the daemon had \(open) descriptors open of 1200")
                    outcome = .success(())
                } catch {
                    outcome = .failure(error)
                }
                _ = try? await HostProcess.check("prlimit", ["--pid", "\(pid)", "--nofile=20000:20000"])
                try outcome.get()
            }
            try await expectStillServing(daemon)
        }
    }

    @Suite(
        "Fair shares: checkpoints", .sharedDaemon("--checkpoint-limit", "2", "--checkpoint-burst", "3", "--checkpoint-interval", "60s"),
        .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct CheckpointLimitTests {
        /// Spends the sprite's burst of three while keeping under the count cap of two: v1, v2,
        /// delete v1, v3, delete v2.
        static func spendBurst(_ daemon: DaemonFixture, _ sprite: String) async throws {
            let v1 = try await daemon.checkpoint(sprite)
            let v2 = try await daemon.checkpoint(sprite)
            #expect(try await daemon.http("DELETE", "/v1/sprites/\(sprite)/checkpoints/\(v1)").status == 204)
            _ = try await daemon.checkpoint(sprite)
            #expect(try await daemon.http("DELETE", "/v1/sprites/\(sprite)/checkpoints/\(v2)").status == 204)
        }

        @Test("past its burst, a sprite's checkpoint request gets 429 rate_limited with Retry-After")
        func rateLimited() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                try await Self.spendBurst(daemon, name)
                let refused = try await daemon.http("POST", "/v1/sprites/\(name)/checkpoint")
                expectError(refused, 429, "rate_limited")
                let retryAfter = try #require(refused.header("Retry-After").flatMap { Int($0) }, "\(refused.headers)")
                #expect((1...60).contains(retryAfter), "Retry-After: \(retryAfter)")
                #expect(ids(try await daemon.checkpoints(name)) == ["v3", "v0"], "a refused request took a checkpoint")
            }
        }

        @Test("the rate is the sprite's, shared by the in-sprite API: sprite-env prints the refusal and fails")
        func rateLimitedInside() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                try await Self.spendBurst(daemon, name)
                let inside = try await daemon.exec(name, ["sprite-env", "checkpoints", "create"])
                #expect(!inside.succeeded, "\(inside)")
                #expect(inside.stderr.contains("too fast"), "\(inside)")
                expectError(try await daemon.spriteAPI(in: name, "POST", "/v1/checkpoint"), 429, "rate_limited")
            }
        }

        @Test("a sprite at its checkpoint cap gets 409 resource_exhausted, inside and out, until it deletes one")
        func countCap() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let v1 = try await daemon.checkpoint(name)
                _ = try await daemon.checkpoint(name)
                expectError(try await daemon.http("POST", "/v1/sprites/\(name)/checkpoint"), 409, "resource_exhausted")
                expectError(try await daemon.spriteAPI(in: name, "POST", "/v1/checkpoint"), 409, "resource_exhausted")
                #expect(ids(try await daemon.checkpoints(name)) == ["v2", "v1", "v0"], "a refused request took a checkpoint")
                #expect(try await daemon.http("DELETE", "/v1/sprites/\(name)/checkpoints/\(v1)").status == 204)
                _ = try await daemon.checkpoint(name)
            }
        }
    }

    @Suite("Fair shares: host resources", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct HostResourceTests {
        @Test("a 20,000-deep directory chain in a sprite does not bring the daemon down, and its space is still reported")
        func deepDirectoryChain() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let made = try await daemon.sh(
                    name,
                    """
                    python3 -c "
                    import os
                    os.chdir('/root')
                    for _ in range(20000):
                        os.mkdir('d')
                        os.chdir('d')
                    open('bottom', 'w').write('x' * 100000)
                    "
                    """)
                #expect(made.succeeded, "\(made)")
                _ = try await daemon.checkpoint(name)  // queues a space scan of the disk and the checkpoint
                let reported = await eventually(timeout: .seconds(60), every: .milliseconds(500)) {
                    let listed = try? await daemon.http("GET", "/v1/sprites/\(name)/checkpoints")
                    return listed?.jsonArray?.first { $0["id"] as? String == "v1" }?["size_bytes"] is NSNumber
                }
                #expect(reported, "no space report for the sprite\n\(daemon.logTail())")
                #expect(daemon.isRunning, "the daemon exited\n\(daemon.logTail())")
                try await expectStillServing(daemon)
            }
        }

        @Test("a sprite opening PTYs gets at most 256; the host and a neighbour can still open one")
        func ptyExhaustionConfined() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { attacker in
                try await daemon.withSprite { neighbour in
                    _ = try await daemon.exec(neighbour, ["true"])
                    let hog = try await daemon.holding(
                        attacker,
                        """
                        python3 - <<'PY'
                        import os, time
                        held, error = [], 0
                        try:
                            while len(held) < 5000:
                                held.append(os.openpty())
                        except OSError as e:
                            error = e.errno
                        print(f"ptys={len(held)} errno={error}", flush=True)
                        open("/tmp/hob-ready", "w").close()
                        while not os.path.exists("/tmp/hob-release"):
                            time.sleep(0.1)
                        PY
                        """
                    ) {
                        let theirs = try await daemon.exec(neighbour, ["python3", "-c", "import os; os.openpty(); print('ok')"])
                        #expect(theirs.stdout.trimmed == "ok", "the neighbour could not open a PTY: \(theirs)")
                        let host = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
                        #expect(host >= 0, "the host could not open a PTY: errno \(errno)")
                        if host >= 0 { close(host) }
                    }
                    #expect(hog.succeeded, "\(hog)")
                    let counts = SpriteAPIFloodTests.counts(hog.stdout)
                    let opened = try #require(counts["ptys"], "\(hog)")
                    #expect(opened <= 256, "one sprite opened \(opened) PTYs")
                    #expect(opened >= 200, "the sprite could open only \(opened) PTYs: \(hog.stdout)")
                }
            }
        }

        @Test("two sprites spinning on two cores each get a comparable share of the CPU")
        func cpuFairness() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { a in
                try await daemon.withSprite { b in
                    let spin = "for i in 1 2; do timeout 12 sh -c 'while :; do :; done' & done; wait; true"
                    let runs = [a, b].map { name in Task { try await daemon.exec(name, ["sh", "-c", spin]) } }
                    try await Task.sleep(for: .seconds(3))
                    let ids = [try await daemon.spriteID(a), try await daemon.spriteID(b)]
                    let before = ids.map { daemon.cgroupCPUMicros(spriteID: $0) ?? 0 }
                    try await Task.sleep(for: .seconds(5))
                    let after = ids.map { daemon.cgroupCPUMicros(spriteID: $0) ?? 0 }
                    for run in runs { _ = try await run.value }
                    let used = zip(after, before).map { Double($0 - $1) }
                    let total = used.reduce(0, +)
                    #expect(total > 0, "no CPU time was counted: \(before) → \(after)")
                    for (name, share) in zip([a, b], used.map { $0 / total }) {
                        #expect(share >= 0.25, "\(name) got \(Int(share * 100))% of the CPU the two used (\(used))")
                    }
                }
            }
        }

        @Test("every sprite gets pids.max 4096 and the same CPU weight; all sprites together get 3/4 of pid_max")
        func cgroupShares() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                _ = try await daemon.exec(name, ["true"])
                let id = try await daemon.spriteID(name)
                #expect(daemon.cgroupFile("pids.max", spriteID: id) == "4096")
                let weight = daemon.cgroupFile("cpu.weight", spriteID: id) ?? daemon.cgroupFile("cpu.shares", spriteID: id)
                #expect(weight == "100" || weight == "1024", "\(String(describing: weight))")
                let pidMax = Int((try String(contentsOfFile: "/proc/sys/kernel/pid_max", encoding: .utf8)).trimmed) ?? 0
                #expect(daemon.cgroupFile("pids.max") == String(pidMax / 4 * 3))
            }
        }

        @Test("a sprite spinning on every core leaves a neighbour's exec responsive")
        func busyNeighbour() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { busy in
                try await daemon.withSprite { neighbour in
                    _ = try await daemon.exec(neighbour, ["true"])
                    let spin = try await daemon.holding(
                        busy,
                        "for i in 1 2 3 4; do sh -c 'while [ ! -e /tmp/hob-release ]; do :; done' & done; touch /tmp/hob-ready; wait"
                    ) {
                        let answered = try await daemon.exec(neighbour, ["echo", "responsive"])
                        #expect(answered.stdout.trimmed == "responsive", "\(answered)")
                    }
                    #expect(spin.succeeded, "\(spin)")
                }
            }
        }
    }

    @Suite("Fair shares: resources policy", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct ResourcesPolicyTests {
        static func limit(_ daemon: DaemonFixture, _ name: String) async throws -> Int? {
            let policy = try await daemon.http("GET", "/v1/sprites/\(name)/policy/resources")
            #expect(policy.status == 200, "\(policy)")
            return (policy.json?["memory"] as? [String: Any])?["limit_mb"] as? Int
        }

        @Test("a memory limit lowered live OOM-kills a process allocating past it, and the sprite stays up")
        func memoryLimitLive() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                _ = try await daemon.exec(name, ["true"])
                #expect(try await Self.limit(daemon, name) == 2048)
                let set = try await daemon.http("POST", "/v1/sprites/\(name)/policy/resources", body: Data(#"{"memory":{"limit_mb":256}}"#.utf8))
                #expect(set.status == 204, "\(set)")
                #expect(try await Self.limit(daemon, name) == 256)
                let config = try await daemon.spriteInfo(name)["config"] as? [String: Any]
                #expect(config?["ram_mb"] as? Int == 256, "\(String(describing: config))")

                let hog = try await daemon.exec(name, ["python3", "-c", "b = b'x' * (512 << 20); print('survived')"])
                #expect(!hog.succeeded && !hog.stdout.contains("survived"), "512 MB fit under a 256 MB limit: \(hog)")
                let alive = try await daemon.exec(name, ["echo", "alive"])
                #expect(alive.stdout.trimmed == "alive", "\(alive)")
                #expect(try await daemon.status(name) == "running")

                let reset = try await daemon.http("DELETE", "/v1/sprites/\(name)/policy/resources")
                #expect(reset.status == 204, "\(reset)")
                #expect(try await Self.limit(daemon, name) == 2048)
                let fits = try await daemon.exec(name, ["python3", "-c", "b = b'x' * (512 << 20); print('survived')"])
                #expect(fits.stdout.trimmed == "survived", "\(fits)")
            }
        }

        @Test("a memory limit set while the sprite is cold applies at its next boot")
        func memoryLimitCold() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let set = try await daemon.http("POST", "/v1/sprites/\(name)/policy/resources", body: Data(#"{"memory":{"limit_mb":300}}"#.utf8))
                #expect(set.status == 204, "\(set)")
                _ = try await daemon.exec(name, ["true"])
                let id = try await daemon.spriteID(name)
                let limit = daemon.cgroupFile("memory.max", spriteID: id) ?? daemon.cgroupFile("memory.limit_in_bytes", spriteID: id)
                #expect(limit == String(300 << 20), "\(String(describing: limit))")
            }
        }

        @Test("hob policy resources sets, shows and resets the memory limit")
        func cli() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let set = try await daemon.cli("policy", "resources", "set", name, "--memory", "512")
                #expect(set.succeeded, "\(set)")
                let shown = try await daemon.cli("policy", "resources", "get", name)
                #expect(shown.stdout.trimmed == "memory: 512 MB", "\(shown)")
                let reset = try await daemon.cli("policy", "resources", "reset", name)
                #expect(reset.succeeded, "\(reset)")
                #expect(try await Self.limit(daemon, name) == 2048)
                let refused = try await daemon.cli("policy", "resources", "set", name, "--memory", "10")
                #expect(!refused.succeeded && refused.stderr.contains("64"), "\(refused)")
            }
        }

        @Test("bad resources policies are refused with 400 and change nothing")
        func badPolicies() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                for body in [
                    #"{"memory":{"limit_mb":32}}"#, #"{"memory":{"limit_mb":100000000}}"#, #"{"memory":{"limit_mb":512,"autoscale":true}}"#,
                    #"{"memory":{}}"#, "{}", #"{"memory":{"limit_mb":"lots"}}"#,
                ] {
                    expectError(try await daemon.http("POST", "/v1/sprites/\(name)/policy/resources", body: Data(body.utf8)), 400, "invalid_argument")
                }
                #expect(try await Self.limit(daemon, name) == 2048)
                expectError(try await daemon.http("GET", "/v1/sprites/no-such-sprite/policy/resources"), 404, "not_found")
            }
        }
    }
}
