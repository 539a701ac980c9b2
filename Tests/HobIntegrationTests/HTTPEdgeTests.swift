// The API's HTTP edge attacked over raw TCP: what a broken, slow or hostile client gets, and that
// none of it holds a connection (or shutdown) for longer than the daemon allows. The suite's
// daemon runs with 1 s header and body timeouts, so each attack ends within seconds.
import Foundation
import Testing

/// Requests and frames written by hand for the edge tests.
enum RawEdge {
    static func get(_ path: String, port: Int, token: String) -> String {
        "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nAuthorization: Bearer \(token)\r\n\r\n"
    }

    /// The head of a POST whose body (`contentLength` bytes) the caller sends after it.
    static func post(_ path: String, token: String, contentLength: Int) -> String {
        "POST \(path) HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\nContent-Length: \(contentLength)\r\n\r\n"
    }

    /// The value of a header in a response head (case-insensitive name).
    static func header(_ name: String, in head: String) -> String? {
        for line in head.split(separator: "\r\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == name.lowercased() { return parts[1].trimmingCharacters(in: .whitespaces) }
        }
        return nil
    }

    /// Reads one whole response with a Content-Length body; nil if the connection ends first.
    static func readResponse(_ connection: RawConnection, deadline: ContinuousClock.Instant) throws -> (head: String, body: [UInt8])? {
        guard let head = try connection.readHead(deadline: deadline) else { return nil }
        let length = header("Content-Length", in: head).flatMap { Int($0) } ?? 0
        guard let body = try connection.read(length, deadline: deadline) else { return nil }
        return (head, body)
    }

    /// What a client sees when it sends `bytes` (in pieces, `gap` apart) and then waits: the
    /// answer (if any), whether the daemon closed the connection, and how long that took.
    static func attack(port: Int, _ pieces: [[UInt8]], gap: Duration = .zero, wait: Duration = .seconds(20)) async throws
        -> (head: String?, body: String, closed: Bool, after: Duration)
    {
        try await offPool {
            let connection = try RawConnection(port: port)
            for piece in pieces {
                try? connection.send(piece)
                if gap > .zero { Thread.sleep(forTimeInterval: Double(gap.components.attoseconds) / 1e18 + Double(gap.components.seconds)) }
            }
            let start = ContinuousClock.now
            let deadline = start + wait
            let head = try? connection.readHead(deadline: deadline)
            let body = (try? connection.readToEnd(deadline: deadline)) ?? []
            let closed = head != nil ? connection.closesBefore(deadline) : false
            return (head ?? nil, String(decoding: body, as: UTF8.self), closed, ContinuousClock.now - start)
        }
    }

    static func attack(port: Int, _ text: String, wait: Duration = .seconds(20)) async throws
        -> (head: String?, body: String, closed: Bool, after: Duration)
    {
        try await attack(port: port, [Array(text.utf8)], wait: wait)
    }
}

/// Connections a test holds open across an await (each used by one thread at a time).
final class HeldConnections: @unchecked Sendable {
    let all: [RawConnection]
    init(all: [RawConnection]) { self.all = all }
}

extension WebSocketFrame {
    /// The frame as RFC 6455 forbids a client to send it: without a mask.
    var unmaskedBytes: [UInt8] {
        precondition(payload.count < 126)
        return [(fin ? 0x80 : 0) | opcode, UInt8(payload.count)] + payload
    }
}

extension HobIntegration {
    @Suite(
        "HTTP edge", .sharedDaemon("--http-header-timeout", "1s", "--http-body-timeout", "1s"),
        .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct HTTPEdgeTests {
        @Test("two requests then a WebSocket upgrade on one kept-alive connection: 200, 200, 101, and the command runs")
        func upgradeAfterRequests() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let (port, token) = (daemon.port, daemon.token)
                let (heads, result) = try await offPool {
                    let deadline = ContinuousClock.now + .seconds(60)
                    let connection = try RawConnection(port: port)
                    var heads: [String] = []
                    for _ in 0..<2 {
                        try connection.send(RawEdge.get("/v1/sprites", port: port, token: token))
                        heads.append(try RawEdge.readResponse(connection, deadline: deadline)?.head ?? "(closed)")
                    }
                    let path = WebSocketExec.path(sprite: name, argv: ["echo", "over keep-alive"], stdin: false)
                    try connection.send(RawHTTP.upgradeRequest(path: path, port: port, token: token))
                    heads.append(try connection.readHead(deadline: deadline) ?? "(closed)")
                    return (heads, try WebSocketExec.collect(connection, deadline: deadline))
                }
                #expect(heads.map { RawHTTP.status(of: $0) } == [200, 200, 101], "\(heads)")
                #expect(result.stdout == "over keep-alive\n", "\(result)")
                #expect(result.exitCode == 0, "\(result)")
            }
        }

