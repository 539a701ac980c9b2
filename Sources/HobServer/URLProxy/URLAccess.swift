// Who may open a sprite's URL (`url_settings.auth`, read on every request so a PUT takes effect
// on the next one):
//
//   public  anyone;
//   sprite  (the default) holders of a Hob API token that may open this sprite's URL (the admin
//           token, or a token whose scope covers the sprite and allows `url`; with
//           `url_settings.private_access` = `admins`, only a token without sprite scope that
//           allows `admin`), sent as `Authorization: Bearer <token>`, and browsers holding a URL
//           session for this sprite. A valid token for other sprites gets 404, as if the sprite did
//           not exist; an expired one 401. A browser signs in with a one-time link
//           (URLLoginLinks.swift: `?hob_login=<code>`, good once, for a minute), answered with a
//           302 to the same URL without it and a cookie holding a session token
//           (URLSessionToken.swift: this sprite only, 12 h at most), never an API token. No token
//           is ever accepted in a URL: `?hob_token=` is refused. A session token is accepted as a
//           Bearer token too.
//
// The cookie admits only requests the sprite's own pages make, and plain navigations from anywhere
// (isOwnOrNavigation): sibling sprites are one site, so SameSite does not hold their pages back.
//
// Hob's credentials never reach the sprite: every Hob cookie is removed (URLCookies.swift says how
// the cookie is scoped and why), and so is an Authorization header that carried an API token or
// anything shaped like a session token. API tokens are checked by the TokenAuthority, session
// tokens by their MAC.
import Foundation
import HobAccess
import HobCore
import NIOHTTP1

struct URLAccess: Sendable {
    /// The query parameter that once carried an API token; now refused (and always taken out).
    static let retiredQueryParameter = "hob_token"

    enum Decision: Sendable, Equatable {
        /// Forward the request; drop its Authorization header when it carried Hob's token.
        case allow(removeAuthorization: Bool)
        case answer(URLAnswer)
    }

    /// The sprite a request is for.
    struct Sprite: Sendable {
        var name: String
        /// Sessions are bound to the id: a sprite created again under the same name is another one.
        var id: String
        /// `url_settings.auth`.
        var auth: String
        var labels: [String] = []
        /// `url_settings.private_access`: `admins`, or `organization` (nil).
        var privateAccess: String?
    }

    let authority: TokenAuthority
    let sessions: URLSessionTokens
    let logins: URLLoginLinks

    /// What an API token presented for a sprite's URL amounts to.
    enum TokenStanding: Equatable {
        case admits
        /// Valid, but the sprite is out of its scope: the sprite is not shown to exist.
        case otherSprite
        /// Valid and in scope, but it may not open URLs (no `url` op, or not an admin token where
        /// `private_access` is `admins`).
        case notAllowed
        /// Not a valid token now (the reason says why: invalid, revoked, expired).
        case invalid(String)
    }

    func standing(of token: String, for sprite: Sprite, now: Date) -> TokenStanding {
        let grant: Grant
        do {
            grant = try authority.verify(token, now: now)
        } catch {
            return .invalid(error.message)
        }
        guard grant.covers(sprite.name, labels: sprite.labels) else { return .otherSprite }
        let needed: Permission = sprite.privateAccess == "admins" ? .admin : .url
        return grant.scope.allows(needed) ? .admits : .notAllowed
    }

    /// The decision for a request to `sprite`; `secure` when the proxy serves HTTPS.
    func decide(_ head: HTTPRequestHead, sprite: Sprite, secure: Bool, now: Date = Date()) -> Decision {
        let cookieName = URLCookies.name(sprite: sprite.id, secure: secure)
        if let (rest, code) = Self.takeQueryParameter(URLLoginLinks.queryParameter, from: head.uri) {
            // Even for a public sprite the code leaves the URL before anything is forwarded.
            if let until = logins.redeem(code, sprite: sprite.id, now: now) {
                let lifetime = min(URLSessionTokens.lifetime, until.timeIntervalSince(now))
                let session = sessions.issue(sprite: sprite.id, now: now, lifetime: lifetime)
                var cookies = [URLCookies.setCookie(name: cookieName, token: session, maxAge: Int(lifetime), secure: secure)]
                // A browser still holding the cookie of earlier versions (the API token) loses it.
                if !URLCookies.values(named: URLCookies.legacyName, in: head.headers).isEmpty {
                    cookies.append(URLCookies.expire(name: URLCookies.legacyName, secure: secure))
                }
                return .answer(Self.redirect(to: rest, cookies: cookies))
            }
            if sprite.auth != "public" {
                return .answer(Self.challenge(sprite.name, "This sign-in link is not valid: a link works once, within a minute, for its sprite only."))
            }
            return .answer(Self.redirect(to: rest, cookies: []))
        }
        if let (rest, _) = Self.takeQueryParameter(Self.retiredQueryParameter, from: head.uri) {
            // Tokens in URLs end up in history, logs and Referer headers: the parameter is taken
            // out and never exchanged for anything.
            if sprite.auth != "public" {
                return .answer(Self.challenge(sprite.name, "A token in the URL (?\(Self.retiredQueryParameter)=) is not accepted: it would be kept in browser history and logs."))
            }
            return .answer(Self.redirect(to: rest, cookies: []))
        }
        let bearer = Self.bearer(head.headers)
        let bearerSession = bearer.map { sessions.check($0, sprite: sprite.id, now: now).isValid } ?? false
        var apiToken: TokenStanding?
        if let bearer, !bearerSession { apiToken = standing(of: bearer, for: sprite, now: now) }
        if sprite.auth != "public" {
            switch apiToken {
            case .otherSprite?: return .answer(URLAnswer(.notFound, "There is no sprite called \(sprite.name)."))
            case .notAllowed?: return .answer(URLAnswer(.forbidden, "This token may not open the URL of sprite \(sprite.name)."))
            default: break
            }
        }
        let bearerAdmits = bearerSession || apiToken == .admits
        // Hob's credentials never reach the sprite: a session (this sprite's or not), any valid API
        // token, and anything shaped like one of this daemon's tokens, however stale.
        let shapedLikeHob = bearer.map {
            $0.hasPrefix(URLSessionTokens.version + ".") || $0.hasPrefix(authority.org + "/") || $0.hasPrefix("hob_")
        } ?? false
        let validAPIToken = apiToken.map { if case .invalid = $0 { false } else { true } } ?? false
        let bearerIsHob = bearerAdmits || shapedLikeHob || validAPIToken
        let sessionCookie = URLCookies.values(named: cookieName, in: head.headers).contains {
            sessions.check($0, sprite: sprite.id, now: now).isValid
        }
        let fromElsewhere = sessionCookie && !Self.isOwnOrNavigation(head)
        if sprite.auth == "public" || bearerAdmits || (sessionCookie && !fromElsewhere) {
            return .allow(removeAuthorization: bearerIsHob)
        }
        if fromElsewhere {
            let problem = "The session cookie is not accepted on a request another site's page made (Sec-Fetch-Site, Origin); open the URL itself."
            return .answer(Self.challenge(sprite.name, problem))
        }
        if case .invalid(let reason)? = apiToken { return .answer(Self.challenge(sprite.name, "The bearer token is not valid: \(reason).")) }
        return .answer(Self.challenge(sprite.name, bearer == nil ? nil : "The bearer token is not valid for this sprite."))
    }

