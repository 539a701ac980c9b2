// Port forwarding (SPRITES-API.md §6, issue 5): `GET /v1/sprites/{name}/proxy` carries one TCP
// connection into the sprite over a WebSocket, starting inside the sprite's network namespace.
import Foundation
import Testing

extension HobIntegration {
    @Suite("Port forwarding", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct ProxyTests {
        /// Starts a web server inside the sprite on its loopback only, and waits until it answers.
        func serveLoopback(_ daemon: DaemonFixture, _ name: String, port: Int) async throws {
            let started = try await daemon.sh(name, """
                cd /root && echo hello-from-the-sprite > index.html
                nohup python3 -m http.server \(port) --bind 127.0.0.1 >/dev/null 2>&1 &
                for i in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:\(port)/ && echo up && exit 0; sleep 0.1; done
                """)
            #expect(started.stdout == "up\n", "\(started)")
        }

        @Test("a tunnel reaches a server bound to the sprite's loopback")
        func reachesLoopback() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                try await serveLoopback(daemon, name, port: 8080)
                let result = try await daemon.proxy(name, first: #"{"host":"localhost","port":8080}"#, send: "GET /index.html HTTP/1.0\r\n\r\n")
                #expect(result.handshake?["status"] as? String == "connected", "\(result)")
                #expect(result.handshake?["target"] as? String == "localhost:8080", "\(result)")
                #expect(result.received.hasPrefix("HTTP/1.0 200") && result.received.contains("hello-from-the-sprite"), "\(result)")
                #expect(result.closeCode == 1000, "\(result)")
            }
        }

        @Test("hob proxy LOCAL:REMOTE forwards a local port, and a 4 MB download arrives intact")
        func cliForwards() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                try await serveLoopback(daemon, name, port: 8082)
                #expect(try await daemon.sh(name, "head -c 4000000 /dev/urandom > /root/blob && sha256sum /root/blob | cut -c1-64 > /root/blob.sum").succeeded)
                let local = try HostNetworkFacts.freeTCPPort()
                var environment = ProcessInfo.processInfo.environment
                environment["HOB_API_URL"] = daemon.baseURL
                environment["HOB_TOKEN"] = daemon.token
                let log = daemon.root.path + "/proxy-cli.log"
                let child = try ChildProcess(daemon.binary, ["proxy", name, "\(local):8082"], environment: environment, stdoutPath: log)
                defer { child.signal(SIGKILL) }
                let url = "http://127.0.0.1:\(local)"
                #expect(await eventually(timeout: .seconds(10)) { (try? await HostProcess.run("curl", ["-s", "-f", url + "/index.html"]))?.stdout == "hello-from-the-sprite\n" })
                let download = daemon.root.path + "/blob"
                let fetched = try await HostProcess.run("curl", ["-s", "-f", "-o", download, url + "/blob"])
                #expect(fetched.succeeded, "\(fetched)")
                let local256 = try await HostProcess.run("sh", ["-c", "sha256sum \(download) | cut -c1-64"])
                let remote256 = try await daemon.exec(name, ["cat", "/root/blob.sum"])
                #expect(local256.stdout == remote256.stdout && !local256.stdout.isEmpty, "\(local256) vs \(remote256)")
                child.signal(SIGINT)
                #expect(await child.waitForExit(timeout: .seconds(10)) == 0, "hob proxy did not stop cleanly on Ctrl+C")
            }
        }

        @Test("a tunnel wakes a sleeping sprite")
        func wakes() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                try await serveLoopback(daemon, name, port: 8081)
                #expect(try await daemon.sleep(name).status == 200)
                let result = try await daemon.proxy(name, first: #"{"port":8081}"#, send: "GET /index.html HTTP/1.0\r\n\r\n")
                #expect(result.received.contains("hello-from-the-sprite"), "\(result)")
            }
        }

        @Test("nothing listening, a bad first frame, an unknown sprite and no token are clear errors")
        func errors() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let refused = try await daemon.proxy(name, first: #"{"host":"localhost","port":9}"#, send: nil)
                #expect(refused.handshake?["status"] as? String == "error", "\(refused)")
                #expect((refused.handshake?["error"] as? String)?.contains("nothing is listening") == true, "\(refused)")

                let garbage = try await daemon.proxy(name, first: "hello", send: nil)
                #expect(garbage.handshake?["status"] as? String == "error", "\(garbage)")
                let badPort = try await daemon.proxy(name, first: #"{"port":70000}"#, send: nil)
                #expect(badPort.handshake?["status"] as? String == "error", "\(badPort)")

                // The tunnel starts inside the sprite: the host's own services stay out of reach.
                let parts = daemon.subnet.split(separator: "/")[0].split(separator: ".").compactMap { Int($0) }
                let gateway = "\(parts[0]).\(parts[1]).\(parts[2]).\(parts[3] + 1)"
                let host = try await daemon.proxy(name, first: #"{"host":"\#(gateway)","port":\#(daemon.port)}"#, send: nil)
                #expect(host.handshake?["status"] as? String == "error", "the host's API was reachable: \(host)")

                #expect(try await daemon.proxyUpgradeStatus("no-such-sprite", token: daemon.token) == 404)
                #expect(try await daemon.proxyUpgradeStatus(name, token: nil) == 401)
            }
        }
    }
}

