// The secrets gateway against a real daemon (docs/ACCESS.md): a test API on the host, which no
// sprite can reach directly, answers only requests carrying the secret's header. The sprite allowed
// to use the secret reaches it through http://gateway.hob/<secret>/…; the value is then searched for
// everywhere inside the sprite — its environment, its files, every process's environ and command
// line in /proc, and the answer itself (the test API echoes the header back, in pieces, in its body
// and a response header) — and must be nowhere. Other sprites, other paths, and a sprite whose
// network policy denies everything get the answers docs/ACCESS.md promises.
import Foundation
import Testing

extension HobIntegration {
    @Suite("Secrets gateway", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct SecretGatewayTests {
        /// The credential: long and unmistakable, so a search cannot miss it or find it by chance.
        static let value = "sk-hobtest-" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")

        /// A host HTTP server on 127.0.0.1 that checks `Authorization` and echoes it back in 7-byte
        /// chunks (so a value falls across pieces) and in an `X-Echo-Auth` header.
        static let testAPI = #"""
            import http.server, json, os, sys
            EXPECTED = "Bearer " + os.environ["HOB_TEST_SECRET"]
            class Handler(http.server.BaseHTTPRequestHandler):
                protocol_version = "HTTP/1.1"
                def do_GET(self):
                    auth = self.headers.get("Authorization", "")
                    body = json.dumps({"saw_key": auth == EXPECTED, "auth": auth, "path": self.path,
                                       "host": self.headers.get("Host"), "encoding": self.headers.get("Accept-Encoding"),
                                       "range": self.headers.get("Range")}).encode()
                    self.send_response(200 if auth == EXPECTED else 401)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("X-Echo-Auth", auth)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for i in range(0, len(body), 7):
                        piece = body[i:i + 7]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                def log_message(self, *args):
                    pass
            server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
            with open(sys.argv[1], "w") as f:
                f.write(str(server.server_address[1]))
            server.serve_forever()
            """#

        /// Starts the test API; its port.
        func startTestAPI(_ daemon: DaemonFixture) async throws -> (ChildProcess, Int) {
            let directory = daemon.root.path
            let script = "\(directory)/gateway-test-api.py", portFile = "\(directory)/gateway-test-api.port"
            try Self.testAPI.write(toFile: script, atomically: true, encoding: .utf8)
            try? FileManager.default.removeItem(atPath: portFile)
            var environment = ProcessInfo.processInfo.environment
            environment["HOB_TEST_SECRET"] = Self.value
            let child = try ChildProcess("python3", [script, portFile], environment: environment, stdoutPath: "\(directory)/gateway-test-api.log")
            for _ in 0..<100 {
                if let text = try? String(contentsOfFile: portFile, encoding: .utf8), let port = Int(text) { return (child, port) }
                try await Task.sleep(for: .milliseconds(100))
            }
            await child.kill()
            throw TestFailure("the test API did not start")
        }

        /// Fetches `path` through the gateway from inside `sprite`: status, headers and body, as JSON.
        func fetch(_ daemon: DaemonFixture, _ sprite: String, _ path: String) async throws -> (status: Int, text: String) {
            let script = """
                import json, urllib.request, urllib.error
                try:
                    request = urllib.request.Request("http://gateway.hob\(path)", headers={"Range": "bytes=0-3"})
                    r = urllib.request.urlopen(request, timeout=60)
                    status, headers, body = r.status, dict(r.headers), r.read().decode()
                except urllib.error.HTTPError as e:
                    status, headers, body = e.code, dict(e.headers), e.read().decode()
                print(json.dumps({"status": status, "headers": headers, "body": body}))
                """
            let ran = try await daemon.exec(sprite, ["python3", "-c", script])
            guard ran.succeeded, let json = try? JSONSerialization.jsonObject(with: Data(ran.stdout.utf8)) as? [String: Any],
                let status = json["status"] as? Int
            else { throw TestFailure("fetching \(path) in \(sprite): \(ran)") }
            return (status, ran.stdout)
        }

        @Test("a sprite uses a host API it cannot reach, through the gateway, and the header value is nowhere inside it")
        func injectsAndNeverShows() async throws {
            let daemon = try DaemonFixture.shared()
            let (api, port) = try await startTestAPI(daemon)
            do {
                try await useSecret(daemon, port: port)
            } catch {
                await api.kill()
                throw error
            }
            await api.kill()
        }

        func useSecret(_ daemon: DaemonFixture, port: Int) async throws {
            let other = TestEnvironment.spriteName()
            let secret = "test-api-\(UUID().uuidString.prefix(8).lowercased())"
            try await daemon.cleaningUp(sprites: [other]) {
                try await daemon.createSprite(other)
                try await daemon.withSprite { name in
                    let body = #"{"host":"127.0.0.1","scheme":"http","port":\#(port),"headers":{"Authorization":"Bearer \#(Self.value)"},"access":{"sprites":["\#(name)"],"paths":["/v1/*"]}}"#
                    let set = try await daemon.http("PUT", "/v1/secrets/\(secret)", body: Data(body.utf8))
                    #expect(set.status == 200 && !set.text.contains(Self.value), "\(set)")

                    // Through the gateway: the API saw the key; the answer holds it nowhere.
                    let answer = try await fetch(daemon, name, "/\(secret)/v1/echo?q=1")
                    #expect(answer.status == 200, "\(answer.text)")
                    #expect(answer.text.contains(#"\"saw_key\": true"#), "\(answer.text)")
                    #expect(answer.text.contains(#"\"path\": \"/v1/echo?q=1\""#) && answer.text.contains(#"\"encoding\": \"identity\""#), "\(answer.text)")
                    #expect(answer.text.contains(#"\"range\": null"#), "a Range could fetch a value in pieces: \(answer.text)")
                    #expect(!answer.text.contains(Self.value), "the value reached the sprite in the answer: \(answer.text)")
                    // Masked to the same length, so the framing of the answer stays true.
                    #expect(answer.text.contains(String(repeating: "*", count: "Bearer \(Self.value)".count)), "\(answer.text)")

                    // Directly, the API is out of reach: the host's addresses are closed to sprites.
                    let direct = try await daemon.exec(name, [
                        "python3", "-c",
                        "import socket,sys\nfor host in ('gateway.hob', '127.0.0.1'):\n  try:\n    socket.create_connection((host, \(port)), timeout=3); print('reached', host); sys.exit(1)\n  except OSError: pass",
                    ])
                    #expect(direct.succeeded, "a sprite reached the test API directly: \(direct)")

                    // The value is in no environment, file or /proc entry of the sprite. The search
                    // gets it in two halves, so the search itself never writes it down whole.
                    let half = Self.value.count / 2
                    let search = """
                        import os, sys
                        needle = (sys.argv[1] + sys.argv[2]).encode()
                        found = [k for k, v in os.environb.items() if needle in v]
                        roots = ["/etc", "/root", "/home", "/tmp", "/var", "/opt", "/srv", "/usr/local", "/.sprite"]
                        for root in roots:
                            for d, _, files in os.walk(root):
                                for f in files:
                                    p = os.path.join(d, f)
                                    try:
                                        with open(p, "rb") as fh:
                                            if needle in fh.read(8 << 20): found.append(p)
                                    except OSError:
                                        pass
                        for pid in filter(str.isdigit, os.listdir("/proc")):
                            for entry in ("environ", "cmdline"):
                                try:
                                    with open(f"/proc/{pid}/{entry}", "rb") as fh:
                                        if needle in fh.read(): found.append(f"/proc/{pid}/{entry}")
                                except OSError:
                                    pass
                        print("\\n".join(found) or "nowhere")
                        """
                    let searched = try await daemon.exec(name, ["python3", "-c", search, String(Self.value.prefix(half)), String(Self.value.dropFirst(half))])
                    #expect(searched.succeeded && searched.stdout == "nowhere\n", "\(searched)")

                    // Another sprite, another path: refused, and the refusal names nothing of the secret.
                    let stranger = try await fetch(daemon, other, "/\(secret)/v1/echo")
                    #expect(stranger.status == 404, "\(stranger.text)")
                    let offList = try await fetch(daemon, name, "/\(secret)/admin")
                    #expect(offList.status == 403, "\(offList.text)")
                    #expect(try await fetch(daemon, name, "/no-such-secret/v1/echo").status == 404)

                    // A network policy that denies everything still leaves the gateway.
                    let denied = try await daemon.setPolicy(name, #"[{"domain":"*","action":"deny"}]"#)
                    #expect(denied.status == 204, "\(denied)")
                    let restricted = try await fetch(daemon, name, "/\(secret)/v1/echo")
                    #expect(restricted.status == 200 && restricted.text.contains(#"\"saw_key\": true"#), "\(restricted.text)")

                    // Each use is in the audit log, under the sprite.
                    let events = try await daemon.http("GET", "/v1/events?sprite=\(name)&token=sprite:\(name)")
                    #expect(events.text.contains("GATEWAY GET /\(secret)/v1/echo"), "\(events)")
                    #expect(!events.text.contains(Self.value))
                    #expect(try await daemon.http("DELETE", "/v1/secrets/\(secret)").status == 204)
                    #expect(try await fetch(daemon, name, "/\(secret)/v1/echo").status == 404, "a deleted secret is gone")
                }
            }
        }
    }
}
