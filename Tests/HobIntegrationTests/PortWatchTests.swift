// Port events (AsyncAPI `ports/watch`, and `port_opened` / `port_closed` on exec) as a client
// sees them: a process in the sprite starts listening, then stops.
import Foundation
import Testing

extension HobIntegration {
    @Suite("Port watch", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct PortWatchTests {
        /// Listens on `port` for `seconds`, closes the socket, then lingers `after` seconds.
        static func listener(_ port: Int, seconds: Double, after: Double = 0) -> [String] {
            let script = "import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
                + "s.bind(('0.0.0.0',\(port))); s.listen(); time.sleep(\(seconds)); s.close(); time.sleep(\(after))"
            return ["python3", "-c", script]
        }

        @Test("ports/watch lists open ports first, then reports a port opening and closing")
        func watchSeesOpenAndClose() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let socket = try await daemon.openSocket("/v1/sprites/\(name)/ports/watch")
                defer { socket.close() }
                let list = try await offPool { try socket.nextJSON(["port_list"]) }
                #expect(list?["ports"] as? [Any] != nil, "\(String(describing: list))")
                async let run = daemon.exec(name, Self.listener(8765, seconds: 3))
                let opened = try await offPool { try socket.nextJSON(["port_opened", "port_closed"]) }
                #expect(opened?["type"] as? String == "port_opened", "\(String(describing: opened))")
                #expect(opened?["port"] as? Int == 8765, "\(String(describing: opened))")
                #expect(opened?["address"] as? String == "0.0.0.0", "\(String(describing: opened))")
                #expect((opened?["pid"] as? Int ?? 0) > 1, "\(String(describing: opened))")
                let closed = try await offPool { try socket.nextJSON(["port_opened", "port_closed"]) }
                #expect(closed?["type"] as? String == "port_closed", "\(String(describing: closed))")
                #expect(closed?["port"] as? Int == 8765, "\(String(describing: closed))")
                let result = try await run
                #expect(result.succeeded, "\(result)")
            }
        }

        @Test("a port already open is in the first port_list")
        func snapshotHasOpenPorts() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                async let run = daemon.exec(name, Self.listener(8766, seconds: 4))
                let listening = try await eventually(timeout: .seconds(10)) {
                    let check = try await daemon.sh(name, "grep -q ':223E ' /proc/net/tcp")
                    return check.succeeded
                }
                #expect(listening)
                let socket = try await daemon.openSocket("/v1/sprites/\(name)/ports/watch")
                defer { socket.close() }
                let list = try await offPool { try socket.nextJSON(["port_list"]) }
                let ports = (list?["ports"] as? [[String: Any]] ?? []).compactMap { $0["port"] as? Int }
                #expect(ports.contains(8766), "\(String(describing: list))")
                _ = try await run
            }
        }

        @Test("an exec session is told when its process opens and closes a port, with that process's pid")
        func execSessionNotified() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let argv = Self.listener(8767, seconds: 2, after: 2)
                let query = argv.map { "cmd=\(RawHTTP.queryEncode($0))" }.joined(separator: "&")
                let socket = try await daemon.openSocket("/v1/sprites/\(name)/exec?\(query)&stdin=false")
                defer { socket.close() }
                let info = try await offPool { try socket.nextJSON(["session_info"]) }
                let session = Int(info?["session_id"] as? String ?? "")
                let opened = try await offPool { try socket.nextJSON(["port_opened", "port_closed", "exit"]) }
                #expect(opened?["type"] as? String == "port_opened", "\(String(describing: opened))")
                #expect(opened?["port"] as? Int == 8767, "\(String(describing: opened))")
                #expect(opened?["pid"] as? Int == session, "session \(String(describing: session)): \(String(describing: opened))")
                let closed = try await offPool { try socket.nextJSON(["port_opened", "port_closed", "exit"]) }
                #expect(closed?["type"] as? String == "port_closed", "\(String(describing: closed))")
                let exit = try await offPool { try socket.nextJSON(["exit"]) }
                #expect(exit?["exit_code"] as? Int == 0, "\(String(describing: exit))")
            }
        }

        @Test("an exec op on /control is told of its process's ports, in the op's framing, before op.complete")
        func controlExecNotified() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let (result, session) = try await daemon.withControl(name) { control in
                    try control.start("exec", args: ["cmd": Self.listener(8769, seconds: 2, after: 2), "stdin": "false"])
                    let result = try control.collect()
                    return (result, result.sessionID.flatMap { Int($0) })
                }
                let ports = result.log.filter { $0.contains("\"port_") }
                #expect(ports.count == 2, "\(result)")
                #expect(ports.first?.contains("\"port_opened\"") == true && ports.first?.contains("\"port\":8769") == true, "\(result)")
                #expect(ports.first?.contains("\"pid\":\(session ?? -1)") == true, "session \(String(describing: session)): \(result)")
                #expect(ports.last?.contains("\"port_closed\"") == true, "\(result)")
                #expect(result.completeExitCode == 0, "\(result)")
            }
        }

        @Test("an exec that starts while an earlier exec's port watch lingers is still told of its own port")
        func sharedWatchAfterEarlierExec() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                // The first exec sets up the sprite's port watch; it outlives the exec.
                #expect(try await daemon.sh(name, "true").succeeded)
                let argv = Self.listener(8770, seconds: 2)
                let query = argv.map { "cmd=\(RawHTTP.queryEncode($0))" }.joined(separator: "&")
                let socket = try await daemon.openSocket("/v1/sprites/\(name)/exec?\(query)&stdin=false")
                defer { socket.close() }
                let info = try await offPool { try socket.nextJSON(["session_info"]) }
                let opened = try await offPool { try socket.nextJSON(["port_opened", "port_closed", "exit"]) }
                #expect(opened?["type"] as? String == "port_opened" && opened?["port"] as? Int == 8770, "\(String(describing: opened))")
                #expect(opened?["pid"] as? Int == Int(info?["session_id"] as? String ?? ""), "\(String(describing: opened))")
            }
        }

        @Test("an exec session is not told about ports of other sessions")
        func otherSessionsPortsAreNotReported() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let socket = try await daemon.openSocket("/v1/sprites/\(name)/exec?cmd=sleep&cmd=4&stdin=false")
                defer { socket.close() }
                _ = try await offPool { try socket.nextJSON(["session_info"]) }
                let other = try await daemon.exec(name, Self.listener(8768, seconds: 1.5))
                #expect(other.succeeded, "\(other)")
                let next = try await offPool { try socket.nextJSON(["port_opened", "port_closed", "exit"]) }
                #expect(next?["type"] as? String == "exit", "\(String(describing: next))")
            }
        }

        @Test("ports/watch on an unknown sprite is a 404 with the Sprites error body")
        func unknownSprite() async throws {
            let daemon = try DaemonFixture.shared()
            do {
                _ = try await daemon.openSocket("/v1/sprites/no-such-sprite/ports/watch")
                Issue.record("the upgrade was accepted")
            } catch let failure as TestFailure {
                #expect(failure.description.contains(" 404 ") && failure.description.contains("not_found"), "\(failure)")
            }
        }
    }
}
