import Foundation
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