        @Test("pipelined requests (sent in one write, a POST with a body among them) are answered in order, then an upgrade")
        func pipelined() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let (port, token) = (daemon.port, daemon.token)
                let (answers, result) = try await offPool {
                    let deadline = ContinuousClock.now + .seconds(60)
                    let connection = try RawConnection(port: port)
                    let exec = RawEdge.post("/v1/sprites/\(name)/exec?cmd=cat&stdin=true", token: token, contentLength: 5) + "hello"
                    try connection.send(
                        RawEdge.get("/v1/sprites/\(name)", port: port, token: token) + exec
                            + RawHTTP.upgradeRequest(path: WebSocketExec.path(sprite: name, argv: ["echo", "third"], stdin: false), port: port, token: token))
                    var answers: [URLResponse?] = []
                    for method in ["GET", "POST", "GET"] { answers.append(try connection.readResponse(to: method, deadline: deadline)) }
                    return (answers, try WebSocketExec.collect(connection, deadline: deadline))
                }
                #expect(answers.map { $0?.status } == [200, 200, 101], "\(answers)")
                #expect(answers[0]?.text.contains("\"name\":\"\(name)\"") == true, "\(answers)")
                #expect(answers[1]?.body == [1] + Array("hello".utf8) + [3, 0], "\(answers)")
                #expect(result.stdout == "third\n" && result.exitCode == 0, "\(result)")
            }
        }

        @Test("an upgrade refused after a request on the same connection gets its own error")
        func refusedUpgradeAfterRequest() async throws {
            let daemon = try DaemonFixture.shared()
            let (port, token) = (daemon.port, daemon.token)
            let nobody = TestEnvironment.spriteName("nobody")
            let heads = try await offPool {
                let deadline = ContinuousClock.now + .seconds(30)
                let connection = try RawConnection(port: port)
                try connection.send(RawEdge.get("/v1/sprites", port: port, token: token))
                let first = try RawEdge.readResponse(connection, deadline: deadline)?.head ?? "(closed)"
                try connection.send(RawHTTP.upgradeRequest(path: "/v1/sprites/\(nobody)/exec?cmd=true", port: port, token: token))
                return [first, try connection.readHead(deadline: deadline) ?? "(closed)"]
            }
            #expect(heads.map { RawHTTP.status(of: $0) } == [200, 404], "\(heads)")
        }

        @Test("garbage is answered 400 and the connection closed at once")
        func garbage() async throws {
            let daemon = try DaemonFixture.shared()
            let outcome = try await RawEdge.attack(port: daemon.port, [[0x16, 0x03, 0x01, 0x00, 0xFF] + Array("GARBAGE \u{0}\r\n\r\n".utf8)])
            #expect(outcome.head.flatMap(RawHTTP.status(of:)) == 400, "\(outcome)")
            #expect(outcome.body.contains("\"error\":\"bad_request\""), "\(outcome)")
            #expect(outcome.closed && outcome.after < .seconds(5), "\(outcome)")
            try await expectStillServing(daemon)
        }

        @Test("malformed heads are 400s", arguments: [
            "GET /v1/sprites HTTP/9.9\r\nHost: x\r\n\r\n",
            "GET /v1/sprites HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n",
            "GET /v1/sprites HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n",
            "GET /v1/sprites HTTP/1.1\nHost: x\r\n\n",
        ])
        func malformedHeads(_ request: String) async throws {
            let daemon = try DaemonFixture.shared()
            let outcome = try await RawEdge.attack(port: daemon.port, request)
            #expect(outcome.head.flatMap(RawHTTP.status(of:)) == 400, "\(outcome)")
            #expect(outcome.closed && outcome.after < .seconds(5), "\(outcome)")
        }

        @Test("a head too large for the parser is 431 and a close")
        func hugeHead() async throws {
            let daemon = try DaemonFixture.shared()
            let outcome = try await RawEdge.attack(
                port: daemon.port, "GET /v1/sprites HTTP/1.1\r\nHost: x\r\nX-Pad: \(String(repeating: "a", count: 200_000))\r\n\r\n")
            #expect(outcome.head.flatMap(RawHTTP.status(of:)) == 431, "\(outcome)")
            #expect(outcome.closed, "\(outcome)")
        }

        @Test("a half-sent head is answered 408 and closed by the header timeout")
        func halfSentHead() async throws {
            let daemon = try DaemonFixture.shared()
            let outcome = try await RawEdge.attack(port: daemon.port, "GET /v1/sprites HTTP/1.1\r\nHost: x\r\nAuthoriz")
            #expect(outcome.head.flatMap(RawHTTP.status(of:)) == 408, "\(outcome)")
            #expect(outcome.closed && outcome.after < .seconds(5), "\(outcome)")
        }

        @Test("a head sent a byte at a time does not outlast the header timeout")
        func slowLoris() async throws {
            let daemon = try DaemonFixture.shared()
            let bytes = Array("GET /v1/sprites HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: abcdefghijklmnopqrstuvwxyz\r\n".utf8)
            let start = ContinuousClock.now
            let outcome = try await RawEdge.attack(port: daemon.port, bytes.map { [$0] }, gap: .milliseconds(50))
            #expect(outcome.head.flatMap(RawHTTP.status(of:)) == 408 || outcome.head == nil, "\(outcome)")
            #expect(ContinuousClock.now - start < .seconds(10), "\(outcome)")
        }

        @Test("a stalled body is answered 408 and closed by the body timeout")
        func stalledBody() async throws {
            let daemon = try DaemonFixture.shared()
            let request = "POST /v1/sprites HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(daemon.token)\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"na"
            let outcome = try await RawEdge.attack(port: daemon.port, request)
            #expect(outcome.head.flatMap(RawHTTP.status(of:)) == 408, "\(outcome)")
            #expect(outcome.closed && outcome.after < .seconds(5), "\(outcome)")
            try await expectStillServing(daemon)
        }

        @Test("a malformed chunked body is 400 and a close, not a 500")
        func malformedChunked() async throws {
            let daemon = try DaemonFixture.shared()
            let request = "POST /v1/sprites HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(daemon.token)\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n"
            let outcome = try await RawEdge.attack(port: daemon.port, request)
            #expect(outcome.head.flatMap(RawHTTP.status(of:)) == 400, "\(outcome)")
            #expect(outcome.closed && outcome.after < .seconds(5), "\(outcome)")
            try await expectStillServing(daemon)
        }

        @Test("an unknown transfer coding is 501 and a close", arguments: ["gzip, chunked", "x-custom"])
        func unknownTransferCoding(_ coding: String) async throws {
            let daemon = try DaemonFixture.shared()
            let request = "POST /v1/sprites HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(daemon.token)\r\nTransfer-Encoding: \(coding)\r\n\r\n0\r\n\r\n"
            let outcome = try await RawEdge.attack(port: daemon.port, request)
            #expect(outcome.head.flatMap(RawHTTP.status(of:)) == 501, "\(outcome)")
            #expect(outcome.closed && outcome.after < .seconds(5), "\(outcome)")
        }

        @Test("the URL proxy answers a malformed chunked body with 400 and a close, and its answers carry a Fly-Request-Id")
        func urlProxyMalformedChunked() async throws {
            let daemon = try DaemonFixture.shared()
            let request = "POST / HTTP/1.1\r\nHost: \(daemon.urlHost(TestEnvironment.spriteName("nobody")))\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n"
            let outcome = try await RawEdge.attack(port: daemon.urlPort, request)
            #expect(outcome.head.flatMap(RawHTTP.status(of:)) == 400, "\(outcome)")
            #expect(outcome.head.flatMap { RawEdge.header("Fly-Request-Id", in: $0) }?.count == 26, "\(outcome)")
            #expect(outcome.closed && outcome.after < .seconds(5), "\(outcome)")
        }

        @Test("a WebSocket upgrade with another version is 426 naming 13; without a key, 400")
        func badHandshakes() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let upgrade = RawHTTP.upgradeRequest(path: "/v1/sprites/\(name)/exec?cmd=true", port: daemon.port, token: daemon.token)
                let version = try await RawEdge.attack(port: daemon.port, upgrade.replacingOccurrences(of: "Version: 13", with: "Version: 8"))
                #expect(version.head.flatMap(RawHTTP.status(of:)) == 426, "\(version)")
                #expect(version.head.flatMap { RawEdge.header("Sec-WebSocket-Version", in: $0) } == "13", "\(version)")
                let keyless = upgrade.split(separator: "\r\n").filter { !$0.hasPrefix("Sec-WebSocket-Key") }.joined(separator: "\r\n") + "\r\n\r\n"
                let noKey = try await RawEdge.attack(port: daemon.port, keyless)
                #expect(noKey.head.flatMap(RawHTTP.status(of:)) == 400, "\(noKey)")
            }
        }

        @Test("every response carries its own Fly-Request-Id: REST, errors, the edge's answers and 101s")
        func requestIDs() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                var ids: [String?] = []
                ids.append(try await daemon.http("GET", "/v1/sprites").header("Fly-Request-Id"))
                ids.append(try await daemon.http("GET", "/v1/sprites").header("Fly-Request-Id"))
                ids.append(try await daemon.http("GET", "/v1/sprites/\(TestEnvironment.spriteName("nobody"))").header("Fly-Request-Id"))
                ids.append(try await daemon.http("GET", "/v1/sprites", credential: .none).header("Fly-Request-Id"))
                ids.append(try await daemon.http("GET", "/no/such/route").header("Fly-Request-Id"))
                let garbage = try await RawEdge.attack(port: daemon.port, "NOT HTTP\r\n\r\n")
                ids.append(garbage.head.flatMap { RawEdge.header("Fly-Request-Id", in: $0) })
                let (port, token) = (daemon.port, daemon.token)
                let upgraded = try await offPool {
                    let connection = try RawConnection(port: port)
                    try connection.send(RawHTTP.upgradeRequest(path: "/v1/sprites/\(name)/exec?cmd=true", port: port, token: token))
                    return try connection.readHead(deadline: ContinuousClock.now + .seconds(30)) ?? ""
                }
                #expect(RawHTTP.status(of: upgraded) == 101, "\(upgraded)")
                ids.append(RawEdge.header("Fly-Request-Id", in: upgraded))
                #expect(ids.allSatisfy { $0?.count == 26 }, "\(ids)")
                #expect(Set(ids.compactMap { $0 }).count == ids.count, "\(ids)")
            }
        }

        @Test(
            "WebSocket frames RFC 6455 forbids end with its close code",
            arguments: [
                ("a text message that is not UTF-8", WebSocketFrame(opcode: WebSocketFrame.text, payload: [0xFF, 0xFE, 0x7B]).maskedBytes, 1007),
                ("an unmasked frame", WebSocketFrame(opcode: WebSocketFrame.binary, payload: [0, 0x68, 0x69]).unmaskedBytes, 1002),
                ("a message over 1 MiB", WebSocketFrame(opcode: WebSocketFrame.binary, payload: [0] + [UInt8](repeating: 0x61, count: 1 << 20)).maskedBytes, 1009),
                (
                    "a message over 1 MiB in fragments",
                    WebSocketFrame(fin: false, opcode: WebSocketFrame.binary, payload: [0] + [UInt8](repeating: 0x61, count: 700_000)).maskedBytes
                        + WebSocketFrame(opcode: WebSocketFrame.continuation, payload: [UInt8](repeating: 0x61, count: 700_000)).maskedBytes, 1009
                ),
                ("a reserved opcode", WebSocketFrame(opcode: 0x3, payload: [1]).maskedBytes, 1002),
                ("a continuation with no message", WebSocketFrame(opcode: WebSocketFrame.continuation, payload: [1]).maskedBytes, 1002),
            ] as [(String, [UInt8], Int)])
        func closeCodes(_ what: String, _ bytes: [UInt8], _ code: Int) async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let (port, token) = (daemon.port, daemon.token)
                let (head, result) = try await offPool {
                    let deadline = ContinuousClock.now + .seconds(30)
                    let connection = try RawConnection(port: port)
                    try connection.send(RawHTTP.upgradeRequest(path: WebSocketExec.path(sprite: name, argv: ["cat"], stdin: true), port: port, token: token))
                    let head = try connection.readHead(deadline: deadline) ?? ""
                    try? connection.send(bytes)
                    return (head, try WebSocketExec.collect(connection, deadline: deadline))
                }
                #expect(RawHTTP.status(of: head) == 101, "\(head)")
                #expect(result.closeCode == code, "\(what): \(result)")
                #expect(!result.timedOut, "\(what): \(result)")
            }
        }
    }

    @Suite("HTTP edge at shutdown", .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct HTTPEdgeShutdownTests {
        @Test("SIGTERM with stalled clients (half a head, half a body, an idle keep-alive) exits within the grace")
        func stalledClientsDoNotHoldShutdown() async throws {
            // Long read deadlines, so only the shutdown grace can end the stalled connections.
            let daemon = try await DaemonFixture.start(arguments: [
                "--http-header-timeout", "10m", "--http-body-timeout", "10m", "--http-idle-timeout", "10m", "--shutdown-grace", "2s",
            ])
            let (port, token) = (daemon.port, daemon.token)
            let held = try await offPool {
                let halfHead = try RawConnection(port: port)
                try halfHead.send("GET /v1/sprites HTTP/1.1\r\nHost: x\r\n")
                let halfBody = try RawConnection(port: port)
                try halfBody.send("POST /v1/sprites HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\nContent-Length: 100\r\n\r\n{")
                let idle = try RawConnection(port: port)
                try idle.send(RawEdge.get("/v1/sprites", port: port, token: token))
                _ = try RawEdge.readResponse(idle, deadline: ContinuousClock.now + .seconds(10))
                return HeldConnections(all: [halfHead, halfBody, idle])
            }
            try await Task.sleep(for: .milliseconds(500))
            let start = ContinuousClock.now
            let status = await daemon.stop()
            let took = ContinuousClock.now - start
            let closed = try await offPool { held.all.map { $0.closesBefore(ContinuousClock.now + .seconds(1)) } }
            await daemon.tearDown()
            #expect(status == 0, "exit status \(String(describing: status))")
            #expect(took < .seconds(15), "SIGTERM took \(took) with stalled clients (grace 2 s)")
            #expect(closed == [true, true, true])
        }

        @Test("SIGTERM with an HTTP exec of a silent command whose client vanished and a log followed for an hour exits within the grace")
        func waitingRespondersDoNotHoldShutdown() async throws {
            let daemon = try await DaemonFixture.start(arguments: ["--shutdown-grace", "2s"])
            let (port, token) = (daemon.port, daemon.token)
            let name = TestEnvironment.spriteName()
            try await daemon.createSprite(name)
            let put = try await daemon.serviceStream("PUT", "/v1/sprites/\(name)/services/quiet", body: #"{"cmd":"sleep","args":["infinity"]}"#)
            #expect(put.status == 200, "\(put.raw)")
            let follower = try await offPool {
                // No max_run_after_disconnect: the command outlives its client, only the responder must not.
                let exec = try RawConnection(port: port)
                try exec.send(RawEdge.post("/v1/sprites/\(name)/exec?cmd=sleep&cmd=infinity&max_run_after_disconnect=0", token: token, contentLength: 0))
                let head = try exec.readHead(deadline: ContinuousClock.now + .seconds(60))
                exec.close()
                let logs = try RawConnection(port: port)
                try logs.send(RawEdge.get("/v1/sprites/\(name)/services/quiet/logs?duration=1h", port: port, token: token))
                let logsHead = try logs.readHead(deadline: ContinuousClock.now + .seconds(30))
                return (head.flatMap { RawHTTP.status(of: $0) }, logsHead.flatMap { RawHTTP.status(of: $0) }, HeldConnections(all: [logs]))
            }
            #expect(follower.0 == 200 && follower.1 == 200, "exec \(String(describing: follower.0)), logs \(String(describing: follower.1))")
            try await Task.sleep(for: .milliseconds(500))
            let start = ContinuousClock.now
            let status = await daemon.stop()
            let took = ContinuousClock.now - start
            await daemon.tearDown()
            #expect(status == 0, "exit status \(String(describing: status))")
            #expect(took < .seconds(15), "SIGTERM took \(took) with a silent HTTP exec and a log follow (grace 2 s)")
        }
    }
}
