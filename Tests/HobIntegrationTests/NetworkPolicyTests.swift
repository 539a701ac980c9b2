// The network (egress) policy, `GET|POST /v1/sprites/{name}/policy/network`: without rules a sprite
// reaches anything; with rules only names they allow resolve (others get REFUSED), only addresses
// those names resolved to are reachable, private ranges never are, and a change applies to open
// connections at once. The daemon's upstream resolver is a tiny DNS server of the test's own
// (`--dns-upstream`), whose names point at a test host in a network namespace (EgressTarget), so
// nothing here needs the internet.
import Foundation
import Testing

extension HobIntegration {
    @Suite(
        "Network policy", .sharedDaemon("--dns-upstream", "127.0.0.1:\(TestResolver.port)"),
        .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct NetworkPolicyTests {
        // MARK: The API

        @Test("a sprite starts unrestricted: GET answers an empty rule list")
        func defaultUnrestricted() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let got = try await daemon.http("GET", "/v1/sprites/\(name)/policy/network")
                #expect(got.status == 200, "\(got)")
                #expect(got.text == #"{"rules":[]}"#, "\(got)")
            }
        }

        @Test("POST answers 204 with no body, and GET returns the rules")
        func postThenGet() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let set = try await daemon.setPolicy(name, #"[{"domain":"Example.com","action":"allow"},{"domain":"*.npmjs.org","action":"allow"},{"include":"defaults"},{"domain":"*","action":"deny"}]"#)
                #expect(set.status == 204, "\(set)")
                #expect(set.body.isEmpty, "\(set)")
                let got = try await daemon.http("GET", "/v1/sprites/\(name)/policy/network")
                #expect(got.status == 200, "\(got)")
                let rules = try #require(got.json?["rules"] as? [[String: String]], "\(got)")
                #expect(rules == [
                    ["domain": "example.com", "action": "allow"], ["domain": "*.npmjs.org", "action": "allow"], ["include": "defaults"],
                    ["domain": "*", "action": "deny"],
                ])
                let cleared = try await daemon.setPolicy(name, "[]")
                #expect(cleared.status == 204, "\(cleared)")
                #expect(try await daemon.http("GET", "/v1/sprites/\(name)/policy/network").text == #"{"rules":[]}"#)
            }
        }

        @Test("bad bodies are refused with 400 and the Sprites error body; the policy is unchanged")
        func badBodies() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let bodies = [
                    #"{"rules":[{"domain":"x.com","action":"block"}]}"#,
                    #"{"rules":[{"domain":"x.com","action":"allow","include":"defaults"}]}"#,
                    #"{"rules":[{"domain":"x.*.com","action":"allow"}]}"#,
                    #"{"rules":[{"include":"everything"}]}"#,
                    #"{"rules":[{}]}"#,
                    #"{"rules":"allow"}"#,
                    #"{}"#,
                    "not json",
                    #"{"rules":["# + Array(repeating: #"{"domain":"x.com","action":"allow"}"#, count: 1001).joined(separator: ",") + "]}",
                ]
                for body in bodies {
                    let response = try await daemon.http("POST", "/v1/sprites/\(name)/policy/network", body: Data(body.utf8))
                    #expect(response.status == 400, "\(body.prefix(80)): \(response)")
                    #expect(response.errorCode == "invalid_argument", "\(body.prefix(80)): \(response)")
                    let message = response.json?["message"] as? String ?? ""
                    #expect(!message.isEmpty, "\(response)")
                }
                #expect(try await daemon.http("GET", "/v1/sprites/\(name)/policy/network").text == #"{"rules":[]}"#)
                let missing = try await daemon.setPolicy("no-such-sprite-\(TestEnvironment.randomName(4))", "[]")
                #expect(missing.status == 404, "\(missing)")
            }
        }

        @Test("a fork inherits its source's policy")
        func forkInherits() async throws {
            let daemon = try DaemonFixture.shared()
            let source = TestEnvironment.spriteName(), fork = source + "-f"
            try await daemon.cleaningUp(sprites: [source, fork]) {
                try await daemon.createSprite(source)
                #expect(try await daemon.setPolicy(source, #"[{"domain":"github.com","action":"allow"}]"#).status == 204)
                try await daemon.forkSprite(fork, from: source)
                let got = try await daemon.http("GET", "/v1/sprites/\(fork)/policy/network")
                #expect(got.text == #"{"rules":[{"action":"allow","domain":"github.com"}]}"#, "\(got)")
            }
        }

        @Test("the CLI sets and shows the policy")
        func cli() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let set = try await daemon.cli("policy", "network", "set", name, "--allow", "github.com", "--allow", "*.npmjs.org", "--defaults", "--deny", "*")
                #expect(set.status == 0, "\(set)")
                let got = try await daemon.cli("policy", "network", "get", name, "--json")
                #expect(got.status == 0, "\(got)")
                let json = try JSONSerialization.jsonObject(with: Data(got.stdout.utf8)) as? [String: Any]
                #expect((json?["rules"] as? [Any])?.count == 4, "\(got)")
                let text = try await daemon.cli("policy", "network", "get", name)
                #expect(text.stdout.contains("allow *.npmjs.org") && text.stdout.contains("include defaults"), "\(text)")
            }
        }

        // MARK: Inside the sprite

        @Test("the sprite sees its policy read-only at /.sprite/policy/network.json, updated live")
        func readOnlyCopy() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let before = try await daemon.exec(name, ["cat", "/.sprite/policy/network.json"])
                #expect(before.stdout.trimmed == #"{"rules":[]}"#, "\(before)")
                #expect(try await daemon.setPolicy(name, #"[{"domain":"github.com","action":"allow"}]"#).status == 204)
                let after = try await daemon.exec(name, ["cat", "/.sprite/policy/network.json"])
                #expect(after.stdout.trimmed == #"{"rules":[{"action":"allow","domain":"github.com"}]}"#, "\(after)")
                let write = try await daemon.sh(
                    name,
                    """
                    echo '{"rules":[]}' > /.sprite/policy/network.json 2>/dev/null; echo "write $?"
                    rm -f /.sprite/policy/network.json 2>/dev/null; echo "rm $?"
                    umount /.sprite/policy 2>/dev/null; echo "umount $?"
                    cat /.sprite/policy/network.json
                    """)
                let statuses = write.stdout.lines.prefix(3).map { $0.split(separator: " ").map(String.init) }
                #expect(statuses.map(\.first) == ["write", "rm", "umount"], "\(write)")
                #expect(statuses.allSatisfy { $0.last != "0" }, "the sprite changed its policy copy: \(write)")
                #expect(write.stdout.contains("github.com"), "\(write)")
            }
        }

        @Test("the sprite cannot change its policy through its own API socket")
        func notFromInside() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let set = try await daemon.setPolicy(name, #"[{"domain":"github.com","action":"allow"}]"#)
                #expect(set.status == 204, "\(set)")
                let body = shellQuote(#"{"rules":[]}"#)
                let tries = try await daemon.sh(
                    name,
                    """
                    for path in /v1/sprites/\(name)/policy/network /v1/policy/network; do
                      curl -s -o /dev/null -w '%{http_code}\\n' --unix-socket /.sprite/api.sock -X POST -H 'Content-Type: application/json' -d \(body) "http://sprite$path"
                    done
                    """)
                #expect(tries.stdout.lines.count == 2 && !tries.stdout.lines.contains { $0.hasPrefix("2") }, "\(tries)")
                let got = try await daemon.http("GET", "/v1/sprites/\(name)/policy/network")
                #expect(got.text == #"{"rules":[{"action":"allow","domain":"github.com"}]}"#, "\(got)")
            }
        }

        @Test("a denied name gets REFUSED, whichever resolver the sprite asks, over UDP and TCP")
        func deniedNameRefused() async throws {
            let daemon = try DaemonFixture.shared()
            try await TestResolver.with([:]) {
                try await daemon.withSprite { name in
                    let set = try await daemon.setPolicy(name, #"[{"domain":"allowed.hob.test","action":"allow"}]"#)
                    #expect(set.status == 204, "\(set)")
                    for server in ["203.0.113.53", "8.8.8.8"] {
                        let answer = try await daemon.lookup(name, "denied.example", server: server)
                        #expect(answer == "rcode 5", "via \(server)")
                    }
                    #expect(try await daemon.lookup(name, "denied.example", tcp: true) == "rcode 5", "over TCP")
                    #expect(try await daemon.lookup(name, "sub.allowed.hob.test") == "rcode 5", "a subdomain of an exact rule")
                }
            }
        }

        @Test("an allowed name whose resolver does not answer gets SERVFAIL, not silence")
        func upstreamDown() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let set = try await daemon.setPolicy(name, #"[{"domain":"*","action":"allow"}]"#)
                #expect(set.status == 204, "\(set)")
                let answer = try await daemon.lookup(name, "web.hob.test")
                #expect(answer == "rcode 2", "with no test resolver running")
            }
        }

        @Test("an allowed name resolves and its address is reachable; a raw IP nobody resolved is not")
        func allowedNameConnects() async throws {
            let daemon = try DaemonFixture.shared()
            try await EgressTarget.with { target in
                try await TestResolver.with(["web.hob.test": [target.address]]) {
                    try await daemon.withSprite { name in
                        #expect(try await daemon.setPolicy(name, #"[{"domain":"*.hob.test","action":"allow"}]"#).status == 204)
                        // Not resolved yet: the raw address is dropped.
                        #expect(try await curlExitStatuses(daemon, in: name, [target.url]) == [target.url: 28])
                        #expect(try await daemon.lookup(name, "web.hob.test") == "rcode 0 \(target.address)")
                        #expect(try await daemon.lookup(name, "web.hob.test", tcp: true) == "rcode 0 \(target.address)")
                        let fetched = try await daemon.sh(name, "curl -s -S -m 5 \(target.url)")
                        #expect(fetched.stdout == TinyHTTPServer.response, "\(fetched)")
                    }
                }
            }
        }

        @Test("private ranges stay blocked even when an allowed name resolves to them")
        func privateRangesBlocked() async throws {
            let daemon = try DaemonFixture.shared()
            try await EgressTarget.with { target in
                let privateAddress = try await target.addPrivateAddress()
                let url = "http://\(privateAddress):\(target.port)/"
                try await TinyHTTPServer.onHost(bind: privateAddress, port: target.port, namespace: target.namespace) {
                    try await TestResolver.with(["inside.hob.test": [privateAddress]]) {
                        let restricted = TestEnvironment.spriteName(), open = restricted + "-o"
                        try await daemon.cleaningUp(sprites: [restricted, open]) {
                            try await daemon.createSprite(restricted)
                            try await daemon.createSprite(open)
                            // Reachable without a policy: the block below is the policy's doing.
                            #expect(try await curlExitStatuses(daemon, in: open, [url]) == [url: 0])
                            #expect(try await daemon.setPolicy(restricted, #"[{"domain":"*","action":"allow"}]"#).status == 204)
                            #expect(try await daemon.lookup(restricted, "inside.hob.test") == "rcode 0 \(privateAddress)")
                            #expect(try await curlExitStatuses(daemon, in: restricted, [url]) == [url: 28])
                            // Nor the host's resolver, nor the host's own addresses, directly.
                            let host = "http://\(target.hostAddress):\(target.port)/"
                            #expect(try await curlExitStatuses(daemon, in: restricted, [host]) != [host: 0])
                        }
                    }
                }
            }
        }

        @Test("a tightened policy stops an open connection; an unchanged rule keeps it")
        func liveTightening() async throws {
            let daemon = try DaemonFixture.shared()
            try await EgressTarget.with { target in
                try await target.withEchoServer(port: 9090) {
                    try await TestResolver.with(["echo.hob.test": [target.address]]) {
                        try await daemon.withSprite { name in
                            #expect(try await daemon.setPolicy(name, #"[{"domain":"echo.hob.test","action":"allow"}]"#).status == 204)
                            #expect(try await daemon.lookup(name, "echo.hob.test") == "rcode 0 \(target.address)")
                            let started = try await daemon.sh(name, EchoClient.backgroundCommand(address: target.address, port: 9090))
                            #expect(started.succeeded, "\(started)")
                            #expect(try await daemon.echoLog(name, contains: "0 ok"), "the connection never worked")

                            // Another rule added, echo.hob.test still allowed: the connection lives on.
                            let broader = #"[{"domain":"echo.hob.test","action":"allow"},{"domain":"other.hob.test","action":"allow"}]"#
                            #expect(try await daemon.setPolicy(name, broader).status == 204)
                            _ = try await daemon.sh(name, "touch /tmp/echo-go-1")
                            #expect(try await daemon.echoLog(name, contains: "1 ok"), "an unchanged rule cut the connection")

                            #expect(try await daemon.setPolicy(name, #"[{"domain":"other.hob.test","action":"allow"}]"#).status == 204)
                            _ = try await daemon.sh(name, "touch /tmp/echo-go-2")
                            #expect(try await daemon.echoLog(name, contains: "2 blocked"), "the open connection still passes data")
                        }
                    }
                }
            }
        }

        @Test("a neighbour without rules is unaffected by a restricted sprite")
        func neighbourUnaffected() async throws {
            let daemon = try DaemonFixture.shared()
            try await EgressTarget.with { target in
                let restricted = TestEnvironment.spriteName(), open = restricted + "-o"
                try await daemon.cleaningUp(sprites: [restricted, open]) {
                    try await daemon.createSprite(restricted)
                    try await daemon.createSprite(open)
                    #expect(try await daemon.setPolicy(restricted, #"[{"domain":"*","action":"deny"}]"#).status == 204)
                    #expect(try await curlExitStatuses(daemon, in: restricted, [target.url]) == [target.url: 28])
                    #expect(try await curlExitStatuses(daemon, in: open, [target.url]) == [target.url: 0])
                    // Its DNS goes where it always went (the test resolver is not asked).
                    let resolv = try await daemon.exec(open, ["cat", "/etc/resolv.conf"])
                    #expect(!resolv.stdout.contains(try daemon.gateway()), "\(resolv)")
                }
            }
        }

        @Test("after kill -9 and a restart the restriction still holds, and allowed names work again")
        func survivesKill9() async throws {
            let daemon = try DaemonFixture.shared()
            try await EgressTarget.with { target in
                try await TestResolver.with(["web.hob.test": [target.address]]) {
                    try await daemon.withSprite { name in
                        #expect(try await daemon.setPolicy(name, #"[{"domain":"web.hob.test","action":"allow"}]"#).status == 204)
                        #expect(try await daemon.sh(name, "true").succeeded)
                        await daemon.kill9()
                        try await daemon.restart()
                        #expect(try await curlExitStatuses(daemon, in: name, [target.url]) == [target.url: 28])
                        #expect(try await daemon.lookup(name, "denied.example") == "rcode 5")
                        #expect(try await daemon.lookup(name, "web.hob.test") == "rcode 0 \(target.address)")
                        #expect(try await curlExitStatuses(daemon, in: name, [target.url]) == [target.url: 0])
                    }
                }
            }
        }
    }
}

