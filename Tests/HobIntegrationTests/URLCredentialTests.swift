// The URL credential is not the API credential (docs/SECURITY.md): the cookie a
// browser gets for a sprite URL is a short-lived session for that one sprite, which the API and
// every other sprite refuse; a sprite cannot set cookies for other sprites or overwrite Hob's; and
// the sprite's server never sees the API token or the session. Each test is an attack.
import Foundation
import Testing

extension HobIntegration {
    @Suite("Sprite URL credentials", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct URLCredentialTests {
        /// A browser's sign-in at `sprite`'s URL with a one-time link: the cookie's name=value pair
        /// and the whole Set-Cookie value.
        func signIn(_ daemon: DaemonFixture, _ sprite: String) async throws -> (name: String, value: String, setCookie: String) {
            let answer = try await daemon.viaURL(sprite, "GET", "/?hob_login=\(try await daemon.loginCode(sprite))")
            guard answer.status == 302, let setCookie = answer.header("set-cookie") else { throw TestFailure("no sign-in at \(sprite): \(answer)") }
            let pair = setCookie.split(separator: ";").first?.split(separator: "=", maxSplits: 1).map(String.init) ?? []
            guard pair.count == 2 else { throw TestFailure("not a cookie: \(setCookie)") }
            return (pair[0], pair[1], setCookie)
        }

        /// `value` percent-encoded for a query parameter.
        func query(_ value: String) -> String { value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "" }

        @Test("the cookie set by a sign-in link does not hold the API token, and the API answers 401 to it as a Bearer token")
        func cookieIsNotTheAPIToken() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let id = try await daemon.spriteID(name)
                let cookie = try await signIn(daemon, name)
                #expect(!cookie.setCookie.contains(daemon.token), "the cookie holds the API token: \(cookie.setCookie)")
                #expect(cookie.name == "hob_url_\(id)" && cookie.value.hasPrefix("hus1."), "\(cookie.setCookie)")
                for path in ["/v1/sprites", "/v1/sprites/\(name)"] {
                    let api = try await daemon.http("GET", path, credential: .bearer(cookie.value))
                    #expect(api.status == 401, "\(path) with the URL session: \(api)")
                }
                // It does open this sprite's URL (nothing listens there: admitted means 502, not 401).
                let admitted = try await daemon.viaURL(name, headers: [("Cookie", "\(cookie.name)=\(cookie.value)")])
                #expect(admitted.status == 502, "\(admitted)")
            }
        }

        @Test("sprite B's URL refuses sprite A's session: as a cookie under either name, as a Bearer token, as ?hob_token=; and A's sign-in link")
        func otherSpriteRefuses() async throws {
            let daemon = try DaemonFixture.shared()
            let other = TestEnvironment.spriteName()
            try await daemon.cleaningUp(sprites: [other]) {
                try await daemon.createSprite(other)
                try await daemon.withSprite { name in
                    let a = try await signIn(daemon, name)
                    let b = try await signIn(daemon, other)
                    #expect(a.name != b.name, "one cookie name for two sprites: \(a.name)")
                    let attempts: [(String, [(String, String)], String?, String)] = [
                        ("A's cookie as it is", [("Cookie", "\(a.name)=\(a.value)")], nil, "/"),
                        ("A's session under B's name", [("Cookie", "\(b.name)=\(a.value)")], nil, "/"),
                        ("A's session as Bearer", [], a.value, "/"),
                        ("A's session as ?hob_token=", [], nil, "/?hob_token=\(query(a.value))"),
                        ("A's sign-in link", [], nil, "/?hob_login=\(try await daemon.loginCode(name))"),
                    ]
                    for (label, headers, bearer, path) in attempts {
                        let refused = try await daemon.viaURL(other, "GET", path, headers: headers, bearer: bearer)
                        #expect(refused.status == 401, "\(label): \(refused)")
                    }
                    let own = try await daemon.viaURL(other, headers: [("Cookie", "\(b.name)=\(b.value)")])
                    #expect(own.status == 502, "B's own session must admit: \(own)")
                }
            }
        }

