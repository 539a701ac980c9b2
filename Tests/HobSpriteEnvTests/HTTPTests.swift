import HobSpriteEnv
import Testing

@Suite("sprite-env HTTP")
struct HTTPTests {
    /// Feeds `bytes` in pieces of `step` and collects every event, the end of the connection included.
    func parse(_ text: String, step: Int = .max, method: String = "GET", close: Bool = true) throws -> [HTTPResponseParser.Event] {
        var parser = HTTPResponseParser(requestMethod: method)
        let bytes = Array(text.utf8)
        var events: [HTTPResponseParser.Event] = []
        var i = 0
        while i < bytes.count {
            let end = min(bytes.count, i + min(step, bytes.count))
            events += try parser.parse(bytes[i..<end])
            i = end
        }
        if close { events += try parser.finish() }
        return events
    }

    /// The body bytes of `events` joined.
    func body(_ events: [HTTPResponseParser.Event]) -> String {
        var bytes: [UInt8] = []
        for case .body(let b) in events { bytes += b }
        return String(decoding: bytes, as: UTF8.self)
    }

    func head(_ events: [HTTPResponseParser.Event]) -> HTTPResponseHead? {
        for case .head(let h) in events { return h }
        return nil
    }

    @Test("a request names the sprite host, closes the connection and frames its body")
    func request() {
        let post = HTTPRequest(method: "POST", target: "/v1/checkpoint", body: Array("{}".utf8), contentType: "application/json")
        #expect(
            String(decoding: post.serialized, as: UTF8.self)
                == "POST /v1/checkpoint HTTP/1.1\r\nHost: sprite\r\nUser-Agent: sprite-env (hob)\r\nAccept: */*\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
        let restore = String(decoding: HTTPRequest(method: "POST", target: "/v1/checkpoints/v1/restore").serialized, as: UTF8.self)
        #expect(restore.hasSuffix("Content-Length: 0\r\n\r\n"))
        let get = String(decoding: HTTPRequest(method: "GET", target: "/v1/checkpoints").serialized, as: UTF8.self)
        #expect(!get.contains("Content-Length"))
    }

    @Test("status, reason and headers are parsed; header lookup ignores case")
    func statusAndHeaders() throws {
        let events = try parse("HTTP/1.1 404 Not Found\r\nContent-Type:  application/json \r\nContent-Length: 2\r\n\r\n{}")
        let h = try #require(head(events))
        #expect(h.status == 404 && h.reason == "Not Found" && !h.isSuccess)
        #expect(h.header("content-type") == "application/json")
        #expect(body(events) == "{}")
        #expect(events.last == .end)
    }

    @Test("a Content-Length body ends at its length, in any split", arguments: [1, 3, 7, 1000])
    func contentLength(step: Int) throws {
        let events = try parse("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world", step: step, close: false)
        #expect(body(events) == "hello world")
        #expect(events.last == .end)
    }

    @Test("a chunked body is decoded in any split, extensions and trailers included", arguments: [1, 2, 5, 1000])
    func chunked(step: Int) throws {
        let text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n"
        let events = try parse(text, step: step, close: false)
        #expect(body(events) == "hello 0123456789")
        #expect(events.last == .end)
    }

    @Test("chunks are delivered as they arrive, before the response ends")
    func incremental() throws {
        var parser = HTTPResponseParser()
        let first = try parser.parse(Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nline1\n\r\n".utf8))
        #expect(body(first) == "line1\n")
        #expect(!first.contains(.end))
        #expect(try parser.parse(Array("0\r\n\r\n".utf8)) == [.end])
    }

    @Test("without framing headers the body runs until the connection closes")
    func untilClose() throws {
        let events = try parse("HTTP/1.0 200 OK\r\n\r\nall of it")
        #expect(body(events) == "all of it")
        #expect(events.last == .end)
    }

    @Test("204, 304 and answers to HEAD have no body")
    func bodyless() throws {
        #expect(try parse("HTTP/1.1 204 No Content\r\n\r\n", close: false).last == .end)
        #expect(try parse("HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", close: false).last == .end)
        #expect(try parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", method: "HEAD", close: false).last == .end)
    }

    @Test("100 Continue is skipped; bare LF line ends are accepted")
    func continueAndLF() throws {
        let events = try parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\nContent-Length: 2\n\nok", close: false)
        #expect(head(events)?.status == 201)
        #expect(body(events) == "ok")
    }

    @Test("a connection closed early is an error, not a short body")
    func truncated() {
        #expect(throws: HTTPParseError.self) { try parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort") }
        #expect(throws: HTTPParseError.self) { try parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab") }
        #expect(throws: HTTPParseError.self) { try parse("") }
    }

    @Test(
        "malformed responses are errors",
        arguments: [
            "HTTP/1.1 2000 OK\r\n\r\n", "SPDY 200 OK\r\n\r\n", "HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n",
        ])
    func malformed(_ text: String) {
        #expect(throws: HTTPParseError.self) { try parse(text) }
    }

    @Test("a head that never ends is refused past 64 KiB")
    func hugeHead() {
        var parser = HTTPResponseParser()
        let junk = Array("HTTP/1.1 200 OK\r\nX: ".utf8) + [UInt8](repeating: UInt8(ascii: "a"), count: 70_000)
        #expect(throws: HTTPParseError.self) { try parser.parse(junk) }
    }

    @Test("NDJSON lines are split across reads; CR is dropped; the last line may lack LF")
    func lines() {
        var splitter = LineSplitter()
        #expect(splitter.append(Array("{\"a\":1}\r\n{\"b\"".utf8)) == [Array("{\"a\":1}".utf8)])
        #expect(splitter.append(Array(":2}\n".utf8)) == [Array("{\"b\":2}".utf8)])
        #expect(splitter.append(Array("tail".utf8)).isEmpty)
        #expect(splitter.finish() == Array("tail".utf8))
        #expect(splitter.finish() == nil)
    }
}
