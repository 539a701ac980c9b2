// One-time sign-in links for sprite URLs: how a person opens a private sprite in a browser without
// a long-lived token ever being in a URL (where it would stay in history, proxy logs and Referer
// headers).
//
//   POST /v1/sprites/{name}/url/login  (a token that may open the URL: `url`, or `admin` where
//                                       `private_access` is `admins`)
//     → {"url": "<sprite URL>/?hob_login=<code>", "expires_at"}
//   GET <sprite URL>/?hob_login=<code>  → 302 to the same URL without the code, setting the
//                                       sprite's session cookie (URLSessionToken.swift)
//
// A code is 32 random bytes, good once, for one minute, for that sprite only. The daemon keeps
// only its SHA-256, in memory: a restart voids outstanding links, which a minute's lifetime makes
// harmless. The session it opens lasts the usual 12 hours, but never longer than the token that
// asked for the link.
import Crypto
import Foundation
import HobAccess
import HobCore
import Synchronization

final class URLLoginLinks: Sendable {
    static let lifetime: TimeInterval = 60
    static let queryParameter = "hob_login"
    /// Outstanding links at most, in all and per sprite; expired ones are dropped first.
    static let capacity = 10_000
    static let capacityPerSprite = 100

    struct Entry {
        var spriteID: String
        var expires: Date
        /// When the session it opens must end at the latest.
        var sessionUntil: Date
    }

    private let entries = Mutex<[String: Entry]>([:])

    /// A new code for sprite `id`. Throws 429 when too many are outstanding.
    func issue(sprite id: String, sessionUntil: Date, now: Date = Date()) throws -> (code: String, expires: Date) {
        let code = Base64URL.encode(SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })
        let expires = now.addingTimeInterval(Self.lifetime)
        try entries.withLock { entries in
            var forSprite = entries.values.lazy.filter { $0.spriteID == id }.count
            if entries.count >= Self.capacity || forSprite >= Self.capacityPerSprite {
                entries = entries.filter { $0.value.expires > now }
                forSprite = entries.values.lazy.filter { $0.spriteID == id }.count
            }
            guard entries.count < Self.capacity, forSprite < Self.capacityPerSprite else {
                throw HobError(.rateLimited, "too many sign-in links are outstanding; try again in a minute", retryAfter: Int(Self.lifetime))
            }
            entries[Self.digest(code)] = Entry(spriteID: id, expires: expires, sessionUntil: sessionUntil)
        }
        return (code, expires)
    }

    /// Uses up `code`: when it was issued for sprite `id` and has not expired, the latest time the
    /// session it opens may last until. A code presented for another sprite is used up too.
    func redeem(_ code: String, sprite id: String, now: Date = Date()) -> Date? {
        let entry = entries.withLock { $0.removeValue(forKey: Self.digest(code)) }
        guard let entry, entry.spriteID == id, entry.expires > now else { return nil }
        return entry.sessionUntil
    }

    static func digest(_ code: String) -> String {
        SHA256.hash(data: Array(code.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
