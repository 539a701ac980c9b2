import Foundation
import HobCore
import NIOHTTP1
import Testing

@testable import HobServer

private func request(
    _ headers: [(String, String)], method: HTTPMethod = .GET, uri: String = "/", version: HTTPVersion = .http1_1
) -> HTTPRequestHead {
    HTTPRequestHead(version: version, method: method, uri: uri, headers: HTTPHeaders(headers))
}

@Suite("URL proxy: routing")
struct URLRoutingTests {
    func target(_ head: HTTPRequestHead) -> URLRouting.Target { URLRouting.target(of: head, domain: "hob.localhost") }

    func status(_ head: HTTPRequestHead) -> Int? {
        if case .refused(let answer) = target(head) { return Int(answer.status.code) }
        return nil
    }

    @Test("one label before the domain names the sprite, with or without a port, in any case, with a trailing dot")
    func names() {
        #expect(target(request([("Host", "demo.hob.localhost:7080")])) == .sprite("demo"))
        #expect(target(request([("Host", "Demo.HOB.localhost")])) == .sprite("demo"))
        #expect(target(request([("Host", "my-app-2.hob.localhost.:80")])) == .sprite("my-app-2"))
    }

    @Test(
        "anything that is not one sprite name under the domain is refused with a status that says why",
        arguments: [
            ("other.example.com", 421), ("127.0.0.1:7080", 421), ("hob.localhost", 421), ("demohob.localhost", 421),
            ("evil.com/.hob.localhost", 400), ("[::1]:7080", 400), ("demo.hob.localhost:http", 400), ("demo.hob.localhost:123456", 400),
            ("a..hob.localhost", 400), ("under_score.hob.localhost", 400), ("a.b.hob.localhost", 404), ("-x.hob.localhost", 404),
            (String(repeating: "a", count: 64) + ".hob.localhost", 404),
        ])
    func hosts(host: String, expected: Int) {
        #expect(status(request([("Host", host)])) == expected, "\(host)")
    }

    @Test("a missing or repeated Host is a 400")
    func hostCount() {
        #expect(status(request([])) == 400)
        #expect(status(request([], version: .http1_0)) == 400)
        #expect(status(request([("Host", "demo.hob.localhost"), ("Host", "demo.hob.localhost")])) == 400)
    }

    @Test("only origin-form targets: absolute-form, authority-form and asterisk-form are refused; CONNECT closes the connection")
    func targets() {
        let host = ("Host", "demo.hob.localhost")
        #expect(status(request([host], method: .GET, uri: "http://127.0.0.1:7070/v1/sprites")) == 400)
        #expect(status(request([host], method: .GET, uri: "127.0.0.1:22")) == 400)
        #expect(status(request([host], method: .OPTIONS, uri: "*")) == 400)
        guard case .refused(let connect) = target(request([host], method: .CONNECT, uri: "127.0.0.1:22")) else {
            Issue.record("CONNECT was accepted")
            return
        }
        #expect(connect.status == .methodNotAllowed && connect.close)
    }

    @Test("a transfer coding other than chunked is a 501")
    func transferCodings() {
        #expect(status(request([("Host", "demo.hob.localhost"), ("Transfer-Encoding", "gzip, chunked")], method: .POST, uri: "/")) == 501)
        #expect(target(request([("Host", "demo.hob.localhost"), ("Transfer-Encoding", "Chunked")], method: .POST, uri: "/")) == .sprite("demo"))
    }
}

