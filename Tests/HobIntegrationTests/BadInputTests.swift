// Bad requests get the right 4xx and the Sprites error body ({"error": code, "message": …}),
// and the daemon keeps serving afterwards.
import Foundation
import Testing

extension HobIntegration {
    @Suite("Bad input", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct BadInputTests {
        @Test("invalid sprite names are a 400", arguments: ["Bad_Name", "-x", String(repeating: "a", count: 64)])
        func invalidName(_ name: String) async throws {
            let daemon = try DaemonFixture.shared()
            let body = try JSONSerialization.data(withJSONObject: ["name": name])
            let response = try await daemon.http("POST", "/v1/sprites", body: body)
            expectError(response, 400, "invalid_argument")
            try await expectStillServing(daemon)
        }

        @Test("an unknown sprite is a 404")
        func unknownSprite() async throws {
            let daemon = try DaemonFixture.shared()
            let name = TestEnvironment.spriteName("nobody")
            expectError(try await daemon.http("GET", "/v1/sprites/\(name)"), 404, "not_found")
            expectError(try await daemon.http("DELETE", "/v1/sprites/\(name)"), 404, "not_found")
            try await expectStillServing(daemon)
        }

        @Test("a request without a token is a 401")
        func missingToken() async throws {
            let daemon = try DaemonFixture.shared()
            expectError(try await daemon.http("GET", "/v1/sprites", credential: .none), 401, "unauthorized")
            try await expectStillServing(daemon)
        }

        @Test("a request with a wrong token is a 401")
        func wrongToken() async throws {
            let daemon = try DaemonFixture.shared()
            let response = try await daemon.http("GET", "/v1/sprites", credential: .bearer("hob_" + TestEnvironment.randomName(64)))
            expectError(response, 401, "unauthorized")
            try await expectStillServing(daemon)
        }

        @Test("a WebSocket upgrade without a valid token is a 401", arguments: [nil, "wrong-token"] as [String?])
        func webSocketUpgradeWithoutValidToken(_ token: String?) async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let port = daemon.port
                let (head, body) = try await offPool {
                    let deadline = ContinuousClock.now + .seconds(30)
                    let connection = try RawConnection(port: port)
                    try connection.send(RawHTTP.upgradeRequest(path: "/v1/sprites/\(name)/exec?cmd=true", port: port, token: token))
                    let head = try connection.readHead(deadline: deadline) ?? ""
                    return (head, try connection.readToEnd(deadline: deadline))
                }
                #expect(head.hasPrefix("HTTP/1.1 401"), "\(head)")
                let json = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]
                #expect(json?["error"] as? String == "unauthorized", "\(head)\(String(decoding: body, as: UTF8.self))")
            }
            try await expectStillServing(daemon)
        }

        @Test("a malformed JSON body is a 400")
        func malformedJSON() async throws {
            let daemon = try DaemonFixture.shared()
            let response = try await daemon.http("POST", "/v1/sprites", body: Data(#"{"name": "half"#.utf8))
            expectError(response, 400, "invalid_argument")
            try await expectStillServing(daemon)
        }

        @Test("a 5 MB body is a 413")
        func oversizedBody() async throws {
            let daemon = try DaemonFixture.shared()
            let padding = String(repeating: "x", count: 5 * 1024 * 1024)
            let response = try await daemon.http("POST", "/v1/sprites", body: Data(#"{"name":"big","padding":"\#(padding)"}"#.utf8))
            expectError(response, 413, "too_large")
            try await expectStillServing(daemon)
        }

        @Test("creating a sprite whose name is taken is a 409")
        func duplicateName() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let again = try await daemon.http("POST", "/v1/sprites", body: Data(#"{"name":"\#(name)"}"#.utf8))
                expectError(again, 409, "already_exists")
            }
            try await expectStillServing(daemon)
        }

        @Test("a runtime the daemon does not have is a 400 naming the ones it has; the Sprites API's own names are accepted")
        func unknownRuntime() async throws {
            let daemon = try DaemonFixture.shared()
            let name = TestEnvironment.spriteName()
            try await daemon.cleaningUp(sprites: [name]) {
                let refused = try await daemon.http("POST", "/v1/sprites", body: Data(#"{"name":"\#(name)","runtime":"firecracker"}"#.utf8))
                expectError(refused, 400, "invalid_argument")
                #expect(String(decoding: refused.body, as: UTF8.self).contains("namespaces"))
                expectError(try await daemon.http("GET", "/v1/sprites/\(name)"), 404, "not_found")
                let accepted = try await daemon.http("POST", "/v1/sprites", body: Data(#"{"name":"\#(name)","runtime":"default"}"#.utf8))
                #expect(accepted.status == 201)
            }
        }

        @Test("max_results=0 is a 400")
        func zeroMaxResults() async throws {
            let daemon = try DaemonFixture.shared()
            expectError(try await daemon.http("GET", "/v1/sprites?max_results=0"), 400, "invalid_argument")
            try await expectStillServing(daemon)
        }

        @Test("garbage on an exec WebSocket does not disturb the daemon")
        func malformedFrames() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let port = daemon.port
                let token = daemon.token
                let (head, closed) = try await offPool {
                    let connection = try RawConnection(port: port)
                    let path = WebSocketExec.path(sprite: name, argv: ["cat"], stdin: true)
                    try connection.send(RawHTTP.upgradeRequest(path: path, port: port, token: token))
                    let head = try connection.readHead(deadline: ContinuousClock.now + .seconds(30)) ?? ""
                    // Reserved opcodes, reserved bits, an unmasked frame, an absurd length, then noise.
                    var garbage: [UInt8] = [0xFF, 0xFF, 0x7F, 0x0F, 0x81, 0x05] + Array("hello".utf8)
                    garbage += [0x82, 0xFF] + [UInt8](repeating: 0xFF, count: 8)
                    garbage += (0..<4096).map { _ in UInt8.random(in: 0...255) }
                    try? connection.send(garbage)
                    return (head, connection.closesBefore(ContinuousClock.now + .seconds(15)))
                }
                #expect(head.hasPrefix("HTTP/1.1 101"), "\(head)")
                #expect(closed, "the daemon kept a connection open after protocol garbage")

                try await expectStillServing(daemon)
                let again = try await daemon.exec(name, ["echo", "still here"])
                #expect(again.stdout == "still here\n", "\(again)")
            }
        }
    }
}

/// The status and the Sprites error body.
func expectError(_ response: HTTPResult, _ status: Int, _ code: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(response.status == status, "\(response)", sourceLocation: sourceLocation)
    #expect(response.errorCode == code, "\(response)", sourceLocation: sourceLocation)
    #expect((response.json?["message"] as? String)?.isEmpty == false, "\(response)", sourceLocation: sourceLocation)
}

func expectStillServing(_ daemon: DaemonFixture, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let response = try await daemon.http("GET", "/v1/sprites")
    #expect(response.status == 200, "the daemon stopped serving: \(response)", sourceLocation: sourceLocation)
}
