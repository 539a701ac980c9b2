import Foundation
import HTTPTypes
import HobCore
import NIOCore
import NIOHTTP1
import NIOWebSocket
import Testing

@testable import HobServer

@Suite("HTTP edge deadlines")
struct ExchangeClockTests {
    let start = ContinuousClock.now
    var limits: HTTPEdgeLimits {
        var l = HTTPEdgeLimits()
        l.headerTimeout = .seconds(10)
        l.bodyTimeout = .seconds(30)
        l.idleTimeout = .seconds(60)
        return l
    }

    @Test("a new connection with nothing sent closes after the idle timeout, without an answer")
    func idle() {
        let clock = ExchangeClock(limits: limits, now: start)
        #expect(clock.deadline()?.at == start + .seconds(60))
        #expect(clock.expired(at: start + .seconds(59)) == nil)
        #expect(clock.expired(at: start + .seconds(60)) == .idle)
    }

    @Test("the head deadline runs from the first byte of a request, not from the connection")
    func head() {
        var clock = ExchangeClock(limits: limits, now: start)
        clock.bytesArrived(at: start + .seconds(50))
        #expect(clock.deadline()?.at == start + .seconds(60))
        #expect(clock.expired(at: start + .seconds(60)) == .head)
        // More bytes of the same head do not extend it (a slow-loris sends one at a time).
        clock.bytesArrived(at: start + .seconds(55))
        #expect(clock.deadline()?.at == start + .seconds(60))
    }

    @Test("a body that stops arriving expires after the body timeout of silence")
    func stalledBody() {
        var clock = ExchangeClock(limits: limits, now: start)
        clock.bytesArrived(at: start)
        clock.headRead(at: start + .seconds(1))
        clock.bytesArrived(at: start + .seconds(20))
        clock.readRequested(at: start + .seconds(20))
        #expect(clock.deadline()?.at == start + .seconds(50))
        #expect(clock.expired(at: start + .seconds(50)) == .body(answered: false))
    }

    @Test("a body the daemon is not reading (backpressure) has no deadline until it asks for more")
    func backpressure() {
        var clock = ExchangeClock(limits: limits, now: start)
        clock.bytesArrived(at: start)
        clock.headRead(at: start)
        #expect(clock.deadline() == nil)
        clock.readRequested(at: start + .seconds(100))
        #expect(clock.deadline()?.at == start + .seconds(130))
    }

    @Test("once an answer has started, a stalled body only closes the connection")
    func stalledBodyAfterAnswer() {
        var clock = ExchangeClock(limits: limits, now: start)
        clock.headRead(at: start)
        clock.answerStarted()
        #expect(clock.expired(at: start + .seconds(31)) == .body(answered: true))
    }

    @Test("no deadline while the daemon answers a request it has read")
    func answering() {
        var clock = ExchangeClock(limits: limits, now: start)
        clock.headRead(at: start)
        clock.endRead(at: start)
        #expect(clock.deadline() == nil)
        clock.answerStarted()
        let closes = clock.answerEnded(at: start + .seconds(500))
        #expect(!closes)
        #expect(clock.deadline()?.at == start + .seconds(560))
        #expect(clock.expired(at: start + .seconds(560)) == .idle)
    }

    @Test("SIGTERM closes a connection between requests at once, and one under way after its answer")
    func quiesce() {
        var idle = ExchangeClock(limits: limits, now: start)
        let idleCloses = idle.quiesce()
        #expect(idleCloses)
        var busy = ExchangeClock(limits: limits, now: start)
        busy.headRead(at: start)
        busy.endRead(at: start)
        let busyCloses = busy.quiesce()
        #expect(!busyCloses)
        busy.answerStarted()
        let closesAfterAnswer = busy.answerEnded(at: start)
        #expect(closesAfterAnswer)
    }
}

@Suite("WebSocket frame rules (RFC 6455)")
struct FrameRulesTests {
    func frame(_ opcode: WebSocketOpcode, _ bytes: [UInt8], fin: Bool = true, masked: Bool = true, rsv1: Bool = false) -> WebSocketFrame {
        let key: WebSocketMaskingKey? = masked ? WebSocketMaskingKey([1, 2, 3, 4]) : nil
        var data = ByteBuffer(bytes: bytes)
        if let key { data.webSocketMask(key) }
        return WebSocketFrame(fin: fin, rsv1: rsv1, opcode: opcode, maskKey: key, data: data)
    }

