import Foundation
import HTTPTypes
import HobAccess
import HobCore
import Logging
import Testing

@testable import HobServer

@Suite("JSON log lines")
struct JSONLogHandlerTests {
    @Test("a line is one JSON object with time, level, message, label, source and every metadata key")
    func line() throws {
        let text = JSONLogHandler.line(
            time: Date(timeIntervalSince1970: 1_796_656_000.25), level: .info, message: "sprite \"a\"\nbooted\u{1}", label: "hob",
            source: "HobCore", metadata: ["sprite": "a", "ms": "61", "list": ["x", "y"]])
        #expect(text.hasSuffix("}\n"))
        #expect(!text.dropLast().contains("\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["message"] as? String == "sprite \"a\"\nbooted\u{1}")
        #expect(object["level"] as? String == "info")
        #expect(object["sprite"] as? String == "a")
        #expect(object["time"] as? String == "2026-12-07T15:06:40.250Z")
        #expect(object["list"] as? [String] == ["x", "y"])
    }

    @Test("metadata cannot shadow the line's own fields")
    func noShadowing() throws {
        let text = JSONLogHandler.line(time: Date(), level: .error, message: "m", label: "hob", source: "s", metadata: ["level": "trace"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["level"] as? String == "error")
    }

    @Test("the request's id and sprite reach every line logged while it is answered")
    func context() async {
        let outside = LogContext.metadataProvider.get()
        #expect(outside.isEmpty)
        let inside = await LogContext.serving(request: "01ABC", sprite: LogContext.sprite(inPath: "/v1/sprites/demo/exec")) {
            await Task { LogContext.metadataProvider.get() }.value
        }
        #expect(inside["request_id"] == "01ABC")
        #expect(inside["sprite"] == "demo")
        #expect(LogContext.sprite(inPath: "/v1/sprites") == nil)
        #expect(LogContext.sprite(inPath: "/openapi.json") == nil)
    }
}

@Suite("Browser credentials and MCP origins")
struct BrowserCredentialTests {
    @Test("a token offered as a hob.token subprotocol becomes a Bearer header, and hob.v1 is selected")
    func subprotocolToken() throws {
        let token = "hob/tok_1/abc"
        let encoded = Base64URL.encode(Array(token.utf8))
        var fields = HTTPFields()
        fields[BrowserCredential.offers] = "hob.v1, hob.token.\(encoded)"
        let credential = BrowserCredential.authorization(fields)
        #expect(credential.authorization == "Bearer \(token)")
        #expect(credential.subprotocol == "hob.v1")
    }

    @Test("an Authorization header wins; no hob.v1 offer means no subprotocol and no token from it")
    func headerWins() {
        var fields = HTTPFields()
        fields[.authorization] = "Bearer admin"
        fields[BrowserCredential.offers] = "hob.v1, hob.token.\(Base64URL.encode(Array("other".utf8)))"
        #expect(BrowserCredential.authorization(fields).authorization == "Bearer admin")
        var other = HTTPFields()
        other[BrowserCredential.offers] = "chat, hob.token.\(Base64URL.encode(Array("x".utf8)))"
        #expect(BrowserCredential.authorization(other).authorization == nil)
        #expect(BrowserCredential.authorization(other).subprotocol == nil)
    }

    @Test("an MCP request's Origin must name the host it was sent to")
    func sameOrigin() {
        #expect(MCPRoute.isSameOrigin("http://127.0.0.1:7070", host: "127.0.0.1:7070"))
        #expect(MCPRoute.isSameOrigin("http://LOCALHOST:7070", host: "localhost:7070"))
        #expect(!MCPRoute.isSameOrigin("http://evil.example", host: "127.0.0.1:7070"))
        #expect(!MCPRoute.isSameOrigin("null", host: "127.0.0.1:7070"))
        #expect(!MCPRoute.isSameOrigin("http://127.0.0.1:7070", host: nil))
    }
}