@Suite("URL proxy: header rewriting")
struct URLHeadersTests {
    @Test("hop-by-hop headers go, those the Connection header names too; end-to-end ones stay")
    func hopByHop() {
        let head = request([
            ("Host", "demo.hob.localhost"), ("Connection", "keep-alive, X-Private"), ("Keep-Alive", "timeout=5"), ("X-Private", "1"),
            ("Proxy-Authorization", "Basic x"), ("TE", "trailers"), ("Upgrade", "h2c"), ("Accept", "*/*"), ("Expect", "100-continue"),
        ])
        let forwarded = URLHeaders.forwardedRequest(
            head, facts: URLRequestFacts(head), removeAuthorization: false, clientAddress: "192.0.2.1", scheme: "http")
        for gone in ["connection", "keep-alive", "x-private", "proxy-authorization", "te", "upgrade"] {
            #expect(!forwarded.headers.contains(name: gone), "\(gone)")
        }
        #expect(forwarded.headers["accept"] == ["*/*"])
        #expect(forwarded.headers["expect"] == ["100-continue"])
        #expect(forwarded.version == .http1_1)
    }

    @Test("an upgrade keeps its Upgrade pair")
    func upgrade() {
        let head = request([("Host", "demo.hob.localhost"), ("Connection", "Upgrade"), ("Upgrade", "websocket"), ("Sec-WebSocket-Key", "k")])
        let facts = URLRequestFacts(head)
        #expect(facts.upgrade == "websocket" && facts.endsParsing)
        let forwarded = URLHeaders.forwardedRequest(head, facts: facts, removeAuthorization: false, clientAddress: nil, scheme: "http")
        #expect(forwarded.headers["upgrade"] == ["websocket"])
        #expect(forwarded.headers["connection"] == ["Upgrade"])
        #expect(forwarded.headers["sec-websocket-key"] == ["k"])
        // Without `upgrade` among the Connection tokens it is no upgrade.
        #expect(URLRequestFacts(request([("Upgrade", "websocket")])).upgrade == nil)
    }

    @Test("a chunked body is declared chunked again for the encoder; a length is kept")
    func framing() {
        let chunked = request([("Host", "h"), ("Transfer-Encoding", "chunked")], method: .POST, uri: "/")
        let out = URLHeaders.forwardedRequest(chunked, facts: URLRequestFacts(chunked), removeAuthorization: false, clientAddress: nil, scheme: "http")
        #expect(out.headers["transfer-encoding"] == ["chunked"])
        #expect(URLRequestFacts(chunked).hasBody)
        let sized = request([("Host", "h"), ("Content-Length", "12")], method: .POST, uri: "/")
        let kept = URLHeaders.forwardedRequest(sized, facts: URLRequestFacts(sized), removeAuthorization: false, clientAddress: nil, scheme: "http")
        #expect(kept.headers["content-length"] == ["12"] && !kept.headers.contains(name: "transfer-encoding"))
        #expect(!URLRequestFacts(request([("Content-Length", "0")], method: .POST, uri: "/")).hasBody)
    }

    @Test("X-Forwarded-For is appended to; X-Forwarded-Proto and X-Forwarded-Host describe this hop")
    func forwardedHeaders() {
        let head = request([("Host", "demo.hob.localhost:7080"), ("X-Forwarded-For", "198.51.100.7"), ("X-Forwarded-Proto", "gopher")])
        let out = URLHeaders.forwardedRequest(head, facts: URLRequestFacts(head), removeAuthorization: false, clientAddress: "192.0.2.1", scheme: "https")
        #expect(out.headers["x-forwarded-for"] == ["198.51.100.7, 192.0.2.1"])
        #expect(out.headers["x-forwarded-proto"] == ["https"])
        #expect(out.headers["x-forwarded-host"] == ["demo.hob.localhost:7080"])
    }

    @Test("Hob's credential is removed: its cookies always, Authorization when it carried the token")
    func credentials() {
        let head = request([
            ("Host", "h"), ("Authorization", "Bearer hob_x"), ("Cookie", "a=1; hob_url_0123456789abcdef=hus1.x.y; b=2"), ("Cookie", "hob_url_token=y"),
        ])
        let out = URLHeaders.forwardedRequest(head, facts: URLRequestFacts(head), removeAuthorization: true, clientAddress: nil, scheme: "http")
        #expect(!out.headers.contains(name: "authorization"))
        #expect(out.headers["cookie"] == ["a=1; b=2"])
        let kept = URLHeaders.forwardedRequest(head, facts: URLRequestFacts(head), removeAuthorization: false, clientAddress: nil, scheme: "http")
        #expect(kept.headers["authorization"] == ["Bearer hob_x"])
    }

