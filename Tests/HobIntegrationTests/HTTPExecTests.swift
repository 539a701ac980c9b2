// HTTP exec (`POST /v1/sprites/{name}/exec`) as the Claude Managed Agents guide uses it: the body
// is the exec WebSocket's non-TTY frames end to end, and its last two bytes are 0x03 and the code.
import Foundation
import Testing

extension HobIntegration {
    @Suite("HTTP exec", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct HTTPExecTests {
        static func path(_ sprite: String, _ argv: [String], _ extra: [String] = []) -> String {
            "/v1/sprites/\(sprite)/exec?" + (argv.map { "cmd=\(RawHTTP.queryEncode($0))" } + extra).joined(separator: "&")
        }

        @Test("output arrives as stream-tagged frames and the body ends with 0x03 and the exit code")
        func framesAndExitCode() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let response = try await daemon.http("POST", Self.path(name, ["sh", "-c", "echo out; sleep 0.3; echo err >&2; exit 3"]))
                #expect(response.status == 200, "\(response)")
                let expected: [UInt8] = [1] + Array("out\n".utf8) + [2] + Array("err\n".utf8) + [3, 3]
                #expect(Array(response.body) == expected, "\(Array(response.body))")
            }
        }

        @Test("with stdin=true the request body is the command's stdin")
        func bodyIsStdin() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let input = Data((0..<200_000).map { UInt8(truncatingIfNeeded: $0 % 251) })
                let response = try await daemon.http("POST", Self.path(name, ["wc", "-c"], ["stdin=true"]), body: input)
                #expect(response.status == 200, "\(response)")
                #expect(Array(response.body) == [1] + Array("200000\n".utf8) + [3, 0], "\(Array(response.body))")
            }
        }

        @Test("stdin is streamed, not collected: a body larger than any buffer reaches the command whole")
        func largeStdinStreams() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let size = 96 << 20
                let (port, token) = (daemon.port, daemon.token)
                let response = try await offPool {
                    let connection = try RawConnection(port: port)
                    defer { connection.close() }
                    try connection.send(RawEdge.post(Self.path(name, ["wc", "-c"], ["stdin=true"]), token: token, contentLength: size))
                    let piece = [UInt8](repeating: 0x61, count: 1 << 20)
                    for _ in 0..<(size >> 20) { try connection.send(piece) }
                    return try connection.readResponse(to: "POST", deadline: .now + .seconds(120))
                }
                #expect(response?.status == 200, "\(String(describing: response))")
                #expect(response?.body == [1] + Array("\(size)\n".utf8) + [3, 0], "\(String(describing: response))")
            }
        }

        @Test("a command that exits before its stdin body ends: the answer ends with its exit status and the connection closes")
        func exitBeforeBodyEnds() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let (port, token) = (daemon.port, daemon.token)
                let (response, closed) = try await offPool {
                    let connection = try RawConnection(port: port)
                    defer { connection.close() }
                    // 64 MiB announced, 1 MiB sent: the client would go on sending.
                    try connection.send(RawEdge.post(Self.path(name, ["head", "-c", "5"], ["stdin=true"]), token: token, contentLength: 64 << 20))
                    try connection.send([UInt8](repeating: 0x62, count: 1 << 20))
                    let response = try connection.readResponse(to: "POST", deadline: .now + .seconds(60))
                    return (response, connection.closesBefore(.now + .seconds(10)))
                }
                #expect(response?.status == 200, "\(String(describing: response))")
                #expect(response?.body == [1] + Array("bbbbb".utf8) + [3, 0], "\(String(describing: response))")
                #expect(closed, "the connection stayed open for the rest of a body nobody reads")
            }
        }

        @Test("without stdin=true the command reads end of file at once")
        func noStdinByDefault() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let response = try await daemon.http("POST", Self.path(name, ["cat"]), body: Data("ignored".utf8))
                #expect(response.status == 200, "\(response)")
                #expect(Array(response.body) == [3, 0], "\(Array(response.body))")
            }
        }

        @Test("large output arrives whole, every chunk tagged stdout")
        func largeOutput() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let response = try await daemon.http("POST", Self.path(name, ["head", "-c", "3000000", "/dev/zero"]))
                #expect(response.status == 200, "\(response.status)")
                let body = Array(response.body)
                #expect(body.suffix(2) == [3, 0])
                let frames = body.dropLast(2)
                // Output bytes are all zero, so every non-zero byte is a stream tag.
                #expect(frames.filter { $0 == 0 }.count == 3_000_000)
                #expect(frames.allSatisfy { $0 == 0 || $0 == 1 }, "a byte other than stdout's tag")
            }
        }

        @Test(
            "a command whose client went away is killed after its max_run_after_disconnect, as on the WebSocket",
            arguments: [["sh", "-c", "while :; do echo tick; sleep 0.5; done"], ["sleep", "600"]])
        func detachedCommandIsKilledAfterItsAllowance(argv: [String]) async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                // A silent command too: the daemon reads past the request while it answers, so it learns the
                // client left without waiting for a write to fail.
                let before = try await ExecSocket.sessionIDs(daemon, name)
                let (port, token) = (daemon.port, daemon.token)
                let status = try await offPool {
                    let exec = try RawConnection(port: port)
                    defer { exec.close() }
                    try exec.send(RawEdge.post(Self.path(name, argv, ["max_run_after_disconnect=1s"]), token: token, contentLength: 0))
                    return try exec.readHead(deadline: ContinuousClock.now + .seconds(60)).flatMap { RawHTTP.status(of: $0) }
                }
                #expect(status == 200)
                let started = try await ExecSocket.sessionIDs(daemon, name).filter { !before.contains($0) }
                #expect(started.count == 1, "sessions \(started)")
                #expect(try await eventually(timeout: .seconds(15)) { try await ExecSocket.sessionIDs(daemon, name).allSatisfy(before.contains) })
            }
        }

        @Test("bad requests are 4xx with the Sprites error body")
        func badRequests() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let noCommand = try await daemon.http("POST", "/v1/sprites/\(name)/exec")
                #expect(noCommand.status == 400 && noCommand.errorCode == "invalid_argument", "\(noCommand)")
                let relativeDir = try await daemon.http("POST", Self.path(name, ["pwd"], ["dir=tmp"]))
                #expect(relativeDir.status == 400, "\(relativeDir)")
            }
            let unknown = try await daemon.http("POST", Self.path("no-such-sprite", ["true"]))
            #expect(unknown.status == 404 && unknown.errorCode == "not_found", "\(unknown)")
        }

        @Test("a program that does not exist ends with its message on stderr and exit code 127, as over the WebSocket")
        func missingProgram() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let missing = try await daemon.http("POST", Self.path(name, ["/no/such/program"]))
                #expect(missing.status == 200, "\(missing)")
                #expect(missing.body.first == 2 && Array(missing.body.suffix(2)) == [3, 127], "\(Array(missing.body))")
            }
        }
    }
}
