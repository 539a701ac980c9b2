// Who may open a sprite's URL (`url_settings.auth`, read on every request so a PUT takes effect
// on the next one):
//
//   public  anyone;
//   sprite  holders of Hob's API token (the default), sent as `Authorization: Bearer <token>` or,
//           for browsers, as a cookie: `?hob_token=<token>` on any URL answers 302 to the same URL
//           without the parameter and sets the cookie (HttpOnly, SameSite=Lax, host-only, Secure
//           over TLS), which later requests carry.
//
// Hob's credential never reaches the sprite: the cookie is always removed, and so is an
// Authorization header that carried Hob's token. The sprite's app must never see the API token.
// Tokens are compared in constant time (TokenCheck).
import Foundation
import NIOHTTP1

struct URLAccess: Sendable {
    static let cookie = "hob_url_token"
    static let queryParameter = "hob_token"

    enum Decision: Sendable, Equatable {
        /// Forward the request; drop its Authorization header when it carried Hob's token.
        case allow(removeAuthorization: Bool)
        case answer(URLAnswer)
    }

    let tokens: TokenCheck

    /// The decision for a request to sprite `name`, whose `url_settings.auth` is `auth`.
    func decide(_ head: HTTPRequestHead, sprite name: String, auth: String, secure: Bool) -> Decision {
        if let (rest, token) = Self.takeQueryToken(head.uri) {
            // Even for a public sprite the token leaves the URL before anything is forwarded.
            if tokens.accepts(token) {
                return .answer(Self.redirect(to: rest, cookie: Self.setCookie(token, secure: secure)))
            }
            if auth != "public" {
                return .answer(Self.challenge(name, "The hob_token in the URL is not a valid token."))
            }
            return .answer(Self.redirect(to: rest, cookie: nil))
        }
        let bearer = Self.bearer(head.headers)
        let bearerIsHob = bearer.map(tokens.accepts) ?? false
        if auth == "public" || bearerIsHob || Self.cookies(head.headers).contains(where: tokens.accepts) {
            return .allow(removeAuthorization: bearerIsHob)
        }
        return .answer(Self.challenge(name, bearer == nil ? nil : "The bearer token is not valid."))
    }

    /// 401 with what a person needs to get in.
    static func challenge(_ name: String, _ problem: String?) -> URLAnswer {
        let lines = [
            problem,
            "Sprite \(name) is private (url_settings.auth is \"sprite\"). To open it:",
            "  - send a Hob API token: Authorization: Bearer <token>",
            "  - or, in a browser, add ?\(queryParameter)=<token> to the URL once (it sets a cookie)",
            "  - or make it public: hob update \(name) --url-auth public",
        ]
        return URLAnswer(.unauthorized, lines.compactMap { $0 }.joined(separator: "\n"), headers: ["WWW-Authenticate": "Bearer realm=\"hob\""])
    }

    static func redirect(to location: String, cookie: String?) -> URLAnswer {
        var headers: HTTPHeaders = ["Location": location, "Cache-Control": "no-store"]
        if let cookie { headers.add(name: "Set-Cookie", value: cookie) }
        return URLAnswer(.found, "Signed in; continue at \(location)", headers: headers)
    }

    /// A host-only session cookie (no Domain attribute: one sprite's cookie is not sent to another).
    static func setCookie(_ token: String, secure: Bool) -> String {
        "\(cookie)=\(token); Path=/; HttpOnly; SameSite=Lax" + (secure ? "; Secure" : "")
    }

    /// The URI without any `hob_token` parameter, and the first one's (percent-decoded) value;
    /// nil when there is none.
    static func takeQueryToken(_ uri: String) -> (String, String)? {
        guard let question = uri.firstIndex(of: "?") else { return nil }
        let path = uri[..<question]
        var token: String?
        var kept: [Substring] = []
        for item in uri[uri.index(after: question)...].split(separator: "&", omittingEmptySubsequences: false) {
            let key = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0]
            if (key.removingPercentEncoding ?? String(key)) == queryParameter {
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

    /// The token of an `Authorization: Bearer` header, if that is what it holds.
    static func bearer(_ headers: HTTPHeaders) -> String? {
        guard let value = headers["authorization"].first else { return nil }
        let parts = value.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return parts[1].trimmingCharacters(in: .whitespaces)
    }

    /// The values of every Hob cookie the request carries.
    static func cookies(_ headers: HTTPHeaders) -> [String] {
        headers["cookie"].flatMap { $0.split(separator: ";") }.compactMap { pair in
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == cookie else { return nil }
            return parts[1].trimmingCharacters(in: .whitespaces)
        }
    }

    /// Removes Hob's cookie from every Cookie header, keeping the sprite's own cookies.
    static func removeCookie(from headers: inout HTTPHeaders) {
        let values = headers["cookie"]
        guard !values.isEmpty else { return }
        headers.remove(name: "cookie")
        for value in values {
            let kept = value.split(separator: ";").filter { pair in
                pair.split(separator: "=", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces) } != cookie
            }
            let joined = kept.map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: "; ")
            if !joined.isEmpty { headers.add(name: "Cookie", value: joined) }
        }
    }
}