    func response(_ headers: [(String, String)], status: HTTPResponseStatus = .ok, version: HTTPVersion = .http1_1) -> HTTPResponseHead {
        HTTPResponseHead(version: version, status: status, headers: HTTPHeaders(headers))
    }

    @Test("responses keep a length, are chunked for HTTP/1.1 without one, and end with the connection for HTTP/1.0")
    func responseFraming() {
        let get11 = URLRequestFacts(request([("Host", "h")]))
        let (sized, sizedClose) = URLHeaders.forwardedResponse(response([("Content-Length", "3"), ("Connection", "close")]), to: get11)
        #expect(sized.headers["content-length"] == ["3"] && !sized.headers.contains(name: "transfer-encoding") && !sizedClose)
        #expect(!sized.headers.contains(name: "connection"), "the sprite closing its connection does not close the client's")

        let (streamed, streamedClose) = URLHeaders.forwardedResponse(response([("Content-Type", "text/event-stream")], version: .http1_0), to: get11)
        #expect(streamed.headers["transfer-encoding"] == ["chunked"] && !streamedClose && streamed.version == .http1_1)

        let get10 = URLRequestFacts(request([("Host", "h")], version: .http1_0))
        let (old, oldClose) = URLHeaders.forwardedResponse(response([("Transfer-Encoding", "chunked")]), to: get10)
        #expect(!old.headers.contains(name: "transfer-encoding") && oldClose && old.version == .http1_0)
    }

    @Test("HEAD, 204 and 304 responses get no framing of their own")
    func bodyless() {
        let head = URLRequestFacts(request([("Host", "h")], method: .HEAD, uri: "/"))
        let (out, close) = URLHeaders.forwardedResponse(response([("Transfer-Encoding", "chunked")]), to: head)
        #expect(!out.headers.contains(name: "transfer-encoding") && !close)
        let (sized, _) = URLHeaders.forwardedResponse(response([("Content-Length", "99")]), to: head)
        #expect(sized.headers["content-length"] == ["99"])
        let get = URLRequestFacts(request([("Host", "h")]))
        let (noContent, _) = URLHeaders.forwardedResponse(response([("Content-Length", "0")], status: .noContent), to: get)
        #expect(!noContent.headers.contains(name: "content-length") && !noContent.headers.contains(name: "transfer-encoding"))
        let (notModified, _) = URLHeaders.forwardedResponse(response([], status: .notModified), to: get)
        #expect(!notModified.headers.contains(name: "transfer-encoding"))
    }

    @Test("a client asking to close gets Connection: close")
    func clientClose() {
        let facts = URLRequestFacts(request([("Host", "h"), ("Connection", "close")]))
        let (out, close) = URLHeaders.forwardedResponse(response([("Content-Length", "1")]), to: facts)
        #expect(close && out.headers["connection"] == ["close"])
    }

    @Test("a 101 keeps the sprite's Upgrade and gets Connection: Upgrade")
    func switching() {
        let out = URLHeaders.switchingProtocols(
            response([("Upgrade", "websocket"), ("Connection", "upgrade"), ("Sec-WebSocket-Accept", "a")], status: .switchingProtocols), requested: "websocket", host: "h")
        #expect(out.headers["upgrade"] == ["websocket"] && out.headers["connection"] == ["Upgrade"] && out.headers["sec-websocket-accept"] == ["a"])
    }
}

