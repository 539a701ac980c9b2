// Sleep and wake (issue 4): idle sprites go warm (frozen) then cold (stopped), requests wake them,
// holds and tasks keep them running, `hob sleep` forces it, and the status and counts show it.
// The suite's daemon puts sprites to sleep after 2 s idle; sprites set their own cold timeout.
import Foundation
import Testing

extension HobIntegration {
    @Suite(
        "Sleep and wake", .sharedDaemon("--idle-timeout", "2s", "--cold-timeout", "1h"),
        .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct SleepTests {
        static let idle: Duration = .seconds(2)

        @Test("an idle sprite turns warm, its processes use no CPU while it is, and an exec wakes it")
        func idleTurnsWarm() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                // A process that would burn CPU forever, left behind by an exec that returned.
                let started = try await daemon.sh(name, "nohup sh -c 'while :; do :; done' >/dev/null 2>&1 & echo $! > /root/loop.pid; echo started")
                #expect(started.stdout == "started\n", "\(started)")
                let id = try await daemon.spriteID(name)
                try await daemon.waitForStatus(name, "warm", timeout: Self.idle + .seconds(5))
                let before = try #require(daemon.cgroupCPUMicros(spriteID: id))
                try await Task.sleep(for: .seconds(10))
                let after = try #require(daemon.cgroupCPUMicros(spriteID: id))
                #expect(after == before, "a warm sprite used \(after - before) µs of CPU in 10 s")
                let info = try await daemon.spriteInfo(name)
                #expect(info["status"] as? String == "warm")
                #expect(info["last_warming_at"] is String, "\(info)")

                let woke = try await daemon.exec(name, ["sh", "-c", "kill -0 $(cat /root/loop.pid) && echo awake"])
                #expect(woke.succeeded && woke.stdout == "awake\n", "the frozen process carried on: \(woke)")
                #expect(try await daemon.status(name) == "running")
            }
        }

