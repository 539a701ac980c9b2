// The browser credential of one sprite URL: a short-lived token that opens that sprite's URL and
// nothing else. Browsers hand cookies to every port of a host name, and a sprite can be shown on
// other ports of the same name (`hob proxy`) by a server that reads every request header; so what
// the cookie holds must be worth nothing but access to that one URL. The API token never goes in
// it: `?hob_token=<API token>` is exchanged for one of these.
//
//   hus1.<payload>.<mac>     each part base64url without padding
//   payload = "<sprite id>.<expiry, Unix seconds>.<nonce, 32 hex>"
//   mac     = HMAC-SHA256(daemon key, "hus1.<payload>")   — over the bytes as sent, so nothing is
//             re-encoded before checking, and the version is covered too.
//
// Bound to the sprite's id, not its name: a sprite destroyed and created again under the same name
// is another sprite, and the old sessions do not open it. The key is 32 random bytes in
// `<state>/url-session-key` (0600, created at first start); deleting it and restarting signs every
// browser out. The API (BearerAuthMiddleware) knows nothing of these tokens: they are 401 there.
// Checking is constant-time in the MAC (swift-crypto's HMAC comparison), and the payload is read
// only after the MAC holds.
import Crypto
import Foundation
import HobAccess
import HobCore
import HobOS

struct URLSessionTokens: Sendable {
    /// How long a browser session on a sprite URL lasts. Long enough for a working day; short
    /// enough that a token seen by something it should not have been is soon worthless.
    static let lifetime: TimeInterval = 12 * 3600
    static let version = "hus1"
    /// Longer presented strings are not looked at: a real token is about 130 characters.
    static let maximumLength = 512

    enum Check: Sendable, Equatable {
        case valid(expires: Date)
        /// Not a token of this format at all.
        case malformed
        /// The MAC does not match: tampered with, or made with another daemon's key.
        case forged
        /// Genuine, but for another sprite (or an earlier sprite of the same name).
        case otherSprite
        case expired

        var isValid: Bool { if case .valid = self { true } else { false } }
    }

    private let key: SymmetricKey

    /// `key`: the daemon's secret (URLSessionKey), 32 bytes.
    init(key: [UInt8]) {
        self.key = SymmetricKey(data: key)
    }

    /// A new token for sprite `id`, valid for `lifetime` from `now`.
    func issue(sprite id: String, now: Date = Date(), lifetime: TimeInterval = Self.lifetime) -> String {
        var generator = SystemRandomNumberGenerator()
        let nonce = (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        let expiry = Int((now.timeIntervalSince1970 + lifetime).rounded(.down))
        let signed = "\(Self.version).\(Base64URL.encode(Array("\(id).\(expiry).\(nonce)".utf8)))"
        let mac = HMAC<SHA256>.authenticationCode(for: Array(signed.utf8), using: key)
        return "\(signed).\(Base64URL.encode(Array(mac)))"
    }

    /// Whether `token` opens the URL of sprite `id` at `now`.
    func check(_ token: String, sprite id: String, now: Date = Date()) -> Check {
        guard token.utf8.count <= Self.maximumLength else { return .malformed }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == Self.version, let mac = Base64URL.decode(parts[2]), mac.count == SHA256.byteCount else {
            return .malformed
        }
        let signed = Array(token.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count))
        guard HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: signed, using: key) else { return .forged }
        // Only the daemon's key makes a MAC that holds, so from here on the payload is its own.
        guard let payload = Base64URL.decode(parts[1]) else { return .malformed }
        let fields = String(decoding: payload, as: UTF8.self).split(separator: ".", omittingEmptySubsequences: false)
        guard fields.count == 3, let expiry = Int(fields[1]) else { return .malformed }
        guard fields[0] == id else { return .otherSprite }
        let expires = Date(timeIntervalSince1970: TimeInterval(expiry))
        return expires > now ? .valid(expires: expires) : .expired
    }
}

/// The daemon's key for URL session tokens, kept in the state directory.
enum URLSessionKey {
    static func loadOrCreate(path: String) throws -> [UInt8] {
        try KeyFile.loadOrCreate(path: path, what: "URL session key", consequence: "browsers must then sign in to sprite URLs again")
    }
}