    /// Whether the browser made this request for the sprite's own pages, or as a plain navigation
    /// (GET or HEAD, no upgrade) from anywhere. The cookie is ambient: without this, any page of a
    /// sibling sprite — the same site, so SameSite=Lax lets the cookie along — could send requests
    /// with it, and open WebSockets, whose answers no CORS rule keeps from that page (a web terminal
    /// in the sprite would be a shell for it). Browsers say where a request comes from in
    /// Sec-Fetch-Site; for those that do not, an Origin of another origin on a request that is not
    /// a plain GET/HEAD (or is a WebSocket handshake) refuses. Non-browser clients send neither.
    static func isOwnOrNavigation(_ head: HTTPRequestHead) -> Bool {
        let plain = (head.method == .GET || head.method == .HEAD) && URLHeaders.upgrade(head) == nil
        if let site = head.headers["sec-fetch-site"].first?.trimmingCharacters(in: .whitespaces).lowercased() {
            if site == "same-origin" || site == "none" { return true }
            return plain && head.headers["sec-fetch-mode"].first?.trimmingCharacters(in: .whitespaces).lowercased() == "navigate"
        }
        guard !plain, let origin = head.headers["origin"].first else { return true }
        guard let host = head.headers["host"].first else { return false }
        // The host and port decide; the scheme may differ behind a front proxy that ends TLS.
        let originHost = origin.trimmingCharacters(in: .whitespaces).lowercased().split(separator: "://", maxSplits: 1)
        return originHost.count == 2 && originHost[1] == host.lowercased()
    }

    /// 401 with what a person needs to get in.
    static func challenge(_ name: String, _ problem: String?) -> URLAnswer {
        let lines = [
            problem,
            "Sprite \(name) is private (url_settings.auth is \"sprite\"). To open it:",
            "  - send a Hob API token: Authorization: Bearer <token>",
            "  - or, in a browser, open a one-time sign-in link: hob url \(name) --open",
            "  - or make it public: hob update \(name) --url-auth public",
        ]
        return URLAnswer(.unauthorized, lines.compactMap { $0 }.joined(separator: "\n"), headers: ["WWW-Authenticate": "Bearer realm=\"hob\""])
    }

    static func redirect(to location: String, cookies: [String]) -> URLAnswer {
        var headers: HTTPHeaders = ["Location": location, "Cache-Control": "no-store"]
        for cookie in cookies { headers.add(name: "Set-Cookie", value: cookie) }
        return URLAnswer(.found, "Signed in; continue at \(location)", headers: headers)
    }

    /// The URI without any `name` parameter, and the first one's (percent-decoded) value; nil
    /// when there is none.
    static func takeQueryParameter(_ name: String, from uri: String) -> (String, String)? {
        guard let question = uri.firstIndex(of: "?") else { return nil }
        let path = uri[..<question]
        var token: String?
        var kept: [Substring] = []
        for item in uri[uri.index(after: question)...].split(separator: "&", omittingEmptySubsequences: false) {
            let key = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0]
            if (key.removingPercentEncoding ?? String(key)) == name {
                if token == nil {
                    let value = item.dropFirst(key.count + 1)
                    token = value.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(value)
                }
            } else {
                kept.append(item)
            }
        }
        guard let token else { return nil }
        // "//host/…" (or "/\\host") as a Location would send the browser to another site.
        let local = "/" + path.drop { $0 == "/" || $0 == "\\" }
        let rest = kept.filter { !$0.isEmpty }
        return (rest.isEmpty ? local : "\(local)?\(rest.joined(separator: "&"))", token)
    }

    /// The token of the first `Authorization: Bearer` (or `FlyV1`, which the API also takes)
    /// header, if there is one.
    static func bearer(_ headers: HTTPHeaders) -> String? {
        headers["authorization"].lazy.compactMap(TokenAuthority.credential(inAuthorization:)).first
    }
}