        @Test("a sprite destroyed and created again under the same name does not accept the old sessions")
        func recreatedSpriteRefuses() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let old = try await signIn(daemon, name)
                await daemon.destroySprite(name)
                try await daemon.createSprite(name)
                let renamed = "hob_url_\(try await daemon.spriteID(name))"
                for jar in ["\(old.name)=\(old.value)", "\(renamed)=\(old.value)"] {
                    let refused = try await daemon.viaURL(name, headers: [("Cookie", jar)])
                    #expect(refused.status == 401, "\(jar): \(refused)")
                }
            }
        }

        @Test("a sprite answering Set-Cookie with Domain=hob.localhost reaches the browser with a host-only cookie")
        func domainIsRemoved() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                try await daemon.startWebServer(in: name)
                let cookies = ["x=1; Domain=hob.localhost", "y=2; Path=/; domain=.hob.localhost", "z=3; Domain=\(name).hob.localhost"]
                let path = "/set-cookie?" + cookies.map { "c=\(query($0))" }.joined(separator: "&")
                let answer = try await daemon.viaURL(name, "GET", path, bearer: daemon.token)
                #expect(answer.status == 200, "\(answer)")
                #expect(answer.headers("set-cookie") == ["x=1", "y=2; Path=/", "z=3; Domain=\(name).hob.localhost"], "\(answer)")
            }
        }

        @Test("a sprite answering Set-Cookie with Hob's cookie names is dropped; its own cookies pass")
        func hobNamesAreDropped() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                try await daemon.startWebServer(in: name)
                let id = try await daemon.spriteID(name)
                let cookies = [
                    "hob_url_\(id)=evil; Path=/", "__Host-hob_url_\(id)=evil; Path=/; Secure", "hob_url_token=evil", "=hob_url_\(id)=evil",
                    "own=1; Path=/",
                ]
                let path = "/set-cookie?" + cookies.map { "c=\(query($0))" }.joined(separator: "&")
                let answer = try await daemon.viaURL(name, "GET", path, bearer: daemon.token)
                #expect(answer.status == 200, "\(answer)")
                #expect(answer.headers("set-cookie") == ["own=1; Path=/"], "\(answer)")
            }
        }

        @Test("a page of another sprite gets no use of the session: its WebSocket handshakes and fetches are 401, links work")
        func siblingPagesGetNoSession() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                try await daemon.startWebServer(in: name)
                let session = try await signIn(daemon, name)
                let cookie = ("Cookie", "\(session.name)=\(session.value)")
                let webSocket = [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13")]
                let sibling = [("Sec-Fetch-Site", "same-site"), ("Origin", "http://evil.hob.localhost:\(daemon.urlPort)")]
                let hijack = try await daemon.viaURL(name, "GET", "/ws", headers: [cookie, ("Sec-Fetch-Mode", "websocket")] + sibling + webSocket)
                #expect(hijack.status == 401, "a sibling's WebSocket: \(hijack)")
                let oldBrowser = try await daemon.viaURL(name, "GET", "/ws", headers: [cookie, ("Origin", "http://evil.hob.localhost:\(daemon.urlPort)")] + webSocket)
                #expect(oldBrowser.status == 401, "a sibling's WebSocket, without Fetch Metadata: \(oldBrowser)")
                let fetch = try await daemon.viaURL(name, "GET", "/name", headers: [cookie, ("Sec-Fetch-Mode", "cors")] + sibling)
                #expect(fetch.status == 401, "a sibling's fetch: \(fetch)")
                let link = try await daemon.viaURL(name, "GET", "/name", headers: [cookie, ("Sec-Fetch-Site", "same-site"), ("Sec-Fetch-Mode", "navigate")])
                #expect(link.status == 200 && link.text == name, "a link from a sibling: \(link)")
                let own = [("Sec-Fetch-Site", "same-origin"), ("Sec-Fetch-Mode", "websocket"), ("Origin", "http://\(daemon.urlHost(name))")]
                let ownSocket = try await daemon.viaURL(name, "GET", "/ws", headers: [cookie] + own + webSocket)
                #expect(ownSocket.status == 101, "the sprite's own page's WebSocket: \(ownSocket)")
            }
        }

        @Test("the sprite's server never receives the API token or a session: cookie, Bearer, legacy cookie, another sprite's session")
        func spriteSeesNoCredential() async throws {
            let daemon = try DaemonFixture.shared()
            let other = TestEnvironment.spriteName()
            try await daemon.cleaningUp(sprites: [other]) {
                try await daemon.createSprite(other)
                try await daemon.withSprite { name in
                    try await daemon.startWebServer(in: name)
                    let own = try await signIn(daemon, name)
                    let foreign = try await signIn(daemon, other)
                    let secrets = [daemon.token, own.value, foreign.value]
                    let jar = "theme=dark; \(own.name)=\(own.value); hob_url_token=\(daemon.token); \(foreign.name)=\(foreign.value)"
                    let requests: [(String, [(String, String)], String?)] = [
                        ("session cookie, legacy cookie and another sprite's cookie", [("Cookie", jar)], nil),
                        ("API token as Bearer", [], daemon.token),
                        ("session as Bearer", [], own.value),
                    ]
                    for (label, headers, bearer) in requests {
                        let seen = try await daemon.viaURL(name, headers: headers, bearer: bearer)
                        #expect(seen.status == 200, "\(label): \(seen)")
                        for secret in secrets { #expect(!seen.text.contains(secret), "\(label): the sprite saw a Hob credential: \(seen.text)") }
                        #expect(!seen.text.contains("hob_url_"), "\(label): \(seen.text)")
                    }
                    // Public: another sprite's session sent as Bearer is still not passed on.
                    _ = try await daemon.http("PUT", "/v1/sprites/\(name)", body: Data(#"{"url_settings":{"auth":"public"}}"#.utf8))
                    let stray = try await daemon.viaURL(name, bearer: foreign.value)
                    #expect(stray.status == 200 && !stray.text.contains(foreign.value), "\(stray)")
                }
            }
        }
    }
}
