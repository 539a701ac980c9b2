// A sprite's life through the `hob` CLI: create, list, info, exec, destroy.
import Foundation
import Testing

extension HobIntegration {
    @Suite("Lifecycle", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct LifecycleTests {
        @Test("hob create makes a sprite that hob list shows with its status")
        func createAndList() async throws {
            let daemon = try DaemonFixture.shared()
            let name = TestEnvironment.spriteName("life")
            try await daemon.cleaningUp(sprites: [name]) {
                let created = try await daemon.cli("create", name)
                #expect(created.succeeded, "\(created)")

                let listed = try await daemon.cli("list", "--json")
                #expect(listed.succeeded, "\(listed)")
                let sprites = try #require(try? JSONSerialization.jsonObject(with: listed.stdoutData) as? [[String: Any]], "\(listed)")
                let entry = try #require(sprites.first { $0["name"] as? String == name }, "\(name) missing from \(listed.stdout)")
                #expect(["cold", "warm", "running"].contains(entry["status"] as? String), "\(entry)")
            }
        }

        @Test("hob info describes a sprite")
        func info() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let fromAPI = try await daemon.http("GET", "/v1/sprites/\(name)")
                let shown = try await daemon.cli("info", name, "--json")
                #expect(shown.succeeded, "\(shown)")
                let info = try #require(try? JSONSerialization.jsonObject(with: shown.stdoutData) as? [String: Any], "\(shown)")
                #expect(info["name"] as? String == name)
                #expect(info["id"] as? String == fromAPI.json?["id"] as? String)
                #expect(["cold", "warm", "running"].contains(info["status"] as? String), "\(info)")
            }
        }

        @Test("hob exec runs a command inside the sprite")
        func exec() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let result = try await daemon.cli("exec", name, "--", "uname", "-a")
                #expect(result.succeeded, "\(result)")
                #expect(result.stdout.hasPrefix("Linux "), "\(result)")
            }
        }

        @Test("hob destroy removes the sprite for good")
        func destroy() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let destroyed = try await daemon.cli("destroy", name, "--force")
                #expect(destroyed.succeeded, "\(destroyed)")

                let info = try await daemon.cli("info", name)
                #expect(!info.succeeded, "\(info)")
                #expect(info.stderr.contains("not found"), "\(info)")

                let response = try await daemon.http("GET", "/v1/sprites/\(name)")
                #expect(response.status == 404, "\(response)")
                #expect(response.errorCode == "not_found", "\(response)")
                #expect(response.json?["message"] is String, "\(response)")
            }
        }

        @Test("every response carries Sprite-Version")
        func spriteVersionHeader() async throws {
            let daemon = try DaemonFixture.shared()
            let name = TestEnvironment.spriteName("life")
            let body = Data(#"{"name":"\#(name)"}"#.utf8)
            let requests: [(String, String, Data?, Credential, Int)] = [
                ("GET", "/v1/sprites", nil, .admin, 200),
                ("POST", "/v1/sprites", body, .admin, 201),
                ("POST", "/v1/sprites", body, .admin, 409),
                ("GET", "/v1/sprites/\(name)", nil, .admin, 200),
                ("POST", "/v1/sprites", Data("{".utf8), .admin, 400),
                ("GET", "/v1/sprites", nil, .none, 401),
                ("DELETE", "/v1/sprites/\(name)", nil, .admin, 204),
                ("GET", "/v1/sprites/\(name)", nil, .admin, 404),
                ("GET", "/v1/no-such-endpoint", nil, .admin, 404),
            ]
            try await daemon.cleaningUp(sprites: [name]) {
                for (method, path, body, credential, expected) in requests {
                    let response = try await daemon.http(method, path, body: body, credential: credential)
                    #expect(response.status == expected, "\(method) \(path): \(response)")
                    let version = response.header("Sprite-Version")
                    #expect(version?.isEmpty == false, "\(method) \(path) → \(response.status): \(response.headers)")
                }
            }
        }
    }
}
