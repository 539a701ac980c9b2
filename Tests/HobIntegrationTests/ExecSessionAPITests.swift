// Issue 12, the exec session API as the Sprites OpenAPI/AsyncAPI describe it: NUL bytes refused, the full
// `session_info`, the kill-session NDJSON stream, `max_run_after_disconnect`, and `hob exec --file`.
import Foundation
import Testing

extension HobIntegration {
    @Suite("Exec session API", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct ExecSessionAPITests {
        // MARK: NUL bytes

        @Test(
            "a NUL byte in any exec parameter is a 400 with the Sprites error body",
            arguments: ["cmd=ec%00ho&cmd=hi", "cmd=ls&dir=/tm%00p", "cmd=env&env=A%3D1%002", "path=/bin/l%00s&cmd=ls", "cmd=ls&max_run_after_disconnect=1%00s"])
        func nulBytesRefused(query: String) async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let (status, body) = try await ExecSocket.refusal(daemon, path: "/v1/sprites/\(name)/exec?\(query)")
                #expect(status == 400, "\(body)")
                let json = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
                #expect(json?["error"] as? String == "invalid_argument", "\(body)")
                #expect((json?["message"] as? String)?.contains("NUL") == true, "\(body)")
            }
        }

        @Test("a malformed max_run_after_disconnect is a 400")
        func badAllowanceRefused() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let (status, body) = try await ExecSocket.refusal(daemon, path: "/v1/sprites/\(name)/exec?cmd=ls&max_run_after_disconnect=soon")
                #expect(status == 400, "\(body)")
            }
        }

        // MARK: session_info

        @Test("exec's session_info carries command, created, size and ownership")
        func sessionInfoOnExec() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let before = Int(Date().timeIntervalSince1970)
                let info = try await ExecSocket.open(daemon, path: "/v1/sprites/\(name)/exec?cmd=sleep&cmd=30&tty=true&rows=40&cols=120").info
                #expect(info["type"] as? String == "session_info")
                #expect(info["command"] as? String == "sleep 30")
                #expect(info["tty"] as? Bool == true)
                #expect(info["rows"] as? Int == 40)
                #expect(info["cols"] as? Int == 120)
                #expect(info["is_owner"] as? Bool == true)
                let created = try #require(info["created"] as? Int)
                #expect((before - 5...before + 60).contains(created))

                let plain = try await ExecSocket.open(daemon, path: "/v1/sprites/\(name)/exec?cmd=true").info
                #expect(plain["tty"] as? Bool == false)
                #expect(plain["rows"] as? Int == 0 && plain["cols"] as? Int == 0)
            }
        }

        @Test("an attach's session_info has the session's command, start and last size, and is_owner false")
        func sessionInfoOnAttach() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let owner = try await ExecSocket.open(daemon, path: "/v1/sprites/\(name)/exec?cmd=sleep&cmd=60&tty=true&rows=33&cols=99").info
                let id = try #require(owner["session_id"] as? String)
                let attached = try await ExecSocket.open(daemon, path: "/v1/sprites/\(name)/exec/\(id)").info
                #expect(attached["session_id"] as? String == id)
                #expect(attached["is_owner"] as? Bool == false)
                #expect(attached["command"] as? String == "sleep 60")
                #expect(attached["created"] as? Int == owner["created"] as? Int)
                #expect(attached["rows"] as? Int == 33 && attached["cols"] as? Int == 99)
                #expect(attached["tty"] as? Bool == true)
            }
        }

        // MARK: kill stream

        @Test("kill streams signal, exited and complete with the exit status")
        func killStreamsTheExit() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let id = try await ExecSocket.open(daemon, path: "/v1/sprites/\(name)/exec?cmd=sleep&cmd=60&max_run_after_disconnect=0").sessionID
                let response = try await daemon.http("POST", "/v1/sprites/\(name)/exec/\(id)/kill")
                #expect(response.status == 200, "\(response)")
                #expect(response.header("content-type")?.contains("application/x-ndjson") == true)
                let lines = ExecSocket.ndjson(response.body)
                #expect(lines.map { $0["type"] as? String } == ["signal", "exited", "complete"], "\(response)")
                #expect(lines.first?["signal"] as? String == "SIGTERM")
                #expect(lines.first?["pid"] as? Int == Int(id))
                #expect(lines.last?["exit_code"] as? Int == 143, "\(response)")
            }
        }

        @Test("a process that ignores the signal is killed after the timeout: timeout, killed, complete 137")
        func killEscalates() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let script = RawHTTP.queryEncode("trap '' TERM; echo ready; while :; do sleep 0.2; done")
                let id = try await ExecSocket.open(
                    daemon, path: "/v1/sprites/\(name)/exec?cmd=sh&cmd=-c&cmd=\(script)&max_run_after_disconnect=0", waitFor: "ready"
                ).sessionID
                let body = Data(#"{"signal":"SIGTERM","timeout":1}"#.utf8)
                let response = try await daemon.http("POST", "/v1/sprites/\(name)/exec/\(id)/kill", body: body)
                let lines = ExecSocket.ndjson(response.body)
                #expect(lines.map { $0["type"] as? String } == ["signal", "timeout", "killed", "complete"], "\(response)")
                #expect(lines.last?["exit_code"] as? Int == 137, "\(response)")
            }
        }

        @Test("timeout=0s only delivers the signal (Go's fallback); an exited session is 410, an unknown one 404")
        func killWithoutWaiting() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let id = try await ExecSocket.open(daemon, path: "/v1/sprites/\(name)/exec?cmd=sleep&cmd=60&max_run_after_disconnect=0").sessionID
                let signalled = try await daemon.http("POST", "/v1/sprites/\(name)/exec/\(id)/kill?signal=INT&timeout=0s")
                #expect(signalled.status == 200, "\(signalled)")
                #expect(ExecSocket.ndjson(signalled.body).map { $0["type"] as? String } == ["signal"], "\(signalled)")
                #expect(ExecSocket.ndjson(signalled.body).first?["signal"] as? String == "SIGINT")
                #expect(try await eventually { try await daemon.http("POST", "/v1/sprites/\(name)/exec/\(id)/kill?timeout=0s").status == 410 })
                #expect(try await daemon.http("POST", "/v1/sprites/\(name)/exec/999999/kill").status == 404)
            }
        }

        // MARK: max_run_after_disconnect

        @Test("max_run_after_disconnect=1s: a command is killed a second after its client leaves")
        func allowanceKills() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let id = try await ExecSocket.open(daemon, path: "/v1/sprites/\(name)/exec?cmd=sleep&cmd=300&max_run_after_disconnect=1s").sessionID
                #expect(try await eventually(timeout: .seconds(15)) { try await !ExecSocket.sessionIDs(daemon, name).contains(id) })
            }
        }

        @Test("by default a command is killed 10 s after its client leaves and a TTY session keeps running")
        func defaultAllowance() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let command = try await ExecSocket.open(daemon, path: "/v1/sprites/\(name)/exec?cmd=sleep&cmd=300").sessionID
                let terminal = try await ExecSocket.open(daemon, path: "/v1/sprites/\(name)/exec?cmd=sleep&cmd=301&tty=true").sessionID
                try await Task.sleep(for: .seconds(4))
                #expect(try await ExecSocket.sessionIDs(daemon, name).contains(command), "killed before its 10 s were up")
                #expect(try await eventually(timeout: .seconds(30)) { try await !ExecSocket.sessionIDs(daemon, name).contains(command) })
                #expect(try await ExecSocket.sessionIDs(daemon, name).contains(terminal))
            }
        }

        @Test("max_run_after_disconnect=0: a command runs on after its client leaves")
        func zeroMeansForever() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let id = try await ExecSocket.open(daemon, path: "/v1/sprites/\(name)/exec?cmd=sleep&cmd=300&max_run_after_disconnect=0").sessionID
                try await Task.sleep(for: .seconds(13))
                #expect(try await ExecSocket.sessionIDs(daemon, name).contains(id))
            }
        }

        @Test("a client that comes back in time saves the session")
        func reattachCancelsTheAllowance() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let id = try await ExecSocket.open(daemon, path: "/v1/sprites/\(name)/exec?cmd=sleep&cmd=300&max_run_after_disconnect=3s").sessionID
                // Attached across the 3 s the first disconnect allowed.
                _ = try await ExecSocket.open(daemon, path: "/v1/sprites/\(name)/exec/\(id)", holdFor: .seconds(5))
                #expect(try await ExecSocket.sessionIDs(daemon, name).contains(id), "killed although a client was attached")
                // The attach's own leaving starts a new allowance.
                #expect(try await eventually(timeout: .seconds(15)) { try await !ExecSocket.sessionIDs(daemon, name).contains(id) })
            }
        }

        // MARK: hob exec --file

        @Test("hob exec --file copies local files in first, keeping their mode")
        func execFile() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let scratch = try TemporaryDirectory(prefix: "hob-it-file-")
                defer { scratch.remove() }
                let script = scratch.path + "/hello.sh"
                try Data("#!/bin/sh\necho hello from $(cat data.txt)\n".utf8).write(to: URL(fileURLWithPath: script))
                chmod(script, 0o755)
                try Data("the file".utf8).write(to: URL(fileURLWithPath: scratch.path + "/data.txt"))
                let result = try await daemon.cli(
                    "exec", name, "--dir", "/srv/job", "--file", "\(script):/usr/local/bin/hello", "--file", "\(scratch.path)/data.txt:data.txt",
                    "--", "hello")
                #expect(result.succeeded, "\(result)")
                #expect(result.stdout == "hello from the file\n", "\(result)")

                let missing = try await daemon.cli("exec", name, "--file", "\(scratch.path)/absent:/tmp/x", "--", "true")
                #expect(!missing.succeeded && missing.stderr.contains("absent"), "\(missing)")
            }
        }
    }
}