@Suite("URL proxy: access")
struct URLAccessTests {
    static let id = "0123456789abcdef"
    let access = URLAccess(
        authority: TokenAuthority(org: "hob", key: Array(repeating: 2, count: 32), adminToken: "hob_right", store: MemoryAccessStore(), tokens: []),
        sessions: URLSessionTokens(key: Array(repeating: 1, count: 32)), logins: URLLoginLinks())
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func decide(
        _ uri: String = "/", _ headers: [(String, String)] = [], auth: String = "sprite", id: String = Self.id, secure: Bool = false
    ) -> URLAccess.Decision {
        access.decide(request(headers, uri: uri), sprite: URLAccess.Sprite(name: "demo", id: id, auth: auth), secure: secure, now: now)
    }

    func status(_ decision: URLAccess.Decision) -> Int? {
        if case .answer(let answer) = decision { return Int(answer.status.code) }
        return nil
    }

    func session(for id: String = Self.id, at time: Date? = nil) -> String { access.sessions.issue(sprite: id, now: time ?? now) }

    @Test("sprite: the API token as Bearer, or this sprite's session as cookie or Bearer admits; nothing else does")
    func spriteMode() {
        let cookie = "hob_url_\(Self.id)"
        #expect(decide("/", [("Authorization", "Bearer hob_right")]) == .allow(removeAuthorization: true))
        #expect(decide("/", [("Authorization", "bearer hob_right")]) == .allow(removeAuthorization: true))
        #expect(decide("/", [("Authorization", "Bearer \(session())")]) == .allow(removeAuthorization: true))
        #expect(decide("/", [("Cookie", "x=1; \(cookie)=\(session())")]) == .allow(removeAuthorization: false))
        #expect(decide("/", [("Cookie", "\(cookie)=\(session())"), ("Authorization", "Basic YTpi")]) == .allow(removeAuthorization: false))
        #expect(status(decide()) == 401)
        #expect(status(decide("/", [("Authorization", "Bearer hob_wrong")])) == 401)
        #expect(status(decide("/", [("Authorization", "Basic aG9iX3JpZ2h0")])) == 401)
    }

    @Test("the API token is no browser credential: as a cookie, under the old name or the new, it is a 401")
    func apiTokenCookie() {
        #expect(status(decide("/", [("Cookie", "hob_url_token=hob_right")])) == 401)
        #expect(status(decide("/", [("Cookie", "hob_url_\(Self.id)=hob_right")])) == 401)
    }

    @Test("another sprite's session, an expired one, or one under another name is a 401")
    func otherSessions() {
        let other = session(for: "fedcba9876543210")
        #expect(status(decide("/", [("Cookie", "hob_url_\(Self.id)=\(other)")])) == 401)
        #expect(status(decide("/", [("Cookie", "hob_url_fedcba9876543210=\(other)")])) == 401)
        #expect(status(decide("/", [("Authorization", "Bearer \(other)")])) == 401)
        let old = session(at: now - 13 * 3600)
        #expect(status(decide("/", [("Cookie", "hob_url_\(Self.id)=\(old)")])) == 401)
        #expect(status(decide("/", [("Cookie", "hob_url_token=\(session())")])) == 401)
        #expect(status(decide("/", [("Cookie", "other_hob_url_\(Self.id)=\(session())")])) == 401)
        // Over TLS only the __Host- name counts.
        #expect(status(decide("/", [("Cookie", "hob_url_\(Self.id)=\(session())")], secure: true)) == 401)
        #expect(decide("/", [("Cookie", "__Host-hob_url_\(Self.id)=\(session())")], secure: true) == .allow(removeAuthorization: false))
    }

    @Test("a tossed cookie under the sprite's name does not shadow the real session")
    func tossed() {
        let jar = "hob_url_\(Self.id)=hus1.forged.value; hob_url_\(Self.id)=\(session())"
        #expect(decide("/", [("Cookie", jar)]) == .allow(removeAuthorization: false))
    }

