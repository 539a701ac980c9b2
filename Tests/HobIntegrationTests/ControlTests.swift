// The control connection (docs/API.md "The control connection", issue 12): one WebSocket that
// carries exec, proxy and file ops one after another, spoken as the SDKs speak it.
import Foundation
import Testing

extension HobIntegration {
    @Suite("Control connection", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct ControlTests {
        @Test("an exec op sends the exec frames, then op.complete with the exit status")
        func execCompletes() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let result = try await daemon.withControl(name) { try $0.exec(["sh", "-c", "echo out; echo err >&2; exit 7"]) }
                #expect(result.output == "out\n" && result.errors == "err\n", "\(result)")
                #expect(result.exitFrame == 7 && result.exitMessage == 7, "\(result)")
                #expect(result.completeExitCode == 7 && result.endPrefixed, "\(result)")
                #expect(result.closeCode == nil, "the connection must stay open after an op\n\(result)")
            }
        }

        @Test("one connection runs ops one after another: exec, exec with stdin, file write and read, exec")
        func sequentialOps() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let input = Data((0..<70_000).map { UInt8(truncatingIfNeeded: $0 * 7) })
                let content = Array("written over /control\n".utf8)
                let (first, piped, written, read, listed, last) = try await daemon.withControl(name) { control in
                    let first = try control.exec(["echo", "one"])
                    let piped = try control.exec(["sha256sum"], stdin: input)
                    try control.start("fs.write", args: "path=/home/sprite/notes/a.txt&workingDir=%2Fhome%2Fsprite&mode=0600", prefixed: false)
                    try control.sendBinary(content)
                    let written = [try control.next(), try control.next()]
                    try control.start("fs.read", args: "path=notes/a.txt&workingDir=%2Fhome%2Fsprite", prefixed: false)
                    let read = [try control.next(), try control.next(), try control.next()]
                    try control.start("fs.list", args: "path=notes&workingDir=%2Fhome%2Fsprite", prefixed: false)
                    let listed = [try control.next(), try control.next()]
                    let last = try control.exec(["stat", "-c", "%a %s", "/home/sprite/notes/a.txt"])
                    return (first, piped, written, read, listed, last)
                }
                #expect(first.output == "one\n" && first.completeExitCode == 0, "\(first)")
                let expected = try await HostProcess.run("sh", ["-c", "sha256sum"], stdin: input).stdout
                #expect(piped.output == expected && piped.completeExitCode == 0, "\(piped)")
                #expect(written[0].envelope?["size"] as? Int == content.count && written[0].envelope?["mode"] as? String == "0600", "\(written)")
                #expect(written[1].envelope?["type"] as? String == "op.complete" && !written[1].isPrefixed, "\(written)")
                #expect(read[0].envelope?["size"] as? Int == content.count, "\(read)")
                #expect(read[1] == .binary(content), "\(read)")
                #expect(read[2].envelope?["type"] as? String == "op.complete", "\(read)")
                let entries = listed[0].envelope?["entries"] as? [[String: Any]]
                #expect(entries?.map { $0["name"] as? String } == ["a.txt"] && listed[0].envelope?["count"] as? Int == 1, "\(listed)")
                #expect(last.output == "600 \(content.count)\n" && last.completeExitCode == 0, "\(last)")
            }
        }

        @Test("sprites-go's exec framing: raw stdin, a lone 0x04 as its end")
        func goStdin() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let result = try await daemon.withControl(name) { control in
                    try control.exec(["cat"], stdin: Data([0, 1, 2] + Array("raw bytes".utf8)), rawStdin: true, extra: ["path": "cat"])
                }
                #expect(result.stdout == Data([0, 1, 2] + Array("raw bytes".utf8)), "\(result)")
                #expect(result.completeExitCode == 0, "\(result)")
            }
        }

        @Test("sprites-js's signal, sent as a binary JSON frame, reaches the command")
        func jsSignal() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let result = try await daemon.withControl(name) { control in
                    try control.start("exec", args: ["cmd": ["sh", "-c", "trap 'echo got-term; exit 5' TERM; echo ready; while :; do sleep 0.1; done"], "stdin": "true"])
                    var first = try control.next()
                    while case .text = first { first = try control.next() }  // session_info
                    guard first == .binary([1] + Array("ready\n".utf8)) else { throw TestFailure("no ready line: \(first)") }
                    try control.sendBinary(Array(#"{"type":"signal","signal":"TERM"}"#.utf8))
                    return try control.collect()
                }
                #expect(result.output == "got-term\n" && result.completeExitCode == 5, "\(result)")
            }
        }

        @Test("a terminal exec ends with the exit message and op.complete")
        func ttyExec() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let result = try await daemon.withControl(name) { control in
                    try control.exec(["sh", "-c", "stty size; exit 3"], extra: ["tty": "true", "rows": "33", "cols": "101"])
                }
                #expect(String(decoding: result.binary, as: UTF8.self).contains("33 101"), "\(result)")
                #expect(result.exitMessage == 3 && result.completeExitCode == 3, "\(result)")
                #expect(result.exitFrame == nil, "a terminal session has no stream-id frames\n\(result)")
            }
        }

        @Test("starting an op while one runs detaches the running one; nothing more is sent for it")
        func supersede() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let (abandoned, next, quiet) = try await daemon.withControl(name) { control in
                    try control.start("exec", args: ["cmd": ["sh", "-c", "echo started; sleep 30; echo never"], "stdin": "false"])
                    let abandoned = try control.collect(within: .seconds(3))
                    let next = try control.exec(["echo", "next"])
                    return (abandoned, next, try control.isQuiet(for: .seconds(2)))
                }
                #expect(abandoned.output == "started\n" && abandoned.timedOut, "\(abandoned)")
                #expect(next.output == "next\n" && next.completeExitCode == 0, "\(next)")
                #expect(quiet)
                // Detached, not killed: like a closed exec WebSocket, the command runs on.
                let sessions = try await daemon.http("GET", "/v1/sprites/\(name)/exec")
                #expect(sessions.text.contains("sleep 30"), "\(sessions)")
            }
        }

        @Test("sprites-go attaches to a detached session with `id` and an empty command, and gets its replay")
        func goAttach() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let (first, attached) = try await daemon.withControl(name) { control in
                    try control.start("exec", args: ["cmd": ["sh", "-c", "echo sess-marker; sleep 60"], "path": "sh", "tty": "true", "stdin": "true"])
                    let first = try control.collect(within: .seconds(3))
                    try control.sendJSON(["type": "release"])
                    try control.start("exec", args: ["cmd": [""], "path": "", "id": first.sessionID ?? "", "stdin": "true"])
                    return (first, try control.collect(within: .seconds(3)))
                }
                #expect(first.sessionTTY == true && first.sessionID != nil, "\(first)")
                #expect(attached.sessionID == first.sessionID && attached.sessionTTY == true, "\(attached)")
                #expect(String(decoding: attached.binary, as: UTF8.self).contains("sess-marker"), "\(attached)")
                #expect(attached.error == nil, "\(attached)")
            }
        }

        @Test("a bad exec is an op.error, and the connection stays usable")
        func badExec() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let (bad, good) = try await daemon.withControl(name) { control in
                    try control.start("exec", args: ["cmd": [String](), "dir": "relative"])
                    return (try control.collect(), try control.exec(["true"]))
                }
                #expect(bad.error?.isEmpty == false && bad.endPrefixed, "\(bad)")
                #expect(good.completeExitCode == 0, "\(good)")
            }
        }

        @Test("a file error is one op.error carrying the file API's error body")
        func fileError() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let (failure, after) = try await daemon.withControl(name) { control in
                    try control.start("fs.read", args: "path=%2Fmissing%2Ffile&workingDir=%2F", prefixed: false)
                    let failure = try control.next()
                    try control.start("fs.delete", args: "path=%2Fmissing&workingDir=%2F", prefixed: false)
                    return (failure, try control.next())
                }
                let body = failure.envelope
                #expect(body?["type"] as? String == "op.error" && body?["code"] as? String == "ENOENT", "\(failure)")
                #expect(body?["path"] as? String == "/missing/file" && (body?["error"] as? String)?.isEmpty == false, "\(failure)")
                #expect((body?["args"] as? [String: Any])?["error"] as? String == body?["error"] as? String, "\(failure)")
                #expect(after.envelope?["code"] as? String == "ENOENT", "the next op is answered on its own\n\(after)")
            }
        }

        @Test("a proxy op carries TCP both ways; a release ends it and keeps the connection")
        func proxyRelease() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let server = try await daemon.sh(name, """
                    nohup python3 -c '
                    import socket
                    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", 9009)); s.listen()
                    while True:
                        c, _ = s.accept()
                        while (d := c.recv(65536)): c.sendall(d.upper())
                        c.close()
                    ' >/dev/null 2>&1 &
                    for i in $(seq 100); do python3 -c 'import socket; socket.create_connection(("127.0.0.1", 9009))' 2>/dev/null && echo up && exit 0; sleep 0.1; done
                    """)
                #expect(server.stdout == "up\n", "\(server)")
                let (handshake, echoed, after) = try await daemon.withControl(name) { control in
                    try control.sendJSON(["type": "start", "operation": "proxy", "params": ["host": "localhost", "port": 9009, "keep_alive": true]])
                    let handshake = try control.next()
                    try control.sendBinary(Array("hello".utf8))
                    var echoed: [UInt8] = []
                    while echoed.count < 5, case .binary(let bytes) = try control.next() { echoed += bytes }
                    try control.sendJSON(["type": "release"])
                    return (handshake, echoed, try control.exec(["echo", "after"]))
                }
                #expect(handshake.envelope?["status"] as? String == "connected" && !handshake.isPrefixed, "\(handshake)")
                #expect(String(decoding: echoed, as: UTF8.self) == "HELLO")
                #expect(after.output == "after\n" && after.completeExitCode == 0, "\(after)")
            }
        }

        @Test("when the sprite's side of a proxy op ends, op.complete comes and the connection closes")
        func proxyEnds() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let server = try await daemon.sh(name, """
                    cd /root && echo served > index.html
                    nohup python3 -m http.server 8090 --bind 127.0.0.1 >/dev/null 2>&1 &
                    for i in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:8090/ && echo up && exit 0; sleep 0.1; done
                    """)
                #expect(server.stdout == "up\n", "\(server)")
                let frames = try await daemon.withControl(name) { control in
                    try control.sendJSON(["type": "start", "operation": "proxy", "params": ["port": 8090]])
                    try control.sendBinary(Array("GET /index.html HTTP/1.0\r\n\r\n".utf8))
                    var frames: [ControlFrame] = []
                    repeat { frames.append(try control.next()) } while frames.last.map { if case .closed = $0 { false } else { true } } ?? true
                    return frames
                }
                var body: [UInt8] = []
                for case .binary(let bytes) in frames { body += bytes }
                #expect(String(decoding: body, as: UTF8.self).contains("served"), "\(frames)")
                #expect(frames.dropLast().last?.envelope?["type"] as? String == "op.complete", "\(frames)")
                #expect(frames.last == .closed(code: 1000), "\(frames)")
            }
        }

        @Test("a proxy op to a closed port is refused, and the connection stays usable")
        func proxyRefused() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let (refusal, after) = try await daemon.withControl(name) { control in
                    try control.sendJSON(["type": "start", "operation": "proxy", "params": ["host": "localhost", "port": 9]])
                    let refusal = try control.next()
                    try control.sendJSON(["type": "release"])
                    return (refusal, try control.exec(["echo", "fine"]))
                }
                #expect(refusal.envelope?["status"] as? String == "error", "\(refusal)")
                #expect(after.output == "fine\n", "\(after)")
            }
        }

        @Test("/control is refused with 404 for an unknown sprite and 401 for a bad token")
        func refusals() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let (port, token) = (daemon.port, daemon.token)
                let (missing, unauthorized) = try await offPool {
                    (try ControlClient.refusal(port: port, token: token, sprite: "no-such-sprite"),
                     try ControlClient.refusal(port: port, token: "wrong", sprite: name))
                }
                #expect(missing == 404)
                #expect(unauthorized == 401)
            }
        }
    }
}