extension DaemonFixture {
    /// POST /v1/sprites/{name}/policy/network with `{"rules": <rules>}`.
    func setPolicy(_ sprite: String, _ rules: String) async throws -> HTTPResult {
        try await http("POST", "/v1/sprites/\(sprite)/policy/network", body: Data(#"{"rules":\#(rules)}"#.utf8))
    }

    /// The bridge gateway, where the daemon's DNS forwarder listens.
    func gateway() throws -> String {
        guard let base = subnet.split(separator: "/").first, let last = base.split(separator: ".").last, let n = Int(last) else {
            throw TestFailure("bad subnet \(subnet)")
        }
        return base.split(separator: ".").dropLast().joined(separator: ".") + ".\(n + 1)"
    }

    /// A raw DNS query (type A) for `host` from inside `sprite`, to `server` port 53: `rcode N` and
    /// the addresses of the answer, or `timeout`.
    func lookup(_ sprite: String, _ host: String, server: String = "203.0.113.53", tcp: Bool = false) async throws -> String {
        let result = try await exec(sprite, ["python3", "-c", RawDNSQuery.script, host, server, tcp ? "tcp" : "udp"])
        return result.stdout.trimmed
    }

    /// Waits until the sprite's echo client logged `line`.
    func echoLog(_ sprite: String, contains line: String) async throws -> Bool {
        await eventually(timeout: .seconds(15)) {
            ((try? await exec(sprite, ["cat", EchoClient.log]))?.stdout.lines ?? []).contains(line)
        }
    }
}

extension EgressTarget {
    /// Gives the target's namespace an address in 172.16.0.0/12 as well, routed from the host.
    func addPrivateAddress() async throws -> String {
        let used = try await HostProcess.check("ip", ["-4", "-o", "addr", "show"]) + (try await HostProcess.check("ip", ["-4", "route"]))
        guard let n = (16...31).shuffled().first(where: { !used.contains("172.\($0).") }) else {
            throw TestFailure("no free 172.16.0.0/12 network on this host")
        }
        let address = "172.\(n).77.2"
        try await HostProcess.check("ip", ["-n", namespace, "addr", "add", "\(address)/32", "dev", "lo"])
        try await HostProcess.check("ip", ["route", "add", "\(address)/32", "via", self.address])
        return address
    }

    /// A TCP echo server in the target's namespace on `port`, for the length of `body`.
    func withEchoServer<T: Sendable>(port: Int, _ body: () async throws -> T) async throws -> T {
        let script = """
            import socket, sys, threading
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(16)
            def serve(c):
                while True:
                    d = c.recv(4096)
                    if not d: return
                    c.sendall(d)
            while True:
                c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
            """
        let server = try ChildProcess("ip", ["netns", "exec", namespace, TinyHTTPServer.hostPython, "-c", script, address, "\(port)"])
        let result: Result<T, any Error>
        do {
            let up = await eventually(timeout: .seconds(10)) {
                let probe = try? await HostProcess.run("bash", ["-c", "exec 3<>/dev/tcp/\(address)/\(port)"])
                return probe?.status == 0
            }
            guard up else { throw TestFailure("the echo server on \(address):\(port) did not come up") }
            result = .success(try await body())
        } catch {
            result = .failure(error)
        }
        await server.kill()
        return try result.get()
    }
}

/// A client in the sprite that keeps one TCP connection to an echo server and, at each step,
/// sends a line and logs `N ok` if it comes back within 3 s or `N blocked` if not. Step 0 runs at
/// once; step N waits for /tmp/echo-go-N.
enum EchoClient {
    static let log = "/tmp/echo.log"
    static let script = """
        import os, socket, sys, time
        c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
        c.settimeout(3)
        for step in range(3):
            while step and not os.path.exists("/tmp/echo-go-%d" % step):
                time.sleep(0.1)
            try:
                c.sendall(b"ping %d\\n" % step)
                ok = c.recv(100).startswith(b"ping")
            except Exception:
                ok = False
            with open("/tmp/echo.log", "a") as f:
                f.write("%d %s\\n" % (step, "ok" if ok else "blocked"))
        """

    static func backgroundCommand(address: String, port: Int) -> String {
        "(python3 -c \(shellQuote(script)) \(address) \(port) >/dev/null 2>&1 &)"
    }
}

/// A DNS query from inside a sprite, in Python (the base image has python3): arguments host,
/// server, udp|tcp. Prints `rcode N` followed by the A addresses of the answer, or `timeout`.
enum RawDNSQuery {
    static let script = """
        import random, socket, struct, sys
        host, server, proto = sys.argv[1], sys.argv[2], sys.argv[3]
        q = struct.pack(">HHHHHH", random.randint(0, 65535), 0x0100, 1, 0, 0, 0)
        q += b"".join(bytes([len(p)]) + p.encode() for p in host.split(".")) + b"\\0" + struct.pack(">HH", 1, 1)
        try:
            if proto == "tcp":
                s = socket.create_connection((server, 53), timeout=5)
                s.sendall(struct.pack(">H", len(q)) + q)
                n = struct.unpack(">H", s.recv(2))[0]
                data = b""
                while len(data) < n:
                    data += s.recv(n - len(data))
            else:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.settimeout(5)
                s.sendto(q, (server, 53))
                data = s.recvfrom(4096)[0]
        except Exception:
            print("timeout")
            sys.exit(0)
        an = struct.unpack(">H", data[6:8])[0]
        i = 12
        while data[i] != 0:
            i += 1 + data[i]
        i += 5
        ips = []
        for _ in range(an):
            if data[i] & 0xC0 == 0xC0:
                i += 2
            else:
                while data[i] != 0:
                    i += 1 + data[i]
                i += 1
            t, c, ttl, l = struct.unpack(">HHIH", data[i:i + 10])
            i += 10
            if t == 1 and l == 4:
                ips.append(socket.inet_ntoa(data[i:i + 4]))
            i += l
        print(" ".join(["rcode", str(data[3] & 15)] + ips))
        """
}

/// The daemon's upstream resolver in these tests: UDP on 127.0.0.1:`port`, answering A queries for
/// the names of a mapping (everything else NXDOMAIN).
enum TestResolver {
    static let port: Int = (try? HostNetworkFacts.freeTCPPort()) ?? 35353

    static let script = """
        import json, socket, struct, sys
        names = json.loads(sys.argv[2])
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", int(sys.argv[1])))
        while True:
            data, peer = s.recvfrom(4096)
            try:
                i, labels = 12, []
                while data[i] != 0:
                    labels.append(data[i + 1:i + 1 + data[i]].decode().lower())
                    i += 1 + data[i]
                qtype = struct.unpack(">H", data[i + 1:i + 3])[0]
                question = data[12:i + 5]
            except Exception:
                continue
            ips = names.get(".".join(labels))
            answers = [ip for ip in (ips or []) if qtype == 1]
            flags = 0x8180 if ips is not None else 0x8183
            reply = data[:2] + struct.pack(">HHHHH", flags, 1, len(answers), 0, 0) + question
            for ip in answers:
                reply += b"\\xc0\\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton(ip)
            s.sendto(reply, peer)
        """

    /// Runs the resolver with `names` (name → IPv4 addresses) for the length of `body`.
    static func with<T: Sendable>(_ names: [String: [String]], _ body: () async throws -> T) async throws -> T {
        let json = String(decoding: try JSONSerialization.data(withJSONObject: names), as: UTF8.self)
        let server = try ChildProcess(TinyHTTPServer.hostPython, ["-c", script, "\(port)", json])
        let result: Result<T, any Error>
        do {
            try await Task.sleep(for: .milliseconds(300))
            result = .success(try await body())
        } catch {
            result = .failure(error)
        }
        await server.kill()
        return try result.get()
    }
}