    @Test("the cookie admits the sprite's own pages and plain navigations; other pages' requests and WebSockets are a 401")
    func fetchMetadata() {
        let cookie = ("Cookie", "hob_url_\(Self.id)=\(session())")
        let host = ("Host", "demo.hob.localhost:7080")
        let webSocket = [("Connection", "Upgrade"), ("Upgrade", "websocket")]
        func with(_ headers: [(String, String)], method: HTTPMethod = .GET) -> URLAccess.Decision {
            access.decide(
                HTTPRequestHead(version: .http1_1, method: method, uri: "/", headers: HTTPHeaders([host, cookie] + headers)),
                sprite: URLAccess.Sprite(name: "demo", id: Self.id, auth: "sprite"), secure: false, now: now)
        }
        let admitted = URLAccess.Decision.allow(removeAuthorization: false)
        #expect(with([("Sec-Fetch-Site", "same-origin"), ("Sec-Fetch-Mode", "cors")], method: .POST) == admitted)
        #expect(with([("Sec-Fetch-Site", "same-origin"), ("Sec-Fetch-Mode", "websocket")] + webSocket) == admitted)
        #expect(with([("Sec-Fetch-Site", "none"), ("Sec-Fetch-Mode", "navigate")]) == admitted)
        #expect(with([("Sec-Fetch-Site", "same-site"), ("Sec-Fetch-Mode", "navigate")]) == admitted)
        #expect(with([("Sec-Fetch-Site", "cross-site"), ("Sec-Fetch-Mode", "navigate")]) == admitted)
        #expect(with([]) == admitted, "no browser: nothing to go by")
        #expect(with([("Origin", "http://demo.hob.localhost:7080")] + webSocket) == admitted)
        #expect(with([("Origin", "https://Demo.hob.localhost:7080")] + webSocket) == admitted, "TLS ended in front of Hob")
        #expect(status(with([("Sec-Fetch-Site", "same-site"), ("Sec-Fetch-Mode", "cors")])) == 401)
        #expect(status(with([("Sec-Fetch-Site", "same-site"), ("Sec-Fetch-Mode", "no-cors")])) == 401)
        #expect(status(with([("Sec-Fetch-Site", "same-site"), ("Sec-Fetch-Mode", "websocket")] + webSocket)) == 401)
        #expect(status(with([("Sec-Fetch-Site", "same-site"), ("Sec-Fetch-Mode", "navigate")], method: .POST)) == 401)
        #expect(status(with([("Sec-Fetch-Site", "cross-site"), ("Sec-Fetch-Mode", "cors")])) == 401)
        #expect(status(with([("Origin", "http://evil.hob.localhost:7080")] + webSocket)) == 401)
        #expect(status(with([("Origin", "http://demo.hob.localhost:3000")], method: .POST)) == 401)
        #expect(status(with([("Origin", "null")], method: .POST)) == 401)
        // A Bearer token is no ambient credential: where the request comes from does not matter.
        let bearer = ("Authorization", "Bearer \(session())")
        #expect(with([("Sec-Fetch-Site", "same-site"), ("Sec-Fetch-Mode", "cors"), bearer]) == .allow(removeAuthorization: true))
    }

    @Test("the 401 says how to get in and asks for a Bearer token")
    func challenge() {
        guard case .answer(let answer) = decide() else {
            Issue.record("admitted")
            return
        }
        #expect(answer.headers["www-authenticate"].first?.hasPrefix("Bearer") == true)
        #expect(answer.message.contains("hob url demo --open") && answer.message.contains("hob update demo --url-auth public"))
    }

    @Test("Hob's credentials are taken off whatever the scheme: FlyV1, a stale admin token, a second Authorization header")
    func credentialsNeverForwarded() {
        #expect(decide("/", [("Authorization", "FlyV1 hob_right")]) == .allow(removeAuthorization: true))
        #expect(decide("/", [("Authorization", "Bearer hob_stale")], auth: "public") == .allow(removeAuthorization: true))
        #expect(decide("/", [("Authorization", "Bearer hob/tok_x/AQ")], auth: "public") == .allow(removeAuthorization: true))
        #expect(decide("/", [("Authorization", "Basic YTpi"), ("Authorization", "Bearer hob_right")]) == .allow(removeAuthorization: true))
    }

