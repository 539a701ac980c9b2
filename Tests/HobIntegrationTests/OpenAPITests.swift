// The daemon's own OpenAPI document, against the daemon: served without a token, every documented
// operation has a route, and the start-up drift check found nothing to report.
import Foundation
import Testing

extension HobIntegration {
    @Suite("OpenAPI document served", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct OpenAPITests {
        static let methods = ["get", "put", "post", "delete", "head", "patch"]

        func document(_ daemon: DaemonFixture) async throws -> [String: Any] {
            let response = try await daemon.http("GET", "/openapi.json", credential: .none)
            #expect(response.status == 200, "\(response)")
            #expect(response.header("Content-Type") == "application/json")
            return try #require(response.json, "not a JSON object: \(response)")
        }

        @Test("GET /openapi.json needs no token and is OpenAPI 3.1")
        func servedWithoutToken() async throws {
            let doc = try await document(try DaemonFixture.shared())
            #expect((doc["openapi"] as? String)?.hasPrefix("3.1") == true)
        }

        @Test("every documented operation (not pending) reaches a route")
        func everyOperationRouted() async throws {
            let daemon = try DaemonFixture.shared()
            let paths = try #require(try await document(daemon)["paths"] as? [String: [String: Any]])
            let missing = TestEnvironment.spriteName("nobody")
            var checked = 0
            for (template, item) in paths.sorted(by: { $0.key < $1.key }) {
                // Parameters name things that do not exist: the route answers, the request fails politely.
                let path = template.replacingOccurrences(of: "{name}", with: missing)
                    .replacingOccurrences(of: "{checkpoint_id}", with: "v1").replacingOccurrences(of: "{service_name}", with: "web")
                    .replacingOccurrences(of: "{session_id}", with: "1")
                for method in Self.methods {
                    guard let operation = item[method] as? [String: Any], operation["x-hob-pending"] == nil else { continue }
                    let response = try await daemon.http(method.uppercased(), path)
                    // 405 is the router's "no such method", unless the operation documents it as its
                    // answer (GET and DELETE /mcp: a stateless MCP server offers no stream or session).
                    let documents405 = (operation["responses"] as? [String: Any])?["405"] != nil
                    let unrouted =
                        (response.status == 405 && !documents405)
                        || (response.status == 404 && response.json?["message"] as? String == "no such endpoint")
                    #expect(!unrouted, "\(method.uppercased()) \(template) has no route: \(response)")
                    #expect(response.status < 500, "\(method.uppercased()) \(template): \(response)")
                    checked += 1
                }
            }
            #expect(checked > 30)
        }

        @Test("the start-up comparison of routes and document logged no drift")
        func noDriftLogged() throws {
            let daemon = try DaemonFixture.shared()
            let log = try String(contentsOfFile: daemon.logPath, encoding: .utf8)
            #expect(log.contains("serving the Sprites API"), "the log is not the daemon's")
            let drift = log.split(separator: "\n").filter { $0.contains("OpenAPI document") }
            #expect(drift.isEmpty, "\(drift.joined(separator: "\n"))")
        }
    }
}
