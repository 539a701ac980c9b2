// `hob url`, `hob api` and `hob proxy -W` against a real daemon, as scripts use them.
import Foundation
import Testing

extension HobIntegration {
    @Suite("CLI parity: url, api, proxy -W", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct CLIParityTests {
        @Test("hob url shows the sprite's URL and auth, and --auth public changes who may use it")
        func url() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let info = try await daemon.http("GET", "/v1/sprites/\(name)")
                let url = try #require(info.json?["url"] as? String)
                let shown = try await daemon.cli("url", name)
                #expect(shown.succeeded, "\(shown)")
                #expect(shown.stdout.contains(url) && shown.stdout.contains("auth:") && shown.stdout.contains("sprite"), "\(shown)")
                let quiet = try await daemon.cli("url", name, "--quiet")
                #expect(quiet.stdout == url + "\n", "\(quiet)")

                let changed = try await daemon.cli("url", name, "--auth", "public", "--json")
                #expect(changed.succeeded, "\(changed)")
                let printed = try JSONSerialization.jsonObject(with: changed.stdoutData) as? [String: Any]
                #expect((printed?["url_settings"] as? [String: Any])?["auth"] as? String == "public", "\(changed)")
                let after = try await daemon.http("GET", "/v1/sprites/\(name)")
                #expect((after.json?["url_settings"] as? [String: Any])?["auth"] as? String == "public", "\(after)")

                let refused = try await daemon.cli("url", name, "--auth", "everyone")
                #expect(refused.status != 0)
            }
        }

        @Test("hob api prints the body of any request, and exits non-zero on 4xx")
        func api() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let got = try await daemon.cli("api", "/v1/sprites/\(name)")
                #expect(got.succeeded, "\(got)")
                let body = try JSONSerialization.jsonObject(with: got.stdoutData) as? [String: Any]
                #expect(body?["name"] as? String == name, "\(got)")

                let relative = try await daemon.cli("api", "-s", name, "/exec")
                #expect(relative.succeeded, "\(relative)")

                let put = try await daemon.cli("api", "-X", "PUT", "/v1/sprites/\(name)", "-d", #"{"labels":["from-api"]}"#)
                #expect(put.succeeded, "\(put)")
                let labels = try await daemon.http("GET", "/v1/sprites/\(name)")
                #expect(labels.json?["labels"] as? [String] == ["from-api"], "\(labels)")

                let missing = try await daemon.cli("api", "/v1/sprites/\(name)-missing")
                #expect(missing.status == 1, "\(missing)")
                let error = try JSONSerialization.jsonObject(with: missing.stdoutData) as? [String: Any]
                #expect(error?["error"] != nil, "the error body is printed: \(missing)")

                let bad = try await daemon.cli("api", "-X", "POST", "/v1/sprites", "-d", "{not json")
                #expect(bad.status == 1 && bad.stderr.contains("400"), "\(bad)")
            }
        }

        @Test("hob proxy -W relays stdin and stdout to a TCP server in the sprite, byte for byte")
        func proxyStdio() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let port = 9411
                let size = 1 << 20
                try await Self.startCountingEcho(daemon, name, port: port, bytes: size)
                let scratch = try TemporaryDirectory(prefix: "hob-it-proxyw-")
                defer { scratch.remove() }
                // stdin is a FIFO held open until hob ends, so the end comes from the sprite's side
                // (the server closes after echoing `size` bytes), never from a race with stdin's EOF.
                let script = """
                    d=\(shellQuote(scratch.path))
                    head -c \(size) /dev/urandom > "$d/payload"
                    mkfifo "$d/in"
                    "$HOB" proxy -W 127.0.0.1:\(port) \(name) < "$d/in" > "$d/out" & p=$!
                    exec 3> "$d/in"
                    cat "$d/payload" >&3
                    wait $p; rc=$?
                    exec 3>&-
                    cmp "$d/payload" "$d/out" || exit 90
                    exit $rc
                    """
                let relayed = try await Self.shell(daemon, script)
                #expect(relayed.succeeded, "\(relayed)")
            }
        }

        @Test("hob proxy -W ends with status 0 when stdin ends, and fails on a port nothing listens on")
        func proxyStdioEnds() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let port = 9412
                try await Self.startCountingEcho(daemon, name, port: port, bytes: 1 << 30)
                let ended = try await Self.shell(daemon, "printf 'ping' | \"$HOB\" proxy -W localhost:\(port) \(name)")
                #expect(ended.succeeded, "\(ended)")

                let refused = try await Self.shell(daemon, "\"$HOB\" proxy -W 127.0.0.1:9 \(name) </dev/null")
                #expect(refused.status == 1 && refused.stderr.contains("hob:"), "\(refused)")
            }
        }

        /// A TCP server in the sprite that echoes what it gets and closes each connection after
        /// `bytes` bytes; returns once it accepts connections.
        static func startCountingEcho(_ daemon: DaemonFixture, _ name: String, port: Int, bytes: Int) async throws {
            let server = """
                import socket, sys
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", int(sys.argv[1])))
                s.listen()
                limit = int(sys.argv[2])
                while True:
                    c, _ = s.accept()
                    seen = 0
                    while seen < limit:
                        d = c.recv(65536)
                        if not d:
                            break
                        c.sendall(d)
                        seen += len(d)
                    c.close()
                """
            let started = try await daemon.sh(
                name,
                "(setsid nohup python3 -c \(shellQuote(server)) \(port) \(bytes) >/dev/null 2>&1 </dev/null &); "
                    + "for i in $(seq 100); do python3 -c 'import socket,sys; socket.create_connection((\"127.0.0.1\", int(sys.argv[1])))' \(port) 2>/dev/null && exit 0; sleep 0.1; done; exit 1"
            )
            #expect(started.succeeded, "the echo server did not start: \(started)")
        }

        /// bash with `$HOB` the hob binary, pointed at this daemon as `daemon.cli` does.
        static func shell(_ daemon: DaemonFixture, _ script: String) async throws -> CommandResult {
            var environment = ProcessInfo.processInfo.environment
            environment["HOB_API_URL"] = daemon.baseURL
            environment["HOB_TOKEN"] = daemon.token
            environment["XDG_CONFIG_HOME"] = daemon.root.path + "/config"
            environment["HOB_STATE_DIR"] = nil
            environment["HOB_LISTEN"] = nil
            environment["HOB"] = daemon.binary
            return try await HostProcess.run("bash", ["-c", script], environment: environment, timeout: .seconds(120))
        }
    }
}
