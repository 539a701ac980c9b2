// Hob's cookie on sprite URLs, and the sprites' own cookies on the way back. Unit-tested.
//
// Who can read Hob's cookie, and who can write one the browser would send with it:
//
// - Browsers scope cookies by host name, not by port or scheme (RFC 6265 §8.5): the cookie set by
//   `demo.hob.localhost:7080` also goes to `demo.hob.localhost:3000`, where `hob proxy` may forward
//   to a server in some sprite that reads every header. No attribute prevents that, so the value
//   itself must be harmless there: it is a URL session token (URLSessionToken.swift), which opens
//   this one sprite's URL for at most 12 h and is refused by the API. The API token is never in it.
// - Host-only (no Domain attribute): the browser never sends it to another sprite's host name or
//   to the parent domain. Path=/ so the whole site has it; HttpOnly so the sprite's page scripts
//   cannot read it; SameSite=Lax so cross-site subrequests do not carry it while links into the
//   sprite still work; Max-Age ends it with the token. Over TLS: Secure, and the `__Host-` prefix.
// - Sibling sprites are one site (they share the registrable domain unless the domain is on the
//   Public Suffix List), and a page on one of them can set cookies for the parent domain — from a
//   script (`document.cookie = "…; Domain=hob.localhost"`) or, if Hob let it through, a Set-Cookie
//   header — which the browser then sends to every sprite ("cookie tossing"). Against Hob's cookie
//   that gets nothing: the name is per sprite (`hob_url_<sprite id>`) and only a token whose MAC
//   holds for this sprite's id admits, so a tossed value never admits; every value under the name
//   is tried, so a tossed duplicate cannot shadow the real session either. Over TLS browsers refuse
//   a `__Host-` cookie that has a Domain attribute or lacks Secure, so the name cannot even be
//   tossed. Every cookie with the reserved prefix is removed before a request reaches the sprite.
// - On the way back (filteredSetCookie): a Set-Cookie whose Domain is not exactly the sprite's own
//   host loses that attribute (a host-only cookie is the narrowest there is), and one that names a
//   reserved cookie, or has no name, is dropped (a browser sends a nameless cookie as its bare
//   value, so `=hob_url_x=…` would arrive looking like Hob's).
//
// Sibling pages are same-site, so SameSite=Lax lets their requests carry the cookie; URLAccess
// admits it only on the sprite's own pages' requests and plain navigations (isOwnOrNavigation).
//
// What this does not stop: a sibling page's script tossing cookies with an app's own names at
// another sprite (session fixation in that app). That comes from sprites sharing one site: a
// deployment on a real domain should put that domain on the Public Suffix List.
//
// Before this, the cookie was `hob_url_token` and held the API token. Such cookies are no longer
// accepted, are removed before forwarding like every reserved name, and are expired by the next
// sign-in.
import Foundation
import NIOHTTP1

enum URLCookies {
    /// Every cookie whose name starts with this (after a `__Host-`/`__Secure-` prefix) is Hob's.
    static let reservedPrefix = "hob_url_"
    /// The cookie of earlier versions, which held the API token.
    static let legacyName = "hob_url_token"

    /// Hob's cookie for sprite `id`. Sprite ids are 16 hex characters, which cookie names allow.
    static func name(sprite id: String, secure: Bool) -> String {
        (secure ? "__Host-" : "") + reservedPrefix + id
    }

    /// The Set-Cookie value for a session `token` that ends `maxAge` seconds from now.
    static func setCookie(name: String, token: String, maxAge: Int, secure: Bool) -> String {
        "\(name)=\(token); Path=/; Max-Age=\(max(0, maxAge)); HttpOnly; SameSite=Lax" + (secure ? "; Secure" : "")
    }

    /// Removes a cookie from the browser (the legacy one, set host-only with Path=/).
    static func expire(name: String, secure: Bool) -> String {
        "\(name)=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax" + (secure ? "; Secure" : "")
    }

    /// Whether a cookie name is Hob's (case-insensitive, as a browser's prefix checks are).
    static func isReserved(_ name: some StringProtocol) -> Bool {
        var lower = name.trimmingCharacters(in: .whitespaces).lowercased()[...]
        for prefix in ["__host-", "__secure-"] where lower.hasPrefix(prefix) { lower = lower.dropFirst(prefix.count) }
        return lower.hasPrefix(reservedPrefix)
    }

    /// The name=value pairs of every Cookie header.
    static func pairs(_ headers: HTTPHeaders) -> [(name: String, value: String)] {
        headers["cookie"].flatMap { $0.split(separator: ";") }.map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let value = parts.count == 2 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
            return (parts[0].trimmingCharacters(in: .whitespaces), value)
        }
    }

    /// Every value the request carries under exactly `name`.
    static func values(named name: String, in headers: HTTPHeaders) -> [String] {
        pairs(headers).filter { $0.name == name }.map(\.value)
    }

    /// Removes every reserved cookie from the Cookie headers, keeping the sprite's own cookies.
    static func removeHobCookies(from headers: inout HTTPHeaders) {
        let values = headers["cookie"]
        guard !values.isEmpty else { return }
        headers.remove(name: "cookie")
        for value in values {
            let kept = value.split(separator: ";").filter { pair in
                !isReserved(pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0])
            }
            let joined = kept.map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: "; ")
            if !joined.isEmpty { headers.add(name: "Cookie", value: joined) }
        }
    }

    /// A Set-Cookie value from the sprite as the browser may get it, or nil to drop it: no reserved
    /// or empty name, and no Domain attribute but exactly `host` (the sprite's own host name,
    /// lowercased, without port). A nil `host` keeps no Domain attribute at all.
    static func filteredSetCookie(_ value: String, host: String?) -> String? {
        let fields = value.split(separator: ";", omittingEmptySubsequences: false)
        guard let pair = fields.first, let equals = pair.firstIndex(of: "=") else { return nil }
        let name = pair[..<equals].trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty, !isReserved(name) else { return nil }
        var dropped = false
        let attributes = fields.dropFirst().filter { attribute in
            let parts = attribute.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts[0].trimmingCharacters(in: .whitespaces).lowercased() == "domain" else { return true }
            var domain = (parts.count == 2 ? parts[1] : "").trimmingCharacters(in: .whitespaces).lowercased()[...]
            if domain.hasPrefix(".") { domain = domain.dropFirst() }
            if let host, !host.isEmpty, domain == host { return true }
            dropped = true
            return false
        }
        guard dropped else { return value }
        let kept = attributes.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return ([pair.trimmingCharacters(in: .whitespaces)] + kept).joined(separator: "; ")
    }

    /// Applies filteredSetCookie to every Set-Cookie header of a response from the sprite.
    static func filterSetCookies(_ headers: inout HTTPHeaders, host: String?) {
        let values = headers["set-cookie"]
        guard !values.isEmpty else { return }
        headers.remove(name: "set-cookie")
        for value in values {
            if let kept = filteredSetCookie(value, host: host) { headers.add(name: "Set-Cookie", value: kept) }
        }
    }
}