    @Test("masked text and binary frames pass")
    func valid() {
        var rules = FrameRules(maxMessageSize: 1024)
        #expect(rules.check(frame(.text, Array("héllo".utf8))) == nil)
        #expect(rules.check(frame(.binary, [0, 0xFF, 0xFE])) == nil)
        #expect(rules.check(frame(.ping, [])) == nil)
    }

    @Test("an unmasked client frame is a protocol error (1002)")
    func unmasked() {
        var rules = FrameRules(maxMessageSize: 1024)
        #expect(rules.check(frame(.binary, [0, 1], masked: false)) == .protocolError)
    }

    @Test("a text message that is not UTF-8 is 1007")
    func invalidUTF8() {
        var rules = FrameRules(maxMessageSize: 1024)
        #expect(rules.check(frame(.text, [0xFF, 0xFE, 0x41])) == .dataInconsistentWithMessage)
    }

    @Test("a character split across fragments is valid; a message that ends mid-character is not")
    func fragmentedText() {
        let e = Array("é".utf8)
        var rules = FrameRules(maxMessageSize: 1024)
        #expect(rules.check(frame(.text, [0x41, e[0]], fin: false)) == nil)
        #expect(rules.check(frame(.continuation, [e[1]])) == nil)
        #expect(rules.check(frame(.text, [0x41, e[0]], fin: false)) == nil)
        #expect(rules.check(frame(.continuation, [])) == .dataInconsistentWithMessage)
    }

    @Test("a message over the limit is 1009, whole or in fragments")
    func tooLarge() {
        var whole = FrameRules(maxMessageSize: 8)
        #expect(whole.check(frame(.binary, Array(repeating: 0, count: 9))) == .messageTooLarge)
        var split = FrameRules(maxMessageSize: 8)
        #expect(split.check(frame(.binary, Array(repeating: 0, count: 5), fin: false)) == nil)
        #expect(split.check(frame(.continuation, Array(repeating: 0, count: 5))) == .messageTooLarge)
    }

    @Test("an endpoint that streams binary messages lifts the limit for binary messages only")
    func streamedBinary() {
        var binary = FrameRules(maxMessageSize: 8, streamsBinary: true)
        #expect(binary.check(frame(.binary, Array(repeating: 0, count: 9))) == nil)
        #expect(binary.check(frame(.binary, Array(repeating: 0, count: 5), fin: false)) == nil)
        #expect(binary.check(frame(.continuation, Array(repeating: 0, count: 5), fin: false)) == nil)
        #expect(binary.check(frame(.continuation, Array(repeating: 0, count: 5))) == nil)
        var text = FrameRules(maxMessageSize: 8, streamsBinary: true)
        #expect(text.check(frame(.text, Array(repeating: 0x41, count: 5), fin: false)) == nil)
        #expect(text.check(frame(.continuation, Array(repeating: 0x41, count: 5))) == .messageTooLarge)
    }

    @Test("reserved bits, reserved opcodes and continuation out of place are 1002")
    func protocolErrors() {
        var a = FrameRules(maxMessageSize: 1024)
        #expect(a.check(frame(.binary, [1], rsv1: true)) == .protocolError)
        var b = FrameRules(maxMessageSize: 1024)
        #expect(b.check(frame(WebSocketOpcode(encodedWebSocketOpcode: 3)!, [1])) == .protocolError)
        var c = FrameRules(maxMessageSize: 1024)
        #expect(c.check(frame(.continuation, [1])) == .protocolError)
        var d = FrameRules(maxMessageSize: 1024)
        #expect(d.check(frame(.binary, [1], fin: false)) == nil)
        #expect(d.check(frame(.text, [0x41])) == .protocolError)
    }
}

@Suite("WebSocket opening handshake")
struct WebSocketHandshakeTests {
    func request(_ fields: HTTPFields, method: HTTPRequest.Method = .get) -> HTTPRequest {
        HTTPRequest(method: method, scheme: nil, authority: "x", path: "/v1/sprites/a/exec", headerFields: fields)
    }

    let valid: HTTPFields = [
        WebSocketHandshake.upgrade: "websocket", .connection: "keep-alive, Upgrade",
        WebSocketHandshake.key: "dGhlIHNhbXBsZSBub25jZQ==", WebSocketHandshake.version: "13",
    ]