    @Test("public: anyone; Hob's Bearer tokens are still taken off, a session of any sprite too")
    func publicMode() {
        #expect(decide(auth: "public") == .allow(removeAuthorization: false))
        #expect(decide("/", [("Authorization", "Bearer hob_right")], auth: "public") == .allow(removeAuthorization: true))
        #expect(decide("/", [("Authorization", "Bearer \(session(for: "fedcba9876543210"))")], auth: "public") == .allow(removeAuthorization: true))
        #expect(decide("/", [("Authorization", "Bearer app-token")], auth: "public") == .allow(removeAuthorization: false))
    }

    /// The session token a 302's Set-Cookie carries under `name`, if it does.
    func cookieToken(_ decision: URLAccess.Decision, name: String) -> String? {
        guard case .answer(let answer) = decision else { return nil }
        return answer.headers["set-cookie"].lazy.compactMap { value -> String? in
            guard value.hasPrefix(name + "=") else { return nil }
            return value.dropFirst(name.count + 1).split(separator: ";").first.map(String.init)
        }.first
    }

    /// A sign-in link's code for this sprite, as the API would issue it to a token expiring at `until`.
    func loginCode(until: Date? = nil) throws -> String {
        try access.logins.issue(sprite: Self.id, sessionUntil: until ?? .distantFuture, now: now).code
    }

    @Test("?hob_login= with a fresh code: 302 to the same URL without it, and a cookie holding a session for this sprite")
    func loginLink() throws {
        let decision = decide("/app/page?a=1&hob_login=\(try loginCode())&b=x%20y")
        guard case .answer(let answer) = decision else {
            Issue.record("not answered: \(decision)")
            return
        }
        #expect(answer.status == .found)
        #expect(answer.headers["location"] == ["/app/page?a=1&b=x%20y"])
        let token = try #require(cookieToken(decision, name: "hob_url_\(Self.id)"))
        #expect(access.sessions.check(token, sprite: Self.id, now: now) == .valid(expires: now + 43200))
        #expect(answer.headers["set-cookie"].first?.contains("Max-Age=43200") == true)
        guard case .answer(let secure) = decide("/?hob_login=\(try loginCode())", secure: true) else {
            Issue.record("not answered over TLS")
            return
        }
        #expect(secure.headers["set-cookie"].first?.hasPrefix("__Host-hob_url_\(Self.id)=") == true)
    }

    @Test("a code works once, within a minute, for its sprite only")
    func loginLinkOnce() throws {
        let code = try loginCode()
        #expect(decide("/?hob_login=\(code)").isRedirect)
        #expect(status(decide("/?hob_login=\(code)")) == 401)
        let late = try loginCode()
        #expect(status(access.decide(request([], uri: "/?hob_login=\(late)"), sprite: URLAccess.Sprite(name: "demo", id: Self.id, auth: "sprite"), secure: false, now: now + 61)) == 401)
        let elsewhere = try loginCode()
        #expect(status(decide("/?hob_login=\(elsewhere)", id: "fedcba9876543210")) == 401)
        #expect(status(decide("/?hob_login=\(elsewhere)")) == 401, "used up by the attempt on another sprite")
        #expect(status(decide("/?hob_login=garbage")) == 401)
        guard case .answer(let open) = decide("/p?hob_login=garbage&q=1", auth: "public") else {
            Issue.record("public sprite: the code must still leave the URL")
            return
        }
        #expect(open.status == .found && open.headers["location"] == ["/p?q=1"] && open.headers["set-cookie"].isEmpty)
    }

    @Test("the session a link opens ends no later than the token that asked for it")
    func loginLinkBoundedByToken() throws {
        let decision = decide("/?hob_login=\(try loginCode(until: now + 600))")
        let token = try #require(cookieToken(decision, name: "hob_url_\(Self.id)"))
        #expect(access.sessions.check(token, sprite: Self.id, now: now) == .valid(expires: now + 600))
    }

