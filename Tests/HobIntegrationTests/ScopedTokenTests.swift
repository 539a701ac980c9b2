// Scoped tokens against a real daemon (docs/ACCESS.md): a token for sprite A that may only exec
// is tried on every kind of route — REST, HTTP exec, the exec, proxy and control WebSockets, the
// file API, checkpoints, lifecycle, minting, the audit log and the sprite URL — on A, on B, and
// after it expires or is revoked. Each refusal must carry the right status and the Sprites error
// body; a sprite outside the scope must look exactly like one that does not exist.
import Foundation
import FoundationNetworking
import Testing

extension HobIntegration {
    @Suite("Scoped tokens", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct ScopedTokenTests {
        /// Mints a token with the admin token (or `by`); fails unless 201.
        func mint(_ daemon: DaemonFixture, _ body: [String: Any], by: Credential = .admin) async throws -> (token: String, id: String) {
            let org = try await daemon.organization()
            let answer = try await daemon.http("POST", "/v1/organizations/\(org)/tokens", body: try JSONSerialization.data(withJSONObject: body), credential: by)
            guard answer.status == 201, let token = answer.json?["token"] as? String, let info = answer.json?["info"] as? [String: Any],
                let id = info["id"] as? String
            else { throw TestFailure("mint \(body): \(answer)") }
            return (token, id)
        }

        /// The status of a WebSocket upgrade to `path` with `token`.
        func upgradeStatus(_ daemon: DaemonFixture, _ path: String, token: String) async throws -> Int? {
            let port = daemon.port
            return try await offPool {
                let connection = try RawConnection(port: port)
                defer { connection.close() }
                try connection.send(RawHTTP.upgradeRequest(path: path, port: port, token: token))
                return try connection.readHead(deadline: .now + .seconds(60)).flatMap(RawHTTP.status)
            }
        }

        @Test("a token for sprite A that may only exec: exec in A works over every path; nothing else does, and B looks missing")
        func execOnlyTokenForOneSprite() async throws {
            let daemon = try DaemonFixture.shared()
            let b = TestEnvironment.spriteName()
            try await daemon.cleaningUp(sprites: [b]) {
                try await daemon.createSprite(b)
                try await daemon.withSprite { a in
                    let (token, id) = try await mint(daemon, ["sprites": [a], "ops": ["exec"], "expires_in": 600, "description": "agent"])
                    #expect(token.hasPrefix(try await daemon.organization() + "/\(id)/"))
                    let scoped = Credential.bearer(token)

                    // exec in A: the exec WebSocket, HTTP exec, and an exec op on /control.
                    let ws = try await WebSocketExec.run(port: daemon.port, token: token, sprite: a, argv: ["echo", "in-a"])
                    #expect(ws.exitCode == 0 && ws.stdout == "in-a\n", "\(ws)")
                    let http = try await daemon.http("POST", "/v1/sprites/\(a)/exec?cmd=true", credential: scoped)
                    #expect(http.status == 200, "\(http)")
                    let viaControl = try await offPool {
                        let control = try ControlClient(port: daemon.port, token: token, sprite: a)
                        defer { control.close() }
                        let ran = try control.exec(["echo", "ctl"])
                        // A file op on the same connection is refused: files is not among its ops.
                        try control.start("fs.read", args: "path=%2Fetc%2Fhostname&workingDir=%2F", prefixed: false)
                        return (ran, try control.next(within: .seconds(30)))
                    }
                    #expect(viaControl.0.completeExitCode == 0 && viaControl.0.output == "ctl\n", "\(viaControl.0)")
                    #expect("\(viaControl.1)".contains("op.error") && "\(viaControl.1)".contains("may not files"), "\(viaControl.1)")

                    // B is out of scope: every route answers exactly as for a sprite that does not exist.
                    let missing = try await daemon.http("GET", "/v1/sprites/\(b)", credential: .admin)
                    #expect(missing.status == 200)
                    for (method, path) in [
                        ("GET", "/v1/sprites/\(b)"), ("DELETE", "/v1/sprites/\(b)"), ("POST", "/v1/sprites/\(b)/exec?cmd=true"),
                        ("POST", "/v1/sprites/\(b)/checkpoint"), ("GET", "/v1/sprites/\(b)/fs/read?path=/etc/hostname"),
                        ("GET", "/v1/sprites/\(b)/checkpoints"), ("POST", "/v1/sprites/\(b)/exec/1/kill"),
                    ] {
                        let answer = try await daemon.http(method, path, credential: scoped)
                        #expect(answer.status == 404 && answer.errorCode == "not_found", "\(method) \(path): \(answer)")
                        #expect(answer.json?["message"] as? String == "sprite \(b) not found", "\(method) \(path): \(answer)")
                    }
                    for path in ["/v1/sprites/\(b)/exec?cmd=true", "/v1/sprites/\(b)/control", "/v1/sprites/\(b)/proxy", "/v1/sprites/\(b)/exec/1"] {
                        #expect(try await upgradeStatus(daemon, path, token: token) == 404, "WebSocket \(path)")
                    }

                    // On A, everything but exec is 403 with the Sprites error body.
                    for (method, path, body) in [
                        ("GET", "/v1/sprites/\(a)", nil), ("POST", "/v1/sprites/\(a)/checkpoint", nil), ("DELETE", "/v1/sprites/\(a)", nil),
                        ("GET", "/v1/sprites/\(a)/fs/read?path=/etc/hostname", nil), ("POST", "/v1/sprites/\(a)/sleep", nil),
                        ("POST", "/v1/sprites/\(a)/policy/network", #"{"rules":[]}"#), ("GET", "/v1/sprites", nil),
                        ("POST", "/v1/sprites", #"{"name":"\#(a)-2"}"#), ("GET", "/v1/events", nil), ("GET", "/v1/usage", nil),
                        ("POST", "/v1/organizations/\(try await daemon.organization())/tokens", "{}"),
                        ("GET", "/v1/organizations/\(try await daemon.organization())/tokens", nil),
                    ] as [(String, String, String?)] {
                        let answer = try await daemon.http(method, path, body: body.map { Data($0.utf8) }, credential: scoped)
                        #expect(answer.status == 403 && answer.errorCode == "permission_denied", "\(method) \(path): \(answer)")
                    }
                    #expect(try await upgradeStatus(daemon, "/v1/sprites/\(a)/fs/watch", token: token) == 403)

                    // The audit log names the token for what it did and what it was refused.
                    let events = try await daemon.http("GET", "/v1/events?sprite=\(a)&token=\(id)&limit=100")
                    let actions = (events.json?["events"] as? [[String: Any]] ?? []).map { "\($0["status"] ?? "") \($0["action"] ?? "")" }
                    #expect(actions.contains { $0.hasPrefix("101 GET /v1/sprites/\(a)/exec") }, "\(actions)")
                    #expect(actions.contains("200 POST /v1/sprites/\(a)/exec"), "\(actions)")
                    #expect(actions.contains("403 POST /v1/sprites/\(a)/checkpoint"), "\(actions)")
                    #expect(actions.contains("200 control exec"), "\(actions)")

                    // Revoked: 401 everywhere, WebSockets included.
                    let revoke = try await daemon.http("DELETE", "/v1/organizations/\(try await daemon.organization())/tokens/\(id)")
                    #expect(revoke.status == 204, "\(revoke)")
                    let after = try await daemon.http("POST", "/v1/sprites/\(a)/exec?cmd=true", credential: scoped)
                    #expect(after.status == 401 && after.errorCode == "unauthorized", "\(after)")
                    #expect(try await upgradeStatus(daemon, "/v1/sprites/\(a)/exec?cmd=true", token: token) == 401)
                }
            }
        }

        @Test("revoking a token stops its open /control connection at the next op")
        func revokedMidConnection() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { a in
                let (token, id) = try await mint(daemon, ["sprites": [a], "ops": ["exec"]])
                let control = try await offPool { try ControlClient(port: daemon.port, token: token, sprite: a) }
                let first = try await offPool { try control.exec(["true"]) }
                #expect(first.completeExitCode == 0, "\(first)")
                #expect(try await daemon.http("DELETE", "/v1/organizations/\(try await daemon.organization())/tokens/\(id)").status == 204)
                let second = try await offPool { () -> ControlExecResult in
                    defer { control.close() }
                    return try control.exec(["true"])
                }
                #expect(second.error?.contains("revoked") == true, "\(second)")
            }
        }

        @Test("an expired token, and an attenuated copy past its own expiry, get 401 with the Sprites error body")
        func expiry() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { a in
                let (token, _) = try await mint(daemon, ["sprites": [a], "expires_in": 600])
                let soon = Int(Date().timeIntervalSince1970) + 2
                let attenuated = try await daemon.cli("token", "attenuate", token, "--ttl", "2s")
                #expect(attenuated.status == 0, "\(attenuated)")
                let copy = attenuated.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                #expect(try await daemon.http("GET", "/v1/sprites/\(a)", credential: .bearer(copy)).status == 200)
                while Int(Date().timeIntervalSince1970) < soon + 1 { try await Task.sleep(for: .milliseconds(200)) }
                let expired = try await daemon.http("GET", "/v1/sprites/\(a)", credential: .bearer(copy))
                #expect(expired.status == 401 && expired.errorCode == "unauthorized", "\(expired)")
                #expect((expired.json?["message"] as? String)?.contains("expired") == true, "\(expired)")
                #expect(try await upgradeStatus(daemon, "/v1/sprites/\(a)/exec?cmd=true", token: copy) == 401)
                // The original, without that caveat, still works.
                #expect(try await daemon.http("GET", "/v1/sprites/\(a)", credential: .bearer(token)).status == 200)
            }
        }

        @Test("an attenuated copy made offline can only do less: adding a sprite or an operation narrows instead")
        func attenuationOnlyNarrows() async throws {
            let daemon = try DaemonFixture.shared()
            let b = TestEnvironment.spriteName()
            try await daemon.cleaningUp(sprites: [b]) {
                try await daemon.createSprite(b)
                try await daemon.withSprite { a in
                    let (token, _) = try await mint(daemon, ["sprites": [a], "ops": ["read", "exec"]])
                    let readOnly = try await daemon.cli("token", "attenuate", token, "--ops", "read,checkpoints")
                    let weaker = readOnly.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                    #expect(try await daemon.http("GET", "/v1/sprites/\(a)", credential: .bearer(weaker)).status == 200)
                    #expect(try await daemon.http("POST", "/v1/sprites/\(a)/exec?cmd=true", credential: .bearer(weaker)).status == 403)
                    #expect(try await daemon.http("POST", "/v1/sprites/\(a)/checkpoint", credential: .bearer(weaker)).status == 403)
                    let toB = try await daemon.cli("token", "attenuate", token, "--sprite", b)
                    let narrowed = toB.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                    #expect(try await daemon.http("GET", "/v1/sprites/\(b)", credential: .bearer(narrowed)).status == 404)
                    #expect(try await daemon.http("GET", "/v1/sprites/\(a)", credential: .bearer(narrowed)).status == 404)
                    // The original keeps what it had.
                    #expect(try await daemon.http("POST", "/v1/sprites/\(a)/exec?cmd=true", credential: .bearer(token)).status == 200)
                }
            }
        }

        @Test("a token limited by prefix, label and count creates only within them and lists only its sprites")
        func createWithinScope() async throws {
            let daemon = try DaemonFixture.shared()
            let prefix = TestEnvironment.spriteName() + "-"
            let names = [prefix + "1", prefix + "2", prefix + "x"]
            try await daemon.cleaningUp(sprites: names) {
                let (token, _) = try await mint(daemon, ["prefix": prefix, "labels": ["team"], "ops": ["create", "read", "tokens"], "max_sprites": 1])
                let scoped = Credential.bearer(token)
                let first = try await daemon.http(
                    "POST", "/v1/sprites", body: Data(#"{"name":"\#(names[0])","labels":["team"],"token":{"ops":["read"]}}"#.utf8), credential: scoped)
                #expect(first.status == 201, "\(first)")
                let unlabelled = try await daemon.http("POST", "/v1/sprites", body: Data(#"{"name":"\#(names[1])"}"#.utf8), credential: scoped)
                #expect(unlabelled.status == 403, "\(unlabelled)")
                let outside = try await daemon.http("POST", "/v1/sprites", body: Data(#"{"name":"other-\#(names[2])","labels":["team"]}"#.utf8), credential: scoped)
                #expect(outside.status == 403, "\(outside)")
                let second = try await daemon.http("POST", "/v1/sprites", body: Data(#"{"name":"\#(names[1])","labels":["team"]}"#.utf8), credential: scoped)
                #expect(second.status == 403 && (second.json?["message"] as? String)?.contains("fewer than 1") == true, "\(second)")
                // A copy narrowed to a fresh name still counts the sprites of the token it came from.
                let narrowed = try await daemon.cli("token", "attenuate", token, "--sprite", names[1])
                let copy = narrowed.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                let escape = try await daemon.http(
                    "POST", "/v1/sprites", body: Data(#"{"name":"\#(names[1])","labels":["team"]}"#.utf8), credential: .bearer(copy))
                #expect(escape.status == 403, "\(escape)")
                // Labels decide who reaches a sprite: a limited token sets none beyond its own, and
                // cannot drop the one its scope needs.
                let foreign = try await daemon.http(
                    "PUT", "/v1/sprites/\(names[0])", body: Data(#"{"labels":["team","prod"]}"#.utf8), credential: scoped)
                #expect(foreign.status == 403, "\(foreign)")
                let (lifecycle, _) = try await mint(daemon, ["prefix": prefix, "labels": ["team"], "ops": ["lifecycle", "read"]])
                let dropped = try await daemon.http(
                    "PUT", "/v1/sprites/\(names[0])", body: Data(#"{"labels":[]}"#.utf8), credential: .bearer(lifecycle))
                #expect(dropped.status == 403, "\(dropped)")
                // The admin's sprite under the prefix but without the label is not the token's.
                try await daemon.createSprite(names[2])
                let listed = try await daemon.http("GET", "/v1/sprites?prefix=\(prefix)", credential: scoped)
                let seen = (listed.json?["sprites"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
                #expect(seen == [names[0]], "\(listed)")
                #expect(try await daemon.http("GET", "/v1/sprites/\(names[2])", credential: scoped).status == 404)
                // The token minted at create works on that sprite alone, for reading only.
                let own = try #require(first.json?["token"] as? String)
                #expect(try await daemon.http("GET", "/v1/sprites/\(names[0])", credential: .bearer(own)).status == 200)
                #expect(try await daemon.http("POST", "/v1/sprites/\(names[0])/exec?cmd=true", credential: .bearer(own)).status == 403)
                #expect(try await daemon.http("GET", "/v1/sprites/\(names[2])", credential: .bearer(own)).status == 404)
            }
        }

        @Test("the SDKs' mint call: FlyV1 authorization, description only, 201 with token; other organizations are 404")
        func sdkMint() async throws {
            let daemon = try DaemonFixture.shared()
            let org = try await daemon.organization()
            let answer = try await daemon.rawHTTP(
                "POST", "/v1/organizations/\(org)/tokens", body: #"{"description":"Sprite SDK Token"}"#, authorization: "FlyV1 \(daemon.token)")
            #expect(answer.status == 201, "\(answer)")
            let token = try #require(answer.json?["token"] as? String)
            #expect(try await daemon.http("GET", "/v1/sprites", credential: .bearer(token)).status == 200)
            let elsewhere = try await daemon.http("POST", "/v1/organizations/not-\(org)/tokens", body: Data("{}".utf8))
            #expect(elsewhere.status == 404, "\(elsewhere)")
        }

        @Test("sprite URLs: a token for A with url opens A; one without url gets 403; B gets 404; expired gets 401; none reaches the sprite")
        func spriteURL() async throws {
            let daemon = try DaemonFixture.shared()
            let b = TestEnvironment.spriteName()
            try await daemon.cleaningUp(sprites: [b]) {
                try await daemon.createSprite(b)
                try await daemon.withSprite { a in
                    let (urlToken, _) = try await mint(daemon, ["sprites": [a], "ops": ["url"]])
                    let (execToken, _) = try await mint(daemon, ["sprites": [a], "ops": ["exec"]])
                    // Nothing listens in A: admitted means 502, not 401/403/404.
                    #expect(try await daemon.viaURL(a, bearer: urlToken).status == 502)
                    #expect(try await daemon.viaURL(a, bearer: execToken).status == 403)
                    #expect(try await daemon.viaURL(b, bearer: urlToken).status == 404)
                    let expiring = try await daemon.cli("token", "attenuate", urlToken, "--ttl", "1s")
                    let short = expiring.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                    try await Task.sleep(for: .seconds(2))
                    #expect(try await daemon.viaURL(a, bearer: short).status == 401)
                    // A sign-in link: only for a token that could open the URL itself, and once.
                    let link = try await daemon.http("POST", "/v1/sprites/\(a)/url/login", credential: .bearer(urlToken))
                    #expect(link.status == 201 && (link.json?["url"] as? String)?.hasPrefix("http://\(daemon.urlHost(a))/?hob_login=") == true, "\(link)")
                    #expect(try await daemon.http("POST", "/v1/sprites/\(a)/url/login", credential: .bearer(execToken)).status == 403)
                    #expect(try await daemon.http("POST", "/v1/sprites/\(b)/url/login", credential: .bearer(urlToken)).status == 404)
                    let code = try await daemon.loginCode(a, credential: .bearer(urlToken))
                    let signIn = try await daemon.viaURL(a, "GET", "/?hob_login=\(code)")
                    #expect(signIn.status == 302 && signIn.header("set-cookie")?.contains("hob_url_") == true, "\(signIn)")
                    #expect(try await daemon.viaURL(a, "GET", "/?hob_login=\(code)").status == 401, "a link works once")
                    #expect(try await daemon.viaURL(a, "GET", "/?hob_token=\(urlToken)").status == 401, "no token in a URL")
                    // With private_access admins, a sprite-scoped token is not enough.
                    let update = try await daemon.http("PUT", "/v1/sprites/\(a)", body: Data(#"{"url_settings":{"auth":"sprite","private_access":"admins"}}"#.utf8))
                    #expect(update.status == 200, "\(update)")
                    #expect(try await daemon.viaURL(a, bearer: urlToken).status == 403)
                    #expect(try await daemon.viaURL(a, bearer: daemon.token).status == 502)
                }
            }
        }
    }
}

extension DaemonFixture {
    /// The code of a one-time sign-in link to `sprite`'s URL (`POST …/url/login`), asked for with `credential`.
    func loginCode(_ sprite: String, credential: Credential = .admin) async throws -> String {
        let answer = try await http("POST", "/v1/sprites/\(sprite)/url/login", credential: credential)
        guard answer.status == 201, let link = answer.json?["url"] as? String, let code = link.components(separatedBy: "hob_login=").last else {
            throw TestFailure("no sign-in link for \(sprite): \(answer)")
        }
        return code
    }

    /// The daemon's organization (what tokens are minted under).
    func organization() async throws -> String {
        let list = try await http("GET", "/v1/sprites?max_results=1")
        guard let org = (list.json?["org"] as? [String: Any])?["name"] as? String else { throw TestFailure("no org in \(list)") }
        return org
    }

    /// One request with an Authorization header as given (the SDKs' `FlyV1 <token>`).
    func rawHTTP(_ method: String, _ path: String, body: String, authorization: String) async throws -> HTTPResult {
        guard let url = URL(string: baseURL + path) else { throw TestFailure("bad path \(path)") }
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.httpBody = Data(body.utf8)
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue(authorization, forHTTPHeaderField: "Authorization")
        let (data, response) = try await session.data(for: request)
        guard let response = response as? HTTPURLResponse else { throw TestFailure("\(method) \(path): not an HTTP response") }
        return HTTPResult(status: response.statusCode, body: data, headers: [:])
    }
}