/// Raw exec WebSockets for these tests: open, read the session_info (and output up to a marker), then drop the
/// connection without a close frame, as a client that goes away does.
enum ExecSocket {
    struct Opened: Sendable {
        let infoJSON: Data
        var info: [String: Any] { (try? JSONSerialization.jsonObject(with: infoJSON) as? [String: Any]) ?? [:] }
        var sessionID: String { info["session_id"] as? String ?? "" }
    }

    static func open(
        _ daemon: DaemonFixture, path: String, waitFor marker: String? = nil, holdFor: Duration = .zero
    ) async throws -> Opened {
        let port = daemon.port
        let token = daemon.token
        return try await offPool {
            let deadline = ContinuousClock.now + .seconds(60)
            let connection = try RawConnection(port: port)
            defer { connection.close() }
            try connection.send(RawHTTP.upgradeRequest(path: path, port: port, token: token))
            guard let head = try connection.readHead(deadline: deadline), RawHTTP.status(of: head) == 101 else {
                throw TestFailure("\(path): the upgrade was refused")
            }
            var info: Data?
            var output = ""
            while info == nil || (marker.map { !output.contains($0) } ?? false) {
                guard let frame = try connection.readFrame(deadline: deadline) else { throw TestFailure("\(path): closed early") }
                if frame.opcode == WebSocketFrame.text, info == nil { info = Data(frame.payload) }
                if frame.opcode == WebSocketFrame.binary { output += String(decoding: frame.payload.dropFirst(), as: UTF8.self) }
            }
            if holdFor > .zero {
                let (seconds, attoseconds) = holdFor.components
                Thread.sleep(forTimeInterval: Double(seconds) + Double(attoseconds) / 1e18)
            }
            return Opened(infoJSON: info ?? Data())
        }
    }

    /// The status and body of a refused upgrade.
    static func refusal(_ daemon: DaemonFixture, path: String) async throws -> (Int, String) {
        let port = daemon.port
        let token = daemon.token
        return try await offPool {
            let deadline = ContinuousClock.now + .seconds(60)
            let connection = try RawConnection(port: port)
            defer { connection.close() }
            try connection.send(RawHTTP.upgradeRequest(path: path, port: port, token: token))
            guard let head = try connection.readHead(deadline: deadline) else { throw TestFailure("\(path): no answer") }
            let body = try connection.readToEnd(deadline: deadline)
            return (RawHTTP.status(of: head) ?? 0, String(decoding: body, as: UTF8.self))
        }
    }

    static func sessionIDs(_ daemon: DaemonFixture, _ sprite: String) async throws -> [String] {
        let response = try await daemon.http("GET", "/v1/sprites/\(sprite)/exec")
        let sessions = response.json?["sessions"] as? [[String: Any]] ?? []
        return sessions.compactMap { $0["id"] as? String }
    }

    static func ndjson(_ body: Data) -> [[String: Any]] {
        String(decoding: body, as: UTF8.self).split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }
}