    @Test("the accept value is the RFC's example")
    func acceptValue() {
        #expect(WebSocketHandshake.acceptValue(key: "dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    @Test("an upgrade is recognised by its tokens, in any case and list position")
    func recognised() {
        #expect(WebSocketHandshake.isUpgrade(request(valid)))
        var noConnection = valid
        noConnection[.connection] = "keep-alive"
        #expect(!WebSocketHandshake.isUpgrade(request(noConnection)))
    }

    @Test("a valid request is accepted with the accept value")
    func accepted() {
        guard case .accept(let value) = WebSocketHandshake.check(request(valid)) else { Issue.record("refused"); return }
        #expect(value == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    @Test("another version is 426 naming 13; a bad key or a POST is 400")
    func refused() {
        var version = valid
        version[WebSocketHandshake.version] = "8"
        guard case .refuse(let a) = WebSocketHandshake.check(request(version)) else { Issue.record("accepted"); return }
        #expect(a.head.status.code == 426)
        #expect(a.head.headerFields[WebSocketHandshake.version] == "13")
        var key = valid
        key[WebSocketHandshake.key] = "c2hvcnQ="
        guard case .refuse(let b) = WebSocketHandshake.check(request(key)) else { Issue.record("accepted"); return }
        #expect(b.head.status.code == 400)
        guard case .refuse(let c) = WebSocketHandshake.check(request(valid, method: .post)) else { Issue.record("accepted"); return }
        #expect(c.head.status.code == 400)
    }
}

@Suite("Request heads the edge refuses (RFC 9112)")
struct HeadCheckTests {
    func request(transferEncoding: String?) -> HTTPRequest {
        var fields: HTTPFields = [:]
        if let transferEncoding { fields[.transferEncoding] = transferEncoding }
        return HTTPRequest(method: .post, scheme: nil, authority: "x", path: "/", headerFields: fields)
    }

    @Test("chunked alone, or no Transfer-Encoding, passes")
    func passes() {
        #expect(HeadCheck.refusal(request(transferEncoding: nil)) == nil)
        #expect(HeadCheck.refusal(request(transferEncoding: "Chunked")) == nil)
    }

    @Test("an unknown coding is 501", arguments: ["gzip, chunked", "foo", "chunked, br"])
    func unknown(_ value: String) {
        #expect(HeadCheck.refusal(request(transferEncoding: value))?.head.status.code == 501)
    }

    @Test("chunked twice is 400")
    func twice() {
        #expect(HeadCheck.refusal(request(transferEncoding: "chunked, chunked"))?.head.status.code == 400)
    }

    @Test("edge answers close the connection and carry the Sprites body and a request id")
    func answerShape() throws {
        let answer = EdgeAnswer.malformed(HTTPParserError.invalidChunkSize)
        #expect(answer.head.status == .badRequest)
        #expect(answer.head.headerFields[.connection] == "close")
        #expect(answer.head.headerFields[.flyRequestID]?.count == 26)
        let body = try JSONSerialization.jsonObject(with: Data(answer.body.readableBytesView)) as? [String: Any]
        #expect(body?["error"] as? String == "bad_request")
        #expect(EdgeAnswer.malformed(HTTPParserError.headerOverflow).head.status.code == 431)
    }

    @Test("a body the parser rejects inside a route is a 400, not a 500")
    func parserErrorInRoute() {
        #expect(APIError.map(HTTPParserError.invalidChunkSize).0 == .badRequest)
    }
}

@Suite("Fly-Request-Id")
struct RequestIDTests {
    @Test("ids are 26 Crockford base32 characters")
    func shape() {
        let id = RequestID.make()
        #expect(id.count == 26)
        #expect(id.allSatisfy { "0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains($0) })
    }

    @Test("the layout puts time first and the sequence last")
    func layout() {
        #expect(RequestID.format(milliseconds: 0, random: 0, sequence: 1) == "00000000000000000000000001")
        #expect(RequestID.format(milliseconds: 1, random: 0, sequence: 0) < RequestID.format(milliseconds: 2, random: 0, sequence: 0))
        #expect(RequestID.format(milliseconds: 2, random: 0, sequence: 0) < RequestID.format(milliseconds: 3, random: 0, sequence: 0))
    }

    @Test("ids made at once never repeat")
    func unique() {
        let ids = (0..<20_000).map { _ in RequestID.make() }
        #expect(Set(ids).count == ids.count)
    }
}

@Suite("Fly-Request-Id through the URL proxy")
struct URLProxyRequestIDTests {
    @Test("a sprite's response gets the proxy's own id, replacing any the sprite sent")
    func forwarded() {
        let request = URLRequestFacts(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: ["Host": "demo.hob.localhost"]))
        let sprite = HTTPResponseHead(version: .http1_1, status: .ok, headers: ["Content-Length": "0", "Fly-Request-Id": "forged"])
        let (out, _) = URLHeaders.forwardedResponse(sprite, to: request)
        #expect(out.headers["fly-request-id"].count == 1)
        #expect(out.headers["fly-request-id"].first?.count == 26)
    }
}
