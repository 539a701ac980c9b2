import Foundation
import HTTPTypes
import HobAccess
import Testing

@testable import HobServer

@Suite("Route access")
struct RouteAccessTests {
    /// Every operation of the OpenAPI document (which the drift guard keeps equal to the router's
    /// routes), with sample parameters.
    static var documented: [(HTTPRequest.Method, String)] {
        let operations = (try? OpenAPIDocument.operations()) ?? .init()
        return operations.served.map { route in
            let path = route.path.replacingOccurrences(of: "{}", with: "p1")
            return (HTTPRequest.Method(route.method) ?? .get, path)
        }
    }

    @Test("every documented route has an explicit need")
    func everyRouteClassified() {
        #expect(Self.documented.count > 40)
        for (method, path) in Self.documented {
            #expect(RouteAccess.classify(method, path) != nil, "\(method) \(path) has no need in RouteAccess")
        }
    }

    @Test("each sprite route needs the operation its effect calls for", arguments: [
        ("GET", "/v1/sprites/a", Permission.read), ("PUT", "/v1/sprites/a", .lifecycle), ("DELETE", "/v1/sprites/a", .lifecycle),
        ("POST", "/v1/sprites/a/sleep", .lifecycle), ("POST", "/v1/sprites/a/restart", .lifecycle), ("POST", "/v1/sprites/a/upgrade", .lifecycle),
        ("GET", "/v1/sprites/a/usage", .read), ("GET", "/v1/sprites/a/check", .read),
        ("GET", "/v1/sprites/a/checkpoints", .read), ("POST", "/v1/sprites/a/checkpoint", .checkpoints),
        ("POST", "/v1/sprites/a/checkpoints/v1/restore", .checkpoints), ("DELETE", "/v1/sprites/a/checkpoints/v1", .checkpoints),
        ("GET", "/v1/sprites/a/exec", .read), ("POST", "/v1/sprites/a/exec", .exec), ("POST", "/v1/sprites/a/exec/3/kill", .exec),
        ("GET", "/v1/sprites/a/exec/3", .exec), ("GET", "/v1/sprites/a/proxy", .exec),
        ("GET", "/v1/sprites/a/ports/watch", .read), ("GET", "/v1/sprites/a/fs/watch", .files), ("GET", "/v1/sprites/a/fs/read", .files),
        ("PUT", "/v1/sprites/a/fs/write", .files), ("GET", "/v1/sprites/a/services", .read), ("PUT", "/v1/sprites/a/services/web", .exec),
        ("POST", "/v1/sprites/a/services/web/start", .exec), ("GET", "/v1/sprites/a/policy/network", .read),
        ("POST", "/v1/sprites/a/policy/network", .lifecycle), ("POST", "/v1/sprites/a/policy/resources", .lifecycle),
        ("POST", "/v1/sprites/a/policy/privileges", .admin), ("DELETE", "/v1/sprites/a/policy/privileges", .admin),
        ("GET", "/v1/sprites/a/policy/privileges", .read), ("POST", "/v1/sprites/a/url/login", .url),
    ])
    func spriteRoutes(method: String, path: String, permission: Permission) {
        #expect(RouteAccess.classify(HTTPRequest.Method(method)!, path) == .sprite("a", permission))
    }

    @Test("a WebSocket on exec runs a command; a GET on exec lists sessions")
    func execUpgrade() {
        #expect(RouteAccess.classify(.get, "/v1/sprites/a/exec", webSocket: true) == .sprite("a", .exec))
        #expect(RouteAccess.classify(.get, "/v1/sprites/a/exec") == .sprite("a", .read))
        #expect(RouteAccess.classify(.get, "/v1/sprites/a/control", webSocket: true) == .spriteControl("a"))
    }

    @Test("daemon routes: minting needs tokens, everything else about the daemon needs admin")
    func daemonRoutes() {
        #expect(RouteAccess.classify(.post, "/v1/organizations/hob/tokens") == .daemon(.tokens))
        #expect(RouteAccess.classify(.get, "/v1/organizations/hob/tokens") == .daemon(.admin))
        #expect(RouteAccess.classify(.delete, "/v1/organizations/hob/tokens/tok_1") == .daemon(.admin))
        #expect(RouteAccess.classify(.get, "/v1/events") == .daemon(.admin))
        #expect(RouteAccess.classify(.get, "/v1/usage") == .daemon(.admin))
        for method in [HTTPRequest.Method.get, .put, .delete] {
            #expect(RouteAccess.classify(method, "/v1/secrets/openai") == .daemon(.admin))
        }
        #expect(RouteAccess.classify(.get, "/v1/secrets") == .daemon(.admin))
        #expect(RouteAccess.classify(.get, "/v1/sprites") == .spriteList)
        #expect(RouteAccess.classify(.post, "/v1/sprites") == .spriteCreate)
        #expect(RouteAccess.classify(.get, "/openapi.json") == .open)
    }

    @Test("the dashboard's files are open; /metrics needs a fleet-wide read; /mcp takes any valid token")
    func operatorAndAgentRoutes() {
        for path in ["/", "/ui", "/ui/", "/ui/app.js"] { #expect(RouteAccess.classify(.get, path) == .open, "\(path)") }
        #expect(RouteAccess.classify(.post, "/ui/app.js") == nil)
        #expect(RouteAccess.classify(.get, "/ui/a/b") == nil)
        #expect(RouteAccess.classify(.get, "/metrics") == .fleetWide(.read))
        #expect(RouteAccess.classify(.post, "/metrics") == nil)
        // The MCP tools call the API with the same token, where each call is checked.
        for method in [HTTPRequest.Method.get, .post, .delete] { #expect(RouteAccess.classify(method, "/mcp") == .anyToken) }
    }

    @Test("changes and refusals are audited; an MCP message only when refused, its tools' calls being audited themselves")
    func audited() {
        #expect(AccessCheck.isAudited(.post, status: 201))
        #expect(!AccessCheck.isAudited(.get, status: 200))
        #expect(AccessCheck.isAudited(.get, status: 403))
        #expect(!AccessCheck.isAudited(.post, status: 200, need: .anyToken))
        #expect(AccessCheck.isAudited(.post, status: 401, need: .anyToken))
    }

    @Test("unknown paths have no need (admin only), and an escaped name is checked as the name it spells")
    func unknownAndEscaped() {
        #expect(RouteAccess.classify(.get, "/v2/anything") == nil)
        #expect(RouteAccess.classify(.post, "/v1/sprites/a/whatever") == nil)
        #expect(RouteAccess.classify(.post, "/openapi.json") == nil)
        #expect(RouteAccess.classify(.get, "/v1/sprites/%62/exec/1") == .sprite("b", .exec))
        #expect(RouteAccess.classify(.get, "/v1/sprites/%zz") == nil)
    }
}