    @Test("no token is accepted in a URL: ?hob_token= is a 401 for a private sprite and is taken out for a public one")
    func tokenInURLRefused() {
        #expect(status(decide("/?hob_token=hob_right")) == 401)
        #expect(status(decide("/?hob_token=\(session())")) == 401)
        guard case .answer(let answer) = decide("/p?hob_token=hob_right&q=1", auth: "public") else {
            Issue.record("public sprite: the token must still leave the URL")
            return
        }
        #expect(answer.status == .found && answer.headers["location"] == ["/p?q=1"] && answer.headers["set-cookie"].isEmpty)
    }

    @Test("the token parameter is found percent-encoded, taken out wherever it is, and other parameters are left as they are")
    func takeQueryParameter() {
        func taken(_ uri: String) -> [String]? { URLAccess.takeQueryParameter("hob_token", from: uri).map { [$0.0, $0.1] } }
        #expect(taken("/") == nil)
        #expect(taken("/?a=1") == nil)
        #expect(taken("/?hob_token=t") == ["/", "t"])
        #expect(taken("/x?hob%5Ftoken=hob%5Fa&y=%2F") == ["/x?y=%2F", "hob_a"])
        #expect(taken("/x?y=1&hob_token=a&hob_token=b") == ["/x?y=1", "a"])
        #expect(taken("/x?hob_token") == ["/x", ""])
        // Never a redirect to another site.
        #expect(taken("//evil.example/x?hob_token=t") == ["/evil.example/x", "t"])
        #expect(taken("/\\evil.example?hob_token=t") == ["/evil.example", "t"])
    }
}

@Suite("Sprite URL formatting")
struct SpriteURLTests {
    @Test("the default is http://<name>.hob.localhost:7080/")
    func defaults() {
        #expect(URLProxySettings().url(of: "demo") == "http://demo.hob.localhost:7080/")
    }

    @Test("the port is left out when it is the scheme's default; TLS makes it https")
    func ports() {
        #expect(URLProxySettings(listenPort: 80, domain: "sprites.example.com").url(of: "a") == "http://a.sprites.example.com/")
        #expect(URLProxySettings(listenPort: 443).url(of: "a") == "http://a.hob.localhost:443/")
        let tls = URLProxySettings(listenPort: 443, domain: "x.dev", tlsCertificate: "c.pem", tlsKey: "k.pem")
        #expect(tls.url(of: "a") == "https://a.x.dev/")
        #expect(URLProxySettings(listenPort: 8443, tlsCertificate: "c.pem", tlsKey: "k.pem").url(of: "a") == "https://a.hob.localhost:8443/")
    }

    @Test("with the proxy off there is no URL")
    func off() {
        #expect(URLProxySettings(listenHost: nil).url(of: "demo") == "")
    }

    @Test("hob serve checks --url-listen and --url-domain")
    func serveFlags() {
        func address(_ text: String) -> String? { ServeCommand.parseAddress(text).map { "\($0.0) \($0.1)" } }
        #expect(address("0.0.0.0:443") == "0.0.0.0 443")
        #expect(address("[::]:7080") == ":: 7080")
        #expect(address("7080") == nil)
        #expect(ServeCommand.isOff("off") && ServeCommand.isOff("OFF") && !ServeCommand.isOff("127.0.0.1:7080"))
        #expect(ServeCommand.isValidDomain("hob.localhost") && ServeCommand.isValidDomain("sprites.example.com"))
        for bad in ["", "Hob.localhost", "hob.localhost.", ".hob", "a..b", "-a.b", "a_b.c"] { #expect(!ServeCommand.isValidDomain(bad), "\(bad)") }
    }
}

extension URLAccess.Decision {
    var isRedirect: Bool {
        if case .answer(let answer) = self { return answer.status == .found }
        return false
    }
}
