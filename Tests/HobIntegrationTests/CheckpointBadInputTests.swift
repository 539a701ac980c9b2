// Bad checkpoint requests get the right 4xx and the Sprites error body before any stream starts,
// and change nothing.
import Foundation
import Testing

extension HobIntegration {
    @Suite("Checkpoint bad input", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct CheckpointBadInputTests {
        @Test("every checkpoint endpoint answers 404 for an unknown sprite")
        func unknownSprite() async throws {
            let daemon = try DaemonFixture.shared()
            let name = TestEnvironment.spriteName("nobody")
            let requests: [(String, String)] = [
                ("POST", "/v1/sprites/\(name)/checkpoint"),
                ("GET", "/v1/sprites/\(name)/checkpoints"),
                ("GET", "/v1/sprites/\(name)/checkpoints/v0"),
                ("GET", "/v1/sprites/\(name)/checkpoints/Current"),
                ("POST", "/v1/sprites/\(name)/checkpoints/v0/restore"),
                ("DELETE", "/v1/sprites/\(name)/checkpoints/v0"),
            ]
            for (method, path) in requests {
                let response = try await daemon.http(method, path)
                expectError(response, 404, "not_found")
                #expect(response.header("Content-Type")?.hasPrefix("application/json") == true, "\(method) \(path): \(response.headers)")
            }
            try await expectStillServing(daemon)
        }

        @Test("an unknown checkpoint is a 404 to get, restore and delete")
        func unknownCheckpoint() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                expectError(try await daemon.http("GET", "/v1/sprites/\(name)/checkpoints/v9"), 404, "not_found")
                expectError(try await daemon.http("POST", "/v1/sprites/\(name)/checkpoints/v9/restore"), 404, "not_found")
                expectError(try await daemon.http("DELETE", "/v1/sprites/\(name)/checkpoints/v9"), 404, "not_found")
                #expect(ids(try await daemon.checkpoints(name, includeAuto: true)) == ["v0"])
            }
        }

        @Test("restoring Current is a 400")
        func restoreCurrent() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                expectError(try await daemon.http("POST", "/v1/sprites/\(name)/checkpoints/Current/restore"), 400, "invalid_argument")
                #expect(ids(try await daemon.checkpoints(name, includeAuto: true)) == ["v0"], "a refused restore saved an auto checkpoint")
            }
        }

        @Test("a malformed JSON body on create is a 400")
        func malformedBody() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                for body in [#"{"comment": "half"#, #"{"comment": 42}"#, "[]"] {
                    let response = try await daemon.http("POST", "/v1/sprites/\(name)/checkpoint", body: Data(body.utf8))
                    expectError(response, 400, "invalid_argument")
                }
                #expect(ids(try await daemon.checkpoints(name)) == ["v0"])
            }
        }

        @Test("a comment longer than 4096 bytes is a 400; 4096 bytes are fine")
        func commentLength() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                for comment in [String(repeating: "x", count: 4097), String(repeating: "é", count: 2049)] {
                    let body = try JSONSerialization.data(withJSONObject: ["comment": comment])
                    let response = try await daemon.http("POST", "/v1/sprites/\(name)/checkpoint", body: body)
                    expectError(response, 400, "invalid_argument")
                }
                let longQuery = try await daemon.http(
                    "POST", "/v1/sprites/\(name)/checkpoint?comment=" + String(repeating: "q", count: 4097))
                expectError(longQuery, 400, "invalid_argument")
                #expect(ids(try await daemon.checkpoints(name)) == ["v0"], "a refused comment made a checkpoint")

                let longest = String(repeating: "é", count: 2048)
                let id = try await daemon.checkpoint(name, comment: longest)
                #expect(try await daemon.checkpoints(name).first { $0.id == id }?.comment == longest)
            }
        }

        @Test("forking an unknown sprite or checkpoint is a 404 and creates nothing")
        func unknownForkSource() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { source in
                let fork = TestEnvironment.spriteName("fork")
                try await daemon.cleaningUp(sprites: [fork]) {
                    expectError(try await daemon.fork(fork, from: TestEnvironment.spriteName("nobody")), 404, "not_found")
                    expectError(try await daemon.fork(fork, from: source, checkpoint: "v9"), 404, "not_found")
                    expectError(try await daemon.http("GET", "/v1/sprites/\(fork)"), 404, "not_found")
                    // The name is still free.
                    try await daemon.forkSprite(fork, from: source, checkpoint: "v0")
                }
            }
        }
    }
}
