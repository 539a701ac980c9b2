import Foundation
import Glibc
import HobAccess
import HobCore
import HobOS
import NIOHTTP1
import Testing

@testable import HobServer

private let key = Array(repeating: UInt8(7), count: 32)
private let now = Date(timeIntervalSince1970: 1_800_000_000)

@Suite("URL session tokens")
struct URLSessionTokenTests {
    let sessions = URLSessionTokens(key: key)

    @Test("a token opens its sprite until it expires, 12 h after it was issued")
    func valid() {
        let token = sessions.issue(sprite: "0123456789abcdef", now: now)
        #expect(sessions.check(token, sprite: "0123456789abcdef", now: now) == .valid(expires: now + 12 * 3600))
        #expect(sessions.check(token, sprite: "0123456789abcdef", now: now + 12 * 3600 - 1).isValid)
    }

    @Test("the format is hus1.<payload>.<mac> in base64url, and no two tokens are alike")
    func format() {
        let token = sessions.issue(sprite: "0123456789abcdef", now: now)
        let parts = token.split(separator: ".")
        #expect(parts.count == 3 && parts[0] == "hus1", "\(token)")
        #expect(token.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }, "\(token)")
        #expect(Base64URL.decode(parts[2])?.count == 32)
        #expect(sessions.issue(sprite: "0123456789abcdef", now: now) != token, "the nonce makes each token new")
    }

    @Test("an expired token is refused")
    func expired() {
        let token = sessions.issue(sprite: "0123456789abcdef", now: now)
        #expect(sessions.check(token, sprite: "0123456789abcdef", now: now + 12 * 3600) == .expired)
        #expect(sessions.check(token, sprite: "0123456789abcdef", now: now + 365 * 86400) == .expired)
    }

    @Test("another sprite's token is refused, and so is one for an earlier sprite of the same name (another id)")
    func otherSprite() {
        let token = sessions.issue(sprite: "0123456789abcdef", now: now)
        #expect(sessions.check(token, sprite: "fedcba9876543210", now: now) == .otherSprite)
    }

    @Test("a token with any part changed is forged: payload (another sprite, a later expiry), MAC, version")
    func tampered() {
        let token = sessions.issue(sprite: "0123456789abcdef", now: now)
        let parts = token.split(separator: ".").map(String.init)
        let payload = String(decoding: Base64URL.decode(Substring(parts[1])) ?? [], as: UTF8.self).split(separator: ".")
        let otherSprite = Base64URL.encode(Array("fedcba9876543210.\(payload[1]).\(payload[2])".utf8))
        #expect(sessions.check("hus1.\(otherSprite).\(parts[2])", sprite: "fedcba9876543210", now: now) == .forged)
        let later = Base64URL.encode(Array("\(payload[0]).\((Int(payload[1]) ?? 0) + 86400 * 365).\(payload[2])".utf8))
        #expect(sessions.check("hus1.\(later).\(parts[2])", sprite: "0123456789abcdef", now: now) == .forged)
        var mac = Base64URL.decode(Substring(parts[2])) ?? []
        mac[0] ^= 1
        #expect(sessions.check("hus1.\(parts[1]).\(Base64URL.encode(mac))", sprite: "0123456789abcdef", now: now) == .forged)
        #expect(sessions.check("hus2.\(parts[1]).\(parts[2])", sprite: "0123456789abcdef", now: now) == .malformed)
    }

    @Test("a token made with another daemon's key is forged")
    func wrongKey() {
        let other = URLSessionTokens(key: Array(repeating: UInt8(8), count: 32))
        let token = other.issue(sprite: "0123456789abcdef", now: now)
        #expect(sessions.check(token, sprite: "0123456789abcdef", now: now) == .forged)
    }

    @Test("garbage is malformed, the API token too", arguments: [
        "", "hus1", "hus1..", "hus1.a.b", "hus1.!!!.abc", "hob_0123456789abcdef0123456789abcdef", "hus1.YQ.YQ.YQ",
        String(repeating: "A", count: 600), "hus1.\(String(repeating: "A", count: 600)).\(Base64URL.encode(Array(repeating: 0, count: 32)))",
    ])
    func garbage(text: String) {
        #expect(sessions.check(text, sprite: "0123456789abcdef", now: now) == .malformed)
    }

    @Test("the key is made once, 0600, and read back the same; a broken key file stops the daemon with a way out")
    func keyFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hob-url-key-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/url-session-key"
        let made = try URLSessionKey.loadOrCreate(path: path)
        #expect(made.count == 32)
        var info = stat()
        #expect(stat(path, &info) == 0 && info.st_mode & 0o777 == 0o600)
        #expect(try URLSessionKey.loadOrCreate(path: path) == made)
        try Files.writeAtomically(path, "short\n", mode: 0o600)
        #expect(throws: HobError.self) { try URLSessionKey.loadOrCreate(path: path) }
    }
}