        @Test("a cold sprite has no processes and wakes on exec with every file intact")
        func coldKeepsFiles() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite(config: ["cold_timeout": 4]) { name in
                let wrote = try await daemon.sh(
                    name, "head -c 2000000 /dev/urandom > /root/blob && mkdir -p /srv/d && echo kept > /srv/d/f && sha256sum /root/blob /srv/d/f > /root/sums && echo ok")
                #expect(wrote.stdout == "ok\n", "\(wrote)")
                let id = try await daemon.spriteID(name)
                try await daemon.waitForStatus(name, "cold", timeout: .seconds(4 + 5))
                // Cold as soon as the stop begins; the processes get a moment to end.
                #expect(await eventually(timeout: .seconds(5)) { daemon.cgroupCPUMicros(spriteID: id) == nil }, "a cold sprite keeps no cgroup")

                let check = try await daemon.sh(name, "sha256sum -c /root/sums")
                #expect(check.succeeded && check.stdout.lines.count == 2 && check.stdout.lines.allSatisfy { $0.hasSuffix(": OK") }, "\(check)")
                #expect(try await daemon.status(name) == "running")
            }
        }

        @Test("an open exec keeps its sprite running past the idle period")
        func openExecHolds() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                async let long = daemon.exec(name, ["sh", "-c", "sleep 5; echo done"])
                try await Task.sleep(for: .seconds(4))
                #expect(try await daemon.status(name) == "running")
                let result = try await long
                #expect(result.stdout == "done\n", "\(result)")
                try await daemon.waitForStatus(name, "warm", timeout: Self.idle + .seconds(5))
            }
        }

        @Test("a task keeps a sprite running past its idle period, and the sprite sleeps once it expires")
        func taskHolds() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let created = try await daemon.spriteAPI(in: name, "POST", "/v1/tasks", body: #"{"name":"agent","expire":"8s"}"#)
                #expect(created.status == 201, "\(created)")
                #expect(created.json?["name"] as? String == "agent" && created.json?["expires_at"] is String, "\(created)")
                let createdAt = ContinuousClock.now
                try await Task.sleep(for: .seconds(5))  // well past the 2 s idle period
                #expect(try await daemon.status(name) == "running")
                try await daemon.waitForStatus(name, "warm", timeout: .seconds(8) - (ContinuousClock.now - createdAt) + Self.idle + .seconds(5))
            }
        }

        @Test("the tasks API: create, conflict, upsert, get, list, delete, and its limits")
        func tasksAPI() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                #expect(try await daemon.spriteAPI(in: name, "POST", "/v1/tasks", body: #"{"name":"build","expire":600}"#).status == 201)
                expectError(try await daemon.spriteAPI(in: name, "POST", "/v1/tasks", body: #"{"name":"build","expire":60}"#), 409, "already_exists")
                let renewed = try await daemon.spriteAPI(in: name, "PUT", "/v1/tasks/build", body: #"{"expire":"1h"}"#)
                #expect(renewed.status == 200 && renewed.json?["name"] as? String == "build", "\(renewed)")
                let upserted = try await daemon.spriteAPI(in: name, "PUT", "/v1/tasks", body: #"{"name":"sync","expire":"30m"}"#)
                #expect(upserted.status == 200, "\(upserted)")

                let listed = try await daemon.spriteAPI(in: name, "GET", "/v1/tasks")
                let names = (listed.json?["tasks"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
                #expect(names == ["build", "sync"], "\(listed)")
                #expect(try await daemon.spriteAPI(in: name, "GET", "/v1/tasks/sync").status == 200)
                expectError(try await daemon.spriteAPI(in: name, "GET", "/v1/tasks/nope"), 404, "not_found")

                expectError(try await daemon.spriteAPI(in: name, "POST", "/v1/tasks", body: #"{"name":"long","expire":"2h"}"#), 400, "invalid_argument")
                expectError(try await daemon.spriteAPI(in: name, "POST", "/v1/tasks", body: #"{"name":"x","expire":"soon"}"#), 400, "invalid_argument")
                expectError(try await daemon.spriteAPI(in: name, "POST", "/v1/tasks", body: #"{"expire":60}"#), 400, "invalid_argument")
                expectError(try await daemon.spriteAPI(in: name, "POST", "/v1/tasks", body: "{"), 400, "invalid_argument")

                #expect(try await daemon.spriteAPI(in: name, "DELETE", "/v1/tasks/build").status == 204)
                expectError(try await daemon.spriteAPI(in: name, "DELETE", "/v1/tasks/build"), 404, "not_found")

                // Tasks belong to the run: a cold sprite has none.
                #expect(try await daemon.sleep(name, state: "cold").status == 200)
                let after = try await daemon.spriteAPI(in: name, "GET", "/v1/tasks")
                #expect((after.json?["tasks"] as? [Any])?.isEmpty == true, "\(after)")
            }
        }

        @Test("sprite-env tasks wraps the tasks API")
        func spriteEnvTasks() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let created = try await daemon.exec(name, ["sprite-env", "tasks", "create", "agent", "--expire", "10m"])
                #expect(created.succeeded && created.stdout.contains("agent"), "\(created)")
                let listed = try await daemon.exec(name, ["sprite-env", "tasks", "list"])
                #expect(listed.succeeded && listed.stdout.contains("agent"), "\(listed)")
                let deleted = try await daemon.exec(name, ["sprite-env", "tasks", "delete", "agent"])
                #expect(deleted.succeeded, "\(deleted)")
                let missing = try await daemon.exec(name, ["sprite-env", "tasks", "get", "agent"])
                #expect(!missing.succeeded && missing.stderr.contains("not found"), "\(missing)")
            }
        }

        @Test("hob sleep puts a sprite to sleep now, warm or cold, and bad requests get clear errors")
        func forcedSleep() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite(config: ["idle_timeout": 0]) { name in
                #expect(try await daemon.exec(name, ["true"]).succeeded)
                let warm = try await daemon.cli("sleep", name)
                #expect(warm.succeeded && warm.stdout == "\(name) is warm\n", "\(warm)")
                #expect(try await daemon.status(name) == "warm")
                let woke = try await daemon.exec(name, ["echo", "back"])
                #expect(woke.stdout == "back\n", "\(woke)")
                #expect(try await daemon.status(name) == "running")

                let cold = try await daemon.cli("sleep", name, "--cold", "--json")
                #expect(cold.succeeded && cold.stdout.contains(#""status" : "cold""#), "\(cold)")
                #expect(try await daemon.status(name) == "cold")
                // A cold sprite cannot be warm: asking leaves it cold.
                #expect((try await daemon.sleep(name, state: "warm")).json?["status"] as? String == "cold")

                expectError(try await daemon.sleep(name, state: "hot"), 400, "invalid_argument")
                expectError(try await daemon.sleep(name, state: "running"), 400, "invalid_argument")
                expectError(try await daemon.sleep("no-such-sprite"), 404, "not_found")
                let missing = try await daemon.cli("sleep", "no-such-sprite")
                #expect(missing.status != 0 && missing.stderr.contains("not found"), "\(missing)")
            }
        }

        @Test("per-sprite timeouts: set at create, changed with hob update, shown in config")
        func perSpriteTimeouts() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite(config: ["idle_timeout": 0, "cold_timeout": 0]) { name in
                let config = try await daemon.spriteInfo(name)["config"] as? [String: Any]
                #expect(number(config?["idle_timeout"]) == 0 && number(config?["cold_timeout"]) == 0, "\(String(describing: config))")
                #expect(try await daemon.exec(name, ["true"]).succeeded)
                try await Task.sleep(for: Self.idle + .seconds(2))
                #expect(try await daemon.status(name) == "running", "idle_timeout 0 never sleeps")

                let updated = try await daemon.cli("update", name, "--idle-timeout", "1s", "--json")
                #expect(updated.succeeded && updated.stdout.contains(#""idle_timeout" : 1"#), "\(updated)")
                try await daemon.waitForStatus(name, "warm", timeout: .seconds(1 + 5))

                let bad = try await daemon.http("PUT", "/v1/sprites/\(name)", body: Data(#"{"config":{"idle_timeout":-1}}"#.utf8))
                expectError(bad, 400, "invalid_argument")
                let resources = try await daemon.http("PUT", "/v1/sprites/\(name)", body: Data(#"{"config":{"ram_mb":512}}"#.utf8))
                expectError(resources, 400, "invalid_argument")
                let invalidFlag = try await daemon.cli("update", name, "--idle-timeout", "soon")
                #expect(invalidFlag.status != 0 && invalidFlag.stderr.contains("--idle-timeout"), "\(invalidFlag)")
            }
        }

        @Test("status is cold, warm or running, and the list counts match the statuses")
        func listCounts() async throws {
            let daemon = try DaemonFixture.shared()
            let (cold, running, warm) = (TestEnvironment.spriteName(), TestEnvironment.spriteName(), TestEnvironment.spriteName())
            try await daemon.cleaningUp(sprites: [cold, running, warm]) {
                try await daemon.createSprite(cold)
                try await daemon.createSprite(running, config: ["idle_timeout": 0])
                try await daemon.createSprite(warm, config: ["idle_timeout": 0])
                #expect(try await daemon.exec(running, ["true"]).succeeded)
                #expect(try await daemon.exec(warm, ["true"]).succeeded)
                #expect(try await daemon.sleep(warm).status == 200)

                let response = try await daemon.http("GET", "/v1/sprites?max_results=100")
                let list = try #require(response.json)
                let sprites = try #require(list["sprites"] as? [[String: Any]])
                let status = Dictionary(uniqueKeysWithValues: sprites.map { ($0["name"] as? String ?? "", $0["status"] as? String ?? "") })
                #expect(status[cold] == "cold" && status[running] == "running" && status[warm] == "warm", "\(status)")
                let org = list["org"] as? [String: Any]
                for state in ["cold", "warm", "running"] {
                    let count = status.values.filter { $0 == state }.count
                    #expect(number(list[state]) == Double(count), "top-level \(state)")
                    #expect(number(org?[state]) == Double(count), "org \(state)")
                }
            }
        }

        @Test("usage counts CPU while running and none while warm, and survives a daemon restart")
        func usage() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite(config: ["idle_timeout": 0]) { name in
                // Exactly 5 s of CPU time (user and system: the loop is mostly the times syscall),
                // however busy the machine is.
                let burn = try await daemon.exec(name, ["perl", "-e", "while (1) { my @t = times; last if $t[0] + $t[1] >= 5 }"])
                #expect(burn.succeeded, "\(burn)")
                let running = try await daemon.usage(name)
                let cpu = number(running["cpu_seconds"])
                #expect(cpu >= 4 && cpu <= 6, "5 s of CPU reported as \(cpu)")
                #expect(number(running["memory_peak_bytes"]) > 0 && number(running["memory_average_bytes"]) > 0, "\(running)")
                #expect(number(running["running_seconds"]) >= 5, "\(running)")

                #expect(try await daemon.sleep(name).status == 200)
                let warm1 = try await daemon.usage(name)
                try await Task.sleep(for: .seconds(3))
                let warm2 = try await daemon.usage(name)
                #expect(number(warm2["cpu_seconds"]) == number(warm1["cpu_seconds"]), "CPU grew while warm: \(warm1) → \(warm2)")
                #expect(number(warm2["memory_byte_seconds"]) == number(warm1["memory_byte_seconds"]), "memory accrued while warm")
                #expect(abs(number(warm2["running_seconds"]) - number(warm1["running_seconds"])) < 0.01)
                #expect(number(warm2["warm_seconds"]) >= number(warm1["warm_seconds"]) + 2.5, "\(warm1) → \(warm2)")

                await daemon.stop()
                try await daemon.restart()
                let restarted = try await daemon.usage(name)
                #expect(number(restarted["cpu_seconds"]) >= number(warm2["cpu_seconds"]), "usage lost across a restart: \(restarted)")
                #expect(number(restarted["warm_seconds"]) >= number(warm2["warm_seconds"]))

                let host = try #require(try await daemon.http("GET", "/v1/usage").json)
                let total = host["total"] as? [String: Any]
                #expect(number(total?["cpu_seconds"]) >= number(restarted["cpu_seconds"]), "\(host)")
                #expect((host["sprites"] as? [[String: Any]])?.contains { $0["name"] as? String == name } == true)
                let shown = try await daemon.cli("usage", name)
                #expect(shown.succeeded && shown.stdout.contains("CPU time"), "\(shown)")
                let table = try await daemon.cli("usage")
                #expect(table.succeeded && table.stdout.contains(name) && table.stdout.contains("(total)"), "\(table)")
            }
        }

        @Test("after kill -9 of the daemon, a warm sprite stays warm and a running one keeps its processes")
        func killedDaemon() async throws {
            let daemon = try DaemonFixture.shared()
            let (warm, running) = (TestEnvironment.spriteName(), TestEnvironment.spriteName())
            try await daemon.cleaningUp(sprites: [warm, running]) {
                try await daemon.createSprite(warm, config: ["idle_timeout": 0])
                try await daemon.createSprite(running, config: ["idle_timeout": 0])
                #expect(try await daemon.sh(warm, "echo w > /root/file").succeeded)
                let started = try await daemon.sh(running, "nohup sleep 1000 >/dev/null 2>&1 & echo $!")
                let pid = started.stdout.trimmed
                #expect(try await daemon.sleep(warm).status == 200)

                await daemon.kill9()
                try await daemon.restart()
                #expect(try await daemon.status(warm) == "warm")
                #expect(try await daemon.status(running) == "running")
                let alive = try await daemon.exec(running, ["kill", "-0", pid])
                #expect(alive.succeeded, "the background process survived the daemon: \(alive)")
                let read = try await daemon.exec(warm, ["cat", "/root/file"])
                #expect(read.stdout == "w\n", "\(read)")
            }
        }

        @Test("after a simulated host reboot every sprite comes back cold with its disk, and nothing is left over")
        func hostReboot() async throws {
            let daemon = try DaemonFixture.shared()
            let (a, b) = (TestEnvironment.spriteName(), TestEnvironment.spriteName())
            try await daemon.cleaningUp(sprites: [a, b]) {
                try await daemon.createSprite(a, config: ["idle_timeout": 0])
                try await daemon.createSprite(b, config: ["idle_timeout": 0])
                #expect(try await daemon.sh(a, "echo a > /root/file && sync").succeeded)
                #expect(try await daemon.sh(b, "echo b > /root/file && sync").succeeded)
                _ = try await daemon.checkpoint(a)
                #expect(try await daemon.sleep(b).status == 200)

                // The reboot: the daemon dies, every sprite process dies, the pool is unmounted.
                await daemon.kill9()
                let killed = try await HostProcess.run("sh", ["-c", """
                    for k in $(find /sys/fs/cgroup -path '*/\(daemon.instance)/*' -name cgroup.kill); do echo 1 > "$k"; done
                    for p in $(find /sys/fs/cgroup -path '*/\(daemon.instance)/*' -name cgroup.procs); do
                      for pid in $(cat "$p"); do kill -9 "$pid"; done
                    done
                    for f in $(find /sys/fs/cgroup -path '*/\(daemon.instance)/*' -name freezer.state); do echo THAWED > "$f"; done
                    for f in $(find /sys/fs/cgroup -path '*/\(daemon.instance)/*' -name cgroup.freeze); do echo 0 > "$f"; done
                    sleep 0.5
                    umount \(daemon.stateDirectory)/pool
                    """])
                #expect(killed.succeeded, "\(killed)")
                #expect(HostLeftovers.mounts(under: daemon.stateDirectory).isEmpty)

                try await daemon.restart()
                #expect(try await daemon.status(a) == "cold")
                #expect(try await daemon.status(b) == "cold")
                let parents = HostLeftovers.cgroupDirectories(instance: daemon.instance)
                let children = parents.flatMap { parent in
                    ((try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []).filter { HostLeftovers.isDirectory(parent + "/" + $0) }
                }
                #expect(children.isEmpty, "cgroups of dead sprites were left: \(children)")
                #expect(try await daemon.exec(a, ["cat", "/root/file"]).stdout == "a\n")
                #expect(try await daemon.exec(b, ["cat", "/root/file"]).stdout == "b\n")
                #expect(ids(try await daemon.checkpoints(a)).first == "v1")
            }
        }
    }
}
