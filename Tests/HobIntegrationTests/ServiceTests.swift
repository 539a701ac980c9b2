// Services (SPRITES-API.md §8, issue 5): definitions kept by the daemon, processes supervised by
// hob-init — restart on crash, sticky stop, needs order, logs, start at cold boot.
import Foundation
import Testing

extension DaemonFixture {
    /// The NDJSON lines of a service stream, decoded.
    func serviceStream(_ method: String, _ path: String, body: String? = nil) async throws -> (status: Int, lines: [[String: Any]], raw: String) {
        let response = try await http(method, path, body: body.map { Data($0.utf8) })
        let lines = response.text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        return (response.status, lines, response.text)
    }

    func service(_ sprite: String, _ name: String) async throws -> [String: Any] {
        let response = try await http("GET", "/v1/sprites/\(sprite)/services/\(name)")
        guard response.status == 200, let json = response.json else { throw TestFailure("GET service \(name): \(response)") }
        return json
    }

    func serviceState(_ sprite: String, _ name: String) async throws -> (status: String, pid: Int?, restarts: Int) {
        let state = try await service(sprite, name)["state"] as? [String: Any] ?? [:]
        return (state["status"] as? String ?? "?", state["pid"] as? Int, state["restart_count"] as? Int ?? -1)
    }
}

