// Sprite URLs (SPRITES-API.md §11): `http://<name>.hob.localhost:<port>/` reaches port 8080 inside
// the sprite through the daemon's reverse proxy, wakes a sleeping sprite, and lets only the named
// sprite be reached.
import Foundation
import Testing

extension HobIntegration {
    @Suite("Sprite URLs", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct URLProxyTests {
        @Test("the url field is the proxy's address, and GET there lists python3 -m http.server 8080")
        func listing() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let url = try await daemon.spriteInfo(name)["url"] as? String
                #expect(url == "http://\(name).hob.localhost:\(daemon.urlPort)/")
                let started = try await daemon.sh(name, """
                    cd /root && touch listed-by-the-sprite
                    setsid nohup python3 -m http.server 8080 >/dev/null 2>&1 </dev/null &
                    for i in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:8080/ && echo up && exit 0; sleep 0.1; done
                    """)
                #expect(started.stdout == "up\n", "\(started)")
                // curl resolves *.localhost to this machine by itself, as browsers do.
                let fetched = try await HostProcess.run("curl", ["-s", "-f", "-H", "Authorization: Bearer \(daemon.token)", url ?? ""])
                #expect(fetched.succeeded && fetched.stdout.contains("listed-by-the-sprite"), "\(fetched)")
            }
        }

