// Service logs and restart (issue 12, the official OpenAPI's `GET …/services/{svc}/logs` and
// `POST …/services/{svc}/restart`), on the public API, the in-sprite API and the CLI.
import Foundation
import Testing

extension HobIntegration {
    @Suite("Service logs and restart", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct ServiceLogsRestartTests {
        /// A service that prints `line 1` … `line 5` and then sleeps.
        static let counter = #"{"cmd":"sh","args":["-c","for i in 1 2 3 4 5; do echo line $i; done; sleep 600"]}"#

        func defineCounter(_ daemon: DaemonFixture, _ sprite: String) async throws {
            let put = try await daemon.serviceStream("PUT", "/v1/sprites/\(sprite)/services/counter?duration=1s", body: Self.counter)
            #expect(put.status == 200, "\(put.raw)")
        }

        @Test("logs?lines=2 streams the log's last two lines as stdout lines, then complete with the log file")
        func lastLines() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                try await defineCounter(daemon, name)
                let logs = try await daemon.serviceStream("GET", "/v1/sprites/\(name)/services/counter/logs?lines=2")
                #expect(logs.status == 200, "\(logs.raw)")
                let types = logs.lines.compactMap { $0["type"] as? String }
                #expect(types == ["stdout", "stdout", "complete"], "\(logs.raw)")
                #expect(logs.lines.prefix(2).compactMap { $0["data"] as? String } == ["line 4\n", "line 5\n"], "\(logs.raw)")
                #expect((logs.lines.last?["log_files"] as? [String: String])?.values.contains("/.sprite/logs/services/counter.log") == true)
                #expect(logs.lines.allSatisfy { ($0["timestamp"] as? Int ?? 0) > 1_700_000_000_000 }, "\(logs.raw)")

                let all = try await daemon.serviceStream("GET", "/v1/sprites/\(name)/services/counter/logs")
                let text = all.lines.filter { $0["type"] as? String == "stdout" }.compactMap { $0["data"] as? String }.joined()
                #expect(text.contains("line 1\nline 2\nline 3\nline 4\nline 5\n"), "\(all.raw)")
            }
        }

        @Test("logs with a duration follows what the service writes after the saved lines")
        func follows() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let put = try await daemon.serviceStream(
                    "PUT", "/v1/sprites/\(name)/services/ticker", body: #"{"cmd":"sh","args":["-c","i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.3; done"]}"#)
                #expect(put.status == 200, "\(put.raw)")
                let logs = try await daemon.serviceStream("GET", "/v1/sprites/\(name)/services/ticker/logs?lines=0&duration=2s")
                #expect(logs.status == 200, "\(logs.raw)")
                let ticks = logs.lines.filter { $0["type"] as? String == "stdout" }.compactMap { $0["data"] as? String }
                #expect(ticks.count >= 3, "followed only \(ticks): \(logs.raw)")
                #expect(logs.lines.last?["type"] as? String == "complete", "\(logs.raw)")
            }
        }

        @Test("logs of a cold sprite are read from its disk without booting it")
        func coldSpriteStaysCold() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                try await defineCounter(daemon, name)
                #expect(try await daemon.sleep(name, state: "cold").status == 200)
                try await daemon.waitForStatus(name, "cold", timeout: .seconds(30))
                // The stop at sleep added Hob's note after the service's own last line.
                let logs = try await daemon.serviceStream("GET", "/v1/sprites/\(name)/services/counter/logs?lines=2&duration=1s")
                let saved = logs.lines.filter { $0["type"] as? String == "stdout" }.compactMap { $0["data"] as? String }
                #expect(saved.count == 2 && saved.first == "line 5\n" && saved.last?.hasPrefix("--- hob: stopped") == true, "\(logs.raw)")
                #expect(try await daemon.status(name) == "cold")
            }
        }

        @Test("logs: an unknown service is 404, a bad lines or duration 400, with the Sprites error body")
        func badInput() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let missing = try await daemon.http("GET", "/v1/sprites/\(name)/services/nope/logs")
                #expect(missing.status == 404 && missing.errorCode != nil, "\(missing)")
                try await defineCounter(daemon, name)
                for query in ["lines=-1", "lines=ten", "duration=forever", "duration=2h"] {
                    let bad = try await daemon.http("GET", "/v1/sprites/\(name)/services/counter/logs?\(query)")
                    #expect(bad.status == 400 && bad.errorCode == "invalid_argument", "\(query): \(bad)")
                }
                #expect(try await daemon.http("GET", "/v1/sprites/no-such-sprite/services/counter/logs").status == 404)
            }
        }

        @Test("restart stops the running service and starts it again, in one stream; its pid changes")
        func restartsRunning() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                try await defineCounter(daemon, name)
                let before = try #require(try await daemon.serviceState(name, "counter").pid)
                let restart = try await daemon.serviceStream("POST", "/v1/sprites/\(name)/services/counter/restart?timeout=5s")
                #expect(restart.status == 200, "\(restart.raw)")
                let types = restart.lines.compactMap { $0["type"] as? String }
                #expect(types.first == "stopping" && types.contains("stopped") && types.contains("started") && types.last == "complete", "\(restart.raw)")
                #expect(types.firstIndex(of: "stopped") ?? 99 < types.firstIndex(of: "started") ?? 0, "\(restart.raw)")
                let after = try await daemon.serviceState(name, "counter")
                #expect(after.status == "running" && after.pid != nil && after.pid != before, "\(after) vs pid \(before)")
            }
        }

        @Test("restart of a stopped service starts it; of an unknown one is 404")
        func restartsStopped() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                try await defineCounter(daemon, name)
                #expect(try await daemon.serviceStream("POST", "/v1/sprites/\(name)/services/counter/stop").status == 200)
                #expect(try await daemon.serviceState(name, "counter").status == "stopped")
                let restart = try await daemon.serviceStream("POST", "/v1/sprites/\(name)/services/counter/restart")
                let types = restart.lines.compactMap { $0["type"] as? String }
                #expect(types.first == "started" && types.last == "complete", "\(restart.raw)")
                #expect(try await daemon.serviceState(name, "counter").status == "running")
                #expect(try await daemon.http("POST", "/v1/sprites/\(name)/services/nope/restart").status == 404)
            }
        }

        @Test("the in-sprite API serves logs and restart for the caller's own services")
        func inSprite() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                try await defineCounter(daemon, name)
                let logs = try await daemon.spriteAPI(in: name, "GET", "/v1/services/counter/logs?lines=1")
                #expect(logs.status == 200 && logs.text.contains(#""data":"line 5\n""#) && logs.text.contains(#""type":"complete""#), "\(logs)")
                let before = try #require(try await daemon.serviceState(name, "counter").pid)
                let restart = try await daemon.spriteAPI(in: name, "POST", "/v1/services/counter/restart")
                #expect(restart.status == 200 && restart.text.contains(#""type":"started""#), "\(restart)")
                #expect(try await daemon.serviceState(name, "counter").pid != before)
            }
        }

        @Test("hob services logs prints the log's lines on stdout; -n limits them")
        func cli() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                try await defineCounter(daemon, name)
                let all = try await daemon.cli("services", "logs", name, "counter")
                #expect(all.status == 0 && all.stdout.contains("line 1\nline 2\nline 3\nline 4\nline 5\n"), "\(all)")
                let two = try await daemon.cli("services", "logs", name, "counter", "-n", "2")
                #expect(two.status == 0 && two.stdout == "line 4\nline 5\n", "\(two)")
                let missing = try await daemon.cli("services", "logs", name, "nope")
                #expect(missing.status != 0, "\(missing)")
            }
        }
    }
}