extension HobIntegration {
    @Suite("Services", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct ServiceTests {
        @Test("PUT starts a service and streams its output; the log lands in /.sprite/logs/services")
        func createStreamsAndLogs() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let put = try await daemon.serviceStream(
                    "PUT", "/v1/sprites/\(name)/services/greeter?duration=1.5s",
                    body: #"{"cmd":"sh","args":["-c","echo hello $WHO from $(pwd); sleep 600"],"env":{"WHO":"svc"},"dir":"/srv"}"#)
                #expect(put.status == 200, "\(put.raw)")
                let types = put.lines.compactMap { $0["type"] as? String }
                #expect(types.first == "started" && types.last == "complete", "\(put.raw)")
                let output = put.lines.filter { $0["type"] as? String == "stdout" }.compactMap { $0["data"] as? String }.joined()
                #expect(output == "hello svc from /srv\n", "\(put.raw)")
                #expect((put.lines.last?["log_files"] as? [String: String])?.values.contains("/.sprite/logs/services/greeter.log") == true, "\(put.raw)")

                let state = try await daemon.serviceState(name, "greeter")
                #expect(state.status == "running" && state.pid != nil, "\(state)")
                let log = try await daemon.exec(name, ["cat", "/.sprite/logs/services/greeter.log"])
                #expect(log.stdout.contains("hello svc from /srv"), "\(log)")

                let list = try await daemon.http("GET", "/v1/sprites/\(name)/services")
                let names = (try? JSONSerialization.jsonObject(with: list.body) as? [[String: Any]])?.compactMap { $0["name"] as? String }
                #expect(names == ["greeter"], "\(list)")
            }
        }

        @Test("a service killed with SIGKILL comes back; a stopped one stays stopped across a cold boot")
        func restartAndStickyStop() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                #expect(try await daemon.serviceStream("PUT", "/v1/sprites/\(name)/services/keeper", body: #"{"cmd":"sleep","args":["1001"]}"#).status == 200)
                #expect(try await daemon.serviceStream("PUT", "/v1/sprites/\(name)/services/quitter", body: #"{"cmd":"sleep","args":["1002"]}"#).status == 200)
                let first = try await daemon.serviceState(name, "keeper")
                let pid = try #require(first.pid)
                #expect(try await daemon.exec(name, ["kill", "-9", "\(pid)"]).succeeded)
                let back = try await eventually(timeout: .seconds(10)) {
                    let now = try await daemon.serviceState(name, "keeper")
                    return now.status == "running" && now.pid != pid && now.restarts == 1
                }
                let now = try await daemon.serviceState(name, "keeper")
                #expect(back, "keeper did not come back: \(now)")

                let stop = try await daemon.serviceStream("POST", "/v1/sprites/\(name)/services/quitter/stop?timeout=5s")
                let types = stop.lines.compactMap { $0["type"] as? String }
                #expect(types == ["stopping", "exit", "stopped", "complete"], "\(stop.raw)")
                #expect(try await daemon.serviceStream("POST", "/v1/sprites/\(name)/services/quitter/stop").status == 409)

                #expect(try await daemon.sleep(name, state: "cold").status == 200)
                try await daemon.waitForStatus(name, "cold", timeout: .seconds(30))
                // Any request boots it; the wanted service starts with it, the stopped one does not.
                #expect(try await eventually(timeout: .seconds(10)) {
                    (try await daemon.exec(name, ["pgrep", "-f", "^sleep 1001$"])).succeeded
                })
                #expect(!(try await daemon.exec(name, ["pgrep", "-f", "^sleep 1002$"])).succeeded)
                #expect(try await daemon.serviceState(name, "quitter").status == "stopped")

                let start = try await daemon.serviceStream("POST", "/v1/sprites/\(name)/services/quitter/start")
                #expect(start.lines.first?["type"] as? String == "started", "\(start.raw)")
                #expect(try await daemon.serviceState(name, "quitter").status == "running")
            }
        }

        @Test("needs start first and are started with their dependents; cycles and dangling needs are refused")
        func needs() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let base = "/v1/sprites/\(name)/services"
                #expect(try await daemon.serviceStream("PUT", "\(base)/db", body: #"{"cmd":"sleep","args":["1003"]}"#).status == 200)
                #expect(try await daemon.serviceStream("POST", "\(base)/db/stop").status == 200)
                // Defining (or starting) a service starts what it needs.
                #expect(try await daemon.serviceStream("PUT", "\(base)/app", body: #"{"cmd":"sleep","args":["1004"],"needs":["db"]}"#).status == 200)
                #expect(try await daemon.serviceState(name, "db").status == "running")

                let cycle = try await daemon.http("PUT", "\(base)/db", body: Data(#"{"cmd":"sleep","args":["1"],"needs":["app"]}"#.utf8))
                #expect(cycle.status == 400 && cycle.text.contains("cycle"), "\(cycle)")
                let dangling = try await daemon.http("PUT", "\(base)/x", body: Data(#"{"cmd":"true","needs":["ghost"]}"#.utf8))
                #expect(dangling.status == 400, "\(dangling)")
                let needed = try await daemon.http("DELETE", "\(base)/db")
                #expect(needed.status == 409 && needed.errorCode != nil, "\(needed)")

                // At a cold boot the needed service comes up before its dependent. (Listing services
                // does not boot a cold sprite; the exec does.)
                #expect(try await daemon.sleep(name, state: "cold").status == 200)
                try await daemon.waitForStatus(name, "cold", timeout: .seconds(30))
                #expect(try await daemon.serviceState(name, "db").status == "stopped")
                #expect(try await daemon.exec(name, ["true"]).succeeded)
                #expect(try await eventually(timeout: .seconds(10)) {
                    let db = try await daemon.serviceState(name, "db")
                    let app = try await daemon.serviceState(name, "app")
                    return db.status == "running" && app.status == "running" && (db.pid ?? 0) < (app.pid ?? 0)
                })
                #expect(try await daemon.http("DELETE", "\(base)/app").status == 204)
                #expect(try await daemon.http("DELETE", "\(base)/db").status == 204)
                #expect(try await eventually { !(try await daemon.exec(name, ["pgrep", "-f", "^sleep 100[34]$"])).succeeded })
            }
        }

        @Test("bad definitions, unknown services and bad signals are 4xx with the Sprites error body")
        func badInput() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let base = "/v1/sprites/\(name)/services"
                for (path, body, status) in [
                    ("\(base)/web", #"{"args":["x"]}"#, 400),
                    ("\(base)/web", "not json", 400),
                    ("\(base)/.hidden", #"{"cmd":"true"}"#, 400),
                    ("\(base)/web", #"{"cmd":"true","dir":"relative"}"#, 400),
                    ("\(base)/web", #"{"cmd":"true","http_port":70000}"#, 400),
                    ("\(base)/web?duration=forever", #"{"cmd":"true"}"#, 400),
                    ("/v1/sprites/no-such-sprite/services/web", #"{"cmd":"true"}"#, 404),
                ] {
                    let response = try await daemon.http("PUT", path, body: Data(body.utf8))
                    #expect(response.status == status && response.errorCode != nil, "PUT \(path) \(body): \(response)")
                }
                #expect(try await daemon.serviceStream("PUT", "\(base)/one", body: #"{"cmd":"sleep","args":["1005"],"http_port":8080}"#).status == 200)
                let second = try await daemon.http("PUT", "\(base)/two", body: Data(#"{"cmd":"true","http_port":8081}"#.utf8))
                #expect(second.status == 409 && second.text.contains("HTTP port"), "\(second)")
                #expect(try await daemon.http("GET", "\(base)/ghost").status == 404)
                #expect(try await daemon.http("POST", "\(base)/ghost/start").status == 404)
                #expect(try await daemon.http("DELETE", "\(base)/ghost").status == 404)
                let badSignal = try await daemon.http("POST", "\(base)/signal", body: Data(#"{"name":"one","signal":"NOPE"}"#.utf8))
                #expect(badSignal.status == 400, "\(badSignal)")
                let ghostSignal = try await daemon.http("POST", "\(base)/signal", body: Data(#"{"name":"ghost","signal":"HUP"}"#.utf8))
                #expect(ghostSignal.status == 404, "\(ghostSignal)")
                #expect(try await daemon.http("POST", "\(base)/signal", body: Data(#"{"name":"one","signal":"SIGUSR1"}"#.utf8)).status == 204)
            }
        }

        @Test("sprite-env services works from inside the sprite, on the sprite's own services")
        func spriteEnv() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let create = try await daemon.sh(name, #"sprite-env services create inner --cmd sh --args "-c,echo inside; sleep 1006" --duration 1s"#)
                #expect(create.succeeded && create.stdout.contains("inside"), "\(create)")
                let list = try await daemon.sh(name, "sprite-env services list")
                #expect(list.stdout.contains("inner") && list.stdout.contains("running"), "\(list)")
                #expect(try await daemon.serviceState(name, "inner").status == "running")
                let stop = try await daemon.sh(name, "sprite-env services stop inner")
                #expect(stop.succeeded, "\(stop)")
                #expect(try await daemon.serviceState(name, "inner").status == "stopped")
                let missing = try await daemon.sh(name, "sprite-env services start ghost")
                #expect(missing.exitCode == 1 && missing.stderr.contains("ghost"), "\(missing)")
            }
        }

        @Test("services keep running through a kill -9 of the daemon, and are still supervised after it")
        func survivesDaemonCrash() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                #expect(try await daemon.serviceStream("PUT", "/v1/sprites/\(name)/services/steady", body: #"{"cmd":"sleep","args":["1007"]}"#).status == 200)
                let before = try await daemon.serviceState(name, "steady")
                await daemon.kill9()
                try await daemon.restart()
                let after = try await daemon.serviceState(name, "steady")
                #expect(after.status == "running" && after.pid == before.pid, "\(before) → \(after)")
                #expect(try await daemon.exec(name, ["kill", "-9", "\(after.pid ?? 0)"]).succeeded)
                #expect(try await eventually { try await daemon.serviceState(name, "steady").restarts == 1 })
            }
        }
    }
}