@Suite("URL cookies")
struct URLCookieTests {
    func filtered(_ value: String) -> String? { URLCookies.filteredSetCookie(value, host: "demo.hob.localhost") }

    @Test("the cookie is per sprite, host-only, HttpOnly, SameSite=Lax, and __Host- with Secure over TLS")
    func setCookie() {
        #expect(URLCookies.name(sprite: "0123456789abcdef", secure: false) == "hob_url_0123456789abcdef")
        #expect(URLCookies.setCookie(name: "hob_url_x", token: "t", maxAge: 43200, secure: false) == "hob_url_x=t; Path=/; Max-Age=43200; HttpOnly; SameSite=Lax")
        let secure = URLCookies.setCookie(name: URLCookies.name(sprite: "ab", secure: true), token: "t", maxAge: 5, secure: true)
        #expect(secure == "__Host-hob_url_ab=t; Path=/; Max-Age=5; HttpOnly; SameSite=Lax; Secure")
    }

    @Test("a sprite's cookies without Domain, or with exactly its own host, pass unchanged")
    func ownCookies() {
        for value in ["sid=1", "sid=1; Path=/; HttpOnly", "sid=1; Domain=demo.hob.localhost; Secure", "sid=1; domain=.Demo.Hob.Localhost", "a=b=c"] {
            #expect(filtered(value) == value, "\(value)")
        }
    }

    @Test("any other Domain is removed, which makes the cookie host-only", arguments: [
        ("x=1; Domain=hob.localhost", "x=1"),
        ("x=1; Path=/; domain=.hob.localhost; HttpOnly", "x=1; Path=/; HttpOnly"),
        ("x=1; Domain=other.hob.localhost", "x=1"),
        ("x=1; Domain=localhost; Secure", "x=1; Secure"),
        ("x=1; Domain=example.com", "x=1"),
        ("x=1; Domain=", "x=1"),
        ("x=1; Domain=demo.hob.localhost; Domain=hob.localhost", "x=1; Domain=demo.hob.localhost"),
        ("x=1; DOMAIN = hob.localhost ;Path=/", "x=1; Path=/"),
    ])
    func otherDomains(value: String, expected: String) {
        #expect(filtered(value) == expected)
    }

    @Test("a cookie with Hob's reserved names, or with no name, is dropped", arguments: [
        "hob_url_0123456789abcdef=evil", "hob_url_token=evil; Path=/", "HOB_URL_x=1", " hob_url_x=1", "__Host-hob_url_x=1; Secure; Path=/",
        "__secure-hob_url_x=1", "=hob_url_x=evil", "hob_url_x", "justavalue",
    ])
    func reserved(value: String) {
        #expect(filtered(value) == nil)
    }

    @Test("every Set-Cookie of a forwarded response is filtered, other headers untouched")
    func responses() {
        let head = HTTPResponseHead(
            version: .http1_1, status: .ok,
            headers: HTTPHeaders([("Set-Cookie", "a=1; Domain=hob.localhost"), ("Set-Cookie", "hob_url_x=evil"), ("Set-Cookie", "b=2"), ("Content-Length", "0")]))
        let request = URLRequestFacts(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: HTTPHeaders([("Host", "Demo.hob.localhost:7080")])))
        let (out, _) = URLHeaders.forwardedResponse(head, to: request)
        #expect(out.headers["set-cookie"] == ["a=1", "b=2"])
        #expect(out.headers["content-length"] == ["0"])
        let earlyHints = HTTPResponseHead(
            version: .http1_1, status: .init(statusCode: 103), headers: HTTPHeaders([("Set-Cookie", "a=1; Domain=hob.localhost")]))
        #expect(URLHeaders.forwardedInterim(earlyHints, host: "demo.hob.localhost").headers["set-cookie"] == ["a=1"])
        let upgraded = HTTPResponseHead(version: .http1_1, status: .switchingProtocols, headers: HTTPHeaders([("Set-Cookie", "hob_url_x=1")]))
        let switching = URLHeaders.switchingProtocols(upgraded, requested: "websocket", host: "demo.hob.localhost")
        #expect(!switching.headers.contains(name: "set-cookie"))
    }

    @Test("every reserved cookie is removed before forwarding; the sprite's own cookies stay")
    func removal() {
        var headers = HTTPHeaders([
            ("Cookie", "a=1; hob_url_0123456789abcdef=t; b=2"), ("Cookie", "hob_url_token=hob_x; __Host-hob_url_ab=z"), ("Cookie", "c=3;HOB_URL_y=1"),
        ])
        URLCookies.removeHobCookies(from: &headers)
        #expect(headers["cookie"] == ["a=1; b=2", "c=3"])
    }
}