        @Test("a server bound only to the sprite's loopback is reachable, on 127.0.0.1 and on ::1")
        func loopback() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                try await daemon.startWebServer(in: name, bind: "127.0.0.1")
                let v4 = try await daemon.viaURL(name, "GET", "/name", bearer: daemon.token)
                #expect(v4.status == 200 && v4.text == name, "\(v4)")
                #expect(try await daemon.sh(name, "pkill -f '^python3 /root/web.py'; sleep 0.5").succeeded)
                try await daemon.startWebServer(in: name, bind: "::1")
                let v6 = try await daemon.viaURL(name, "GET", "/name", bearer: daemon.token)
                #expect(v6.status == 200 && v6.text == name, "\(v6)")
            }
        }

        @Test("request bodies stream both ways: 8 MiB with a length and a chunked upload come back intact")
        func bodies() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                try await daemon.startWebServer(in: name)
                let input = daemon.root.path + "/upload", output = daemon.root.path + "/echoed"
                try await HostProcess.check("sh", ["-c", "head -c 8388608 /dev/urandom > \(input)"])
                let url = "http://\(daemon.urlHost(name))/echo"
                for framing in [[], ["-H", "Transfer-Encoding: chunked"]] {
                    let echoed = try await HostProcess.run(
                        "curl", ["-s", "-f", "-H", "Authorization: Bearer \(daemon.token)", "--data-binary", "@\(input)", "-o", output] + framing + [url])
                    #expect(echoed.succeeded, "\(framing): \(echoed)")
                    let sums = try await HostProcess.check("sh", ["-c", "sha256sum \(input) \(output) | cut -c1-64"])
                    let lines = sums.split(separator: "\n")
                    #expect(lines.count == 2 && lines[0] == lines[1], "\(framing): the echo differs from the upload")
                }
            }
        }

        @Test("Expect: 100-continue gets the sprite's 100 before the body is sent")
        func expectContinue() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                try await daemon.startWebServer(in: name)
                let (port, host, token) = (daemon.urlPort, daemon.urlHost(name), daemon.token)
                try await offPool {
                    let connection = try RawConnection(port: port)
                    defer { connection.close() }
                    let deadline = ContinuousClock.now + .seconds(30)
                    let head = RawHTTPRequest(
                        method: "POST", path: "/echo", host: host, headers: [("Expect", "100-continue"), ("Content-Length", "5")], bearer: token)
                    try connection.send(head.bytes)
                    let interim = try connection.readResponse(to: "POST", deadline: deadline)
                    #expect(interim?.status == 100, "\(String(describing: interim))")
                    try connection.send("hello")
                    let final = try connection.readResponse(to: "POST", deadline: deadline)
                    #expect(final?.status == 200 && final?.text == "hello", "\(String(describing: final))")
                }
            }
        }

        @Test("HEAD gets no body, and the keep-alive connection carries on; each request, pipelined ones too, is routed by its own Host")
        func keepAlive() async throws {
            let daemon = try DaemonFixture.shared()
            let other = TestEnvironment.spriteName()
            try await daemon.cleaningUp(sprites: [other]) {
                try await daemon.createSprite(other)
                try await daemon.withSprite { name in
                    try await daemon.startWebServer(in: name)
                    try await daemon.startWebServer(in: other)
                    let (port, token) = (daemon.urlPort, daemon.token)
                    let (host, otherHost) = (daemon.urlHost(name), daemon.urlHost(other))
                    try await offPool {
                        let connection = try RawConnection(port: port)
                        defer { connection.close() }
                        let deadline = ContinuousClock.now + .seconds(30)
                        try connection.send(RawHTTPRequest(method: "HEAD", path: "/headers", host: host, bearer: token).bytes)
                        let head = try connection.readResponse(to: "HEAD", deadline: deadline)
                        #expect(head?.status == 200 && head?.header("content-length").flatMap(Int.init) ?? 0 > 0, "\(String(describing: head))")
                        for (expected, target) in [(name, host), (other, otherHost), (name, host)] {
                            try connection.send(RawHTTPRequest(path: "/name", host: target, bearer: token).bytes)
                            let answer = try connection.readResponse(to: "GET", deadline: deadline)
                            #expect(answer?.status == 200 && answer?.text == expected, "\(String(describing: answer))")
                        }
                        // Pipelined: three requests in one write, answered in order.
                        let pipelined = [(other, otherHost), (name, host), (other, otherHost)]
                        try connection.send(pipelined.flatMap { RawHTTPRequest(path: "/name", host: $0.1, bearer: token).bytes })
                        for (expected, _) in pipelined {
                            let answer = try connection.readResponse(to: "GET", deadline: deadline)
                            #expect(answer?.status == 200 && answer?.text == expected, "pipelined: \(String(describing: answer))")
                        }
                    }
                }
            }
        }

        @Test("server-sent events arrive as the sprite sends them, not when the stream ends")
        func serverSentEvents() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                try await daemon.startWebServer(in: name)
                let (port, host, token) = (daemon.urlPort, daemon.urlHost(name), daemon.token)
                let (firstAfter, endAfter, body) = try await offPool { () -> (Duration, Duration, String) in
                    let connection = try RawConnection(port: port)
                    defer { connection.close() }
                    let start = ContinuousClock.now
                    let deadline = start + .seconds(30)
                    try connection.send(RawHTTPRequest(path: "/sse", host: host, bearer: token).bytes)
                    guard let head = try connection.readHead(deadline: deadline) else { throw TestFailure("no response head") }
                    guard head.lowercased().contains("transfer-encoding: chunked") else { throw TestFailure("not chunked: \(head)") }
                    var body = ""
                    var firstAfter: Duration?
                    while let line = try connection.readLine(deadline: deadline), let size = Int(line, radix: 16), size > 0 {
                        body += String(decoding: try connection.read(size, deadline: deadline) ?? [], as: UTF8.self)
                        _ = try connection.readLine(deadline: deadline)
                        if firstAfter == nil && body.contains("event 0") { firstAfter = ContinuousClock.now - start }
                    }
                    return (firstAfter ?? .seconds(999), ContinuousClock.now - start, body)
                }
                #expect(body == "data: event 0\n\ndata: event 1\n\n", "\(body.debugDescription)")
                #expect(firstAfter < .milliseconds(1500), "the first event took \(firstAfter)")
                #expect(endAfter - firstAfter > .seconds(1), "the events came together: first after \(firstAfter), end after \(endAfter)")
            }
        }

        @Test("a WebSocket upgrade passes through, with a frame sent before the 101")
        func webSocket() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                try await daemon.startWebServer(in: name)
                let (port, host, token) = (daemon.urlPort, daemon.urlHost(name), daemon.token)
                try await offPool {
                    let connection = try RawConnection(port: port)
                    defer { connection.close() }
                    let deadline = ContinuousClock.now + .seconds(30)
                    let upgrade = RawHTTPRequest(
                        path: "/ws", host: host,
                        headers: [
                            ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                            ("Sec-WebSocket-Version", "13"),
                        ], bearer: token)
                    // The first frame goes out with the request: it must wait in the proxy and follow the 101.
                    try connection.send(upgrade.bytes + WebSocketFrame(opcode: WebSocketFrame.text, payload: Array("early".utf8)).maskedBytes)
                    let head = try connection.readHead(deadline: deadline) ?? ""
                    #expect(RawHTTP.status(of: head) == 101, "\(head)")
                    #expect(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "the sprite's Sec-WebSocket-Accept is missing: \(head)")
                    let early = try connection.readFrame(deadline: deadline)
                    #expect(early.map { String(decoding: $0.payload, as: UTF8.self) } == "early")
                    let big = (0..<100_000).map { UInt8($0 % 251) }
                    try connection.send(WebSocketFrame(opcode: WebSocketFrame.binary, payload: big))
                    let echoed = try connection.readFrame(deadline: deadline)
                    #expect(echoed?.opcode == WebSocketFrame.binary && echoed?.payload == big)
                    try connection.send(WebSocketFrame(opcode: WebSocketFrame.close, payload: [0x03, 0xE8]))
                    #expect(try connection.readFrame(deadline: deadline)?.opcode == WebSocketFrame.close)
                    #expect(connection.closesBefore(deadline), "the proxy kept the connection open after the sprite closed it")
                }
            }
        }

        @Test("a request wakes a warm sprite, and boots a cold one (whose server did not survive: 502)")
        func wakes() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                try await daemon.startWebServer(in: name)
                #expect(try await daemon.sleep(name).status == 200)
                #expect(try await daemon.status(name) == "warm")
                let warm = try await daemon.viaURL(name, "GET", "/name", bearer: daemon.token)
                #expect(warm.status == 200 && warm.text == name, "\(warm)")

                #expect(try await daemon.sleep(name, state: "cold").status == 200)
                #expect(try await daemon.status(name) == "cold")
                let cold = try await daemon.viaURL(name, "GET", "/name", bearer: daemon.token)
                #expect(cold.status == 502 && cold.text.contains("port 8080 in sprite \(name)"), "\(cold)")
                #expect(try await daemon.status(name) == "running")
            }
        }

        @Test("nothing listening on 8080 is a 502 naming the sprite and the port")
        func nothingListening() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let response = try await daemon.viaURL(name, bearer: daemon.token)
                #expect(response.status == 502, "\(response)")
                #expect(response.text.contains("Nothing is listening on port 8080 in sprite \(name)"), "\(response)")
            }
        }

        @Test("auth sprite: no token or a wrong one is a 401 that says how to get in; a Bearer token passes and is not forwarded")
        func bearer() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                try await daemon.startWebServer(in: name)
                let anonymous = try await daemon.viaURL(name)
                #expect(anonymous.status == 401, "\(anonymous)")
                #expect(anonymous.header("www-authenticate")?.hasPrefix("Bearer") == true, "\(anonymous)")
                #expect(anonymous.text.contains("hob url \(name) --open") && anonymous.text.contains("Authorization: Bearer"), "\(anonymous)")
                #expect(try await daemon.viaURL(name, bearer: "hob_wrong").status == 401)

                let admitted = try await daemon.viaURL(name, headers: [("X-Forwarded-For", "198.51.100.7")], bearer: daemon.token)
                #expect(admitted.status == 200, "\(admitted)")
                #expect(admitted.seen("authorization").isEmpty, "the sprite saw Hob's token: \(admitted.seenHeaders)")
                #expect(!admitted.text.contains(daemon.token), "the sprite saw Hob's token: \(admitted)")
                #expect(admitted.seen("x-forwarded-for") == ["198.51.100.7, 127.0.0.1"], "\(admitted.seenHeaders)")
                #expect(admitted.seen("x-forwarded-proto") == ["http"], "\(admitted.seenHeaders)")
                #expect(admitted.seen("x-forwarded-host") == [daemon.urlHost(name)], "\(admitted.seenHeaders)")
            }
        }

        @Test("a sign-in link answers 302 without its code and sets an HttpOnly session cookie, which admits later requests and never reaches the sprite")
        func cookie() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                try await daemon.startWebServer(in: name)
                let id = try await daemon.spriteID(name)
                let signIn = try await daemon.viaURL(name, "GET", "/headers?a=1&hob_login=\(try await daemon.loginCode(name))&b=2")
                #expect(signIn.status == 302, "\(signIn)")
                #expect(signIn.header("location") == "/headers?a=1&b=2", "\(signIn)")
                let cookie = signIn.header("set-cookie") ?? ""
                #expect(cookie.hasPrefix("hob_url_\(id)=hus1."), "\(cookie)")
                for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=43200"] { #expect(cookie.contains(attribute), "\(cookie)") }
                #expect(!cookie.contains("Domain") && !cookie.contains("Secure"), "\(cookie)")

                let session = cookie.split(separator: ";").first.map(String.init) ?? ""
                let jar = "theme=dark; \(session); lang=en"
                let admitted = try await daemon.viaURL(name, headers: [("Cookie", jar), ("Authorization", "Basic YXBwOnNlY3JldA==")])
                #expect(admitted.status == 200, "\(admitted)")
                #expect(admitted.seen("cookie") == ["theme=dark; lang=en"], "\(admitted.seenHeaders)")
                #expect(admitted.seen("authorization") == ["Basic YXBwOnNlY3JldA=="], "the app's own credentials must pass: \(admitted.seenHeaders)")
                #expect(!admitted.text.contains(daemon.token), "the sprite saw Hob's token: \(admitted)")

                let forged = try await daemon.viaURL(name, headers: [("Cookie", "hob_url_\(id)=hus1.forged.value")])
                #expect(forged.status == 401, "\(forged)")
            }
        }

        @Test("auth public needs no token, and a PUT of url_settings.auth takes effect on the next request of an open connection")
        func publicAndSwitch() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                try await daemon.startWebServer(in: name)
                let host = daemon.urlHost(name)
                let connection = TakenInTurn(try RawConnection(port: daemon.urlPort))
                defer { connection.raw.close() }
                func get() async throws -> Int? {
                    try await offPool {
                        try connection.raw.send(RawHTTPRequest(path: "/name", host: host).bytes)
                        return try connection.raw.readResponse(to: "GET", deadline: .now + .seconds(30))?.status
                    }
                }
                #expect(try await get() == 401)
                let toPublic = try await daemon.http("PUT", "/v1/sprites/\(name)", body: Data(#"{"url_settings":{"auth":"public"}}"#.utf8))
                #expect(toPublic.status == 200, "\(toPublic)")
                #expect(try await get() == 200)
                let toPrivate = try await daemon.http("PUT", "/v1/sprites/\(name)", body: Data(#"{"url_settings":{"auth":"sprite"}}"#.utf8))
                #expect(toPrivate.status == 200, "\(toPrivate)")
                #expect(try await get() == 401)
            }
        }

        @Test("no open proxy: other targets, CONNECT, a missing or repeated Host, other domains and IPs are refused")
        func refusals() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                try await daemon.startWebServer(in: name)
                _ = try await daemon.http("PUT", "/v1/sprites/\(name)", body: Data(#"{"url_settings":{"auth":"public"}}"#.utf8))
                let host = daemon.urlHost(name)
                let api = "127.0.0.1:\(daemon.port)"
                let cases: [(String, String, Int)] = [
                    ("absolute-form to the API", "GET http://\(api)/v1/sprites HTTP/1.1\r\nHost: \(host)\r\n\r\n", 400),
                    ("absolute-form to the sprite", "GET http://\(host)/name HTTP/1.1\r\nHost: \(host)\r\n\r\n", 400),
                    ("CONNECT", "CONNECT \(api) HTTP/1.1\r\nHost: \(api)\r\n\r\n", 405),
                    ("authority-form", "GET \(api) HTTP/1.1\r\nHost: \(host)\r\n\r\n", 400),
                    ("asterisk-form", "OPTIONS * HTTP/1.1\r\nHost: \(host)\r\n\r\n", 400),
                    ("no Host", "GET /name HTTP/1.1\r\n\r\n", 400),
                    ("no Host, HTTP/1.0", "GET /name HTTP/1.0\r\n\r\n", 400),
                    ("two Hosts", "GET /name HTTP/1.1\r\nHost: \(host)\r\nHost: \(api)\r\n\r\n", 400),
                    ("another domain", "GET /name HTTP/1.1\r\nHost: \(name).example.com\r\n\r\n", 421),
                    ("an IP address", "GET /v1/sprites HTTP/1.1\r\nHost: \(api)\r\n\r\n", 421),
                    ("an IPv6 address", "GET /name HTTP/1.1\r\nHost: [::1]:\(daemon.urlPort)\r\n\r\n", 400),
                    ("the bare domain", "GET /name HTTP/1.1\r\nHost: hob.localhost:\(daemon.urlPort)\r\n\r\n", 421),
                    ("two labels", "GET /name HTTP/1.1\r\nHost: x.\(host)\r\n\r\n", 404),
                    ("not a host name", "GET /name HTTP/1.1\r\nHost: not_a_name.hob.localhost\r\n\r\n", 400),
                    ("not a sprite name", "GET /name HTTP/1.1\r\nHost: -bad-.hob.localhost\r\n\r\n", 404),
                    ("an unknown sprite", "GET /name HTTP/1.1\r\nHost: no-such-sprite.hob.localhost\r\n\r\n", 404),
                ]
                let port = daemon.urlPort
                for (label, request, expected) in cases {
                    let response = try await offPool { () -> URLResponse? in
                        let connection = try RawConnection(port: port)
                        defer { connection.close() }
                        try connection.send(request)
                        return try connection.readResponse(to: "GET", deadline: .now + .seconds(30))
                    }
                    #expect(response?.status == expected, "\(label): \(String(describing: response))")
                    // Hob's own answers carry neither the sprite's Server header nor the API's Sprite-Version.
                    #expect(response?.header("server") == nil, "\(label) reached the sprite: \(String(describing: response))")
                    #expect(response?.header("sprite-version") == nil, "\(label) reached the API: \(String(describing: response))")
                }
                // The same request with the sprite's Host and a path is served.
                let served = try await daemon.viaURL(name, "GET", "/name")
                #expect(served.status == 200 && served.text == name, "\(served)")
            }
        }
    }
}

/// A connection that several steps of one test use one after another, never at once.
final class TakenInTurn: @unchecked Sendable {
    let raw: RawConnection
    init(_ raw: RawConnection) { self.raw = raw }
}