/// What one tunnel exchange produced.
struct ProxyResult: Sendable, CustomStringConvertible {
    var handshake: [String: any Sendable]?
    var received = ""
    var closeCode: Int?
    var description: String { "handshake \(handshake.map { "\($0)" } ?? "none"), received \(received.debugDescription), close \(closeCode.map(String.init) ?? "none")" }
}

extension DaemonFixture {
    /// Opens a proxy WebSocket, sends `first` as the handshake, then `send` as data, and reads
    /// until the daemon closes.
    func proxy(_ sprite: String, first: String, send: String?, timeout: Duration = .seconds(30)) async throws -> ProxyResult {
        let port = port
        let token = token
        return try await offPool {
            let deadline = ContinuousClock.now + timeout
            let connection = try RawConnection(port: port)
            defer { connection.close() }
            try connection.send(RawHTTP.upgradeRequest(path: "/v1/sprites/\(sprite)/proxy", port: port, token: token))
            guard let head = try connection.readHead(deadline: deadline), RawHTTP.status(of: head) == 101 else {
                throw TestFailure("proxy upgrade for \(sprite) refused")
            }
            try connection.send(WebSocketFrame(opcode: WebSocketFrame.text, payload: Array(first.utf8)))
            var result = ProxyResult()
            var sent = false
            while let frame = try connection.readFrame(deadline: deadline) {
                switch frame.opcode {
                case WebSocketFrame.text:
                    let json = try? JSONSerialization.jsonObject(with: Data(frame.payload)) as? [String: Any]
                    result.handshake = json?.compactMapValues { $0 as? String }
                    if let send, !sent, result.handshake?["status"] as? String == "connected" {
                        sent = true
                        try connection.send(WebSocketFrame(opcode: WebSocketFrame.binary, payload: Array(send.utf8)))
                    }
                case WebSocketFrame.binary:
                    result.received += String(decoding: frame.payload, as: UTF8.self)
                case WebSocketFrame.close:
                    result.closeCode = frame.payload.count >= 2 ? Int(frame.payload[0]) << 8 | Int(frame.payload[1]) : nil
                    return result
                default:
                    continue
                }
            }
            return result
        }
    }

    /// The HTTP status the proxy upgrade gets (101 when accepted).
    func proxyUpgradeStatus(_ sprite: String, token: String?) async throws -> Int? {
        let port = port
        return try await offPool {
            let connection = try RawConnection(port: port)
            defer { connection.close() }
            try connection.send(RawHTTP.upgradeRequest(path: "/v1/sprites/\(sprite)/proxy", port: port, token: token))
            return try connection.readHead(deadline: ContinuousClock.now + .seconds(30)).flatMap(RawHTTP.status(of:))
        }
    }
}
