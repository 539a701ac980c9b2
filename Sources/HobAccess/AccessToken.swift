// The token string, in Sprites' shape `<org>/<id>/<secret>`:
//
//   <org>/<id>/<body>
//   body = base64url, unpadded, of: 0x01 (version) ‖ per caveat: length (2 bytes, big-endian) ‖ UTF-8
//          ‖ signature (32 bytes)
//
// The body is the macaroon (Macaroon.swift) whose identifier is `<org>/<id>`, so the organization
// and the id are signed too. The daemon derives the token's root key from its own key and the id
// (TokenAuthority): it stores no secret of any token, and anyone can attenuate a token offline
// (`hob token attenuate`) by appending caveats.
import Foundation

public struct AccessToken: Sendable, Equatable {
    public let org: String
    public let id: String
    public let macaroon: Macaroon

    static let version: UInt8 = 1
    /// Longer presented strings are not looked at.
    public static let maximumLength = 16 * 1024

    public init(org: String, id: String, macaroon: Macaroon) {
        self.org = org
        self.id = id
        self.macaroon = macaroon
    }

    /// A new token with no caveats, signed under `rootKey`.
    public init(org: String, id: String, rootKey: [UInt8]) {
        self.init(org: org, id: id, macaroon: Macaroon(rootKey: rootKey, identifier: Self.identifier(org: org, id: id)))
    }

    static func identifier(org: String, id: String) -> String { "\(org)/\(id)" }

    /// Whether a presented credential has this shape at all (an admin token does not).
    public static func looksLikeOne(_ text: String) -> Bool { text.contains("/") }

    public var caveats: [Caveat] {
        get throws(CaveatError) {
            var list: [Caveat] = []
            for text in macaroon.caveats { list.append(try Caveat.parse(text)) }
            return list
        }
    }

    /// This token with more caveats: it can do at most what this one can.
    public func attenuated(with more: [Caveat]) -> AccessToken {
        AccessToken(org: org, id: id, macaroon: more.reduce(macaroon) { $0.adding($1.text) })
    }

    public var string: String {
        var body: [UInt8] = [Self.version]
        for caveat in macaroon.caveats {
            let bytes = Array(caveat.utf8)
            body += [UInt8(bytes.count >> 8), UInt8(bytes.count & 0xff)] + bytes
        }
        body += macaroon.signature
        return "\(org)/\(id)/\(Base64URL.encode(body))"
    }

    /// Reads a token's shape; says nothing of whether its signature holds.
    public static func parse(_ text: String) throws(CaveatError) -> AccessToken {
        guard text.utf8.count <= maximumLength else { throw CaveatError("token is longer than \(maximumLength) bytes") }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty, let body = Base64URL.decode(parts[2]) else {
            throw CaveatError("not a Hob token (<org>/<id>/<body>)")
        }
        guard body.count >= 1 + 32, body[0] == version else { throw CaveatError("unknown token version") }
        var caveats: [String] = []
        var at = 1
        let end = body.count - 32
        while at < end {
            guard at + 2 <= end else { throw CaveatError("token body is cut short") }
            let length = Int(body[at]) << 8 | Int(body[at + 1])
            at += 2
            guard at + length <= end, length <= Caveat.maximumLength else { throw CaveatError("token body is cut short") }
            guard let caveat = String(validating: body[at..<(at + length)], as: UTF8.self) else {
                throw CaveatError("a caveat is not UTF-8")
            }
            caveats.append(caveat)
            at += length
            guard caveats.count <= Caveat.maximumCount else { throw CaveatError("more than \(Caveat.maximumCount) caveats") }
        }
        let org = String(parts[0]), id = String(parts[1])
        let macaroon = Macaroon(identifier: identifier(org: org, id: id), caveats: caveats, signature: Array(body[end...]))
        return AccessToken(org: org, id: id, macaroon: macaroon)
    }
}

/// base64url without padding (RFC 4648 §5), as tokens travel in headers, cookies and URLs.
public enum Base64URL {
    public static func encode(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// Nil for anything but the unpadded URL alphabet.
    public static func decode(_ text: Substring) -> [UInt8]? {
        let alphabet = text.utf8.allSatisfy { (65...90).contains($0) || (97...122).contains($0) || (48...57).contains($0) || $0 == 45 || $0 == 95 }
        guard alphabet, text.utf8.count % 4 != 1 else { return nil }
        let standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        let padded = standard + String(repeating: "=", count: (4 - standard.utf8.count % 4) % 4)
        return Data(base64Encoded: padded).map(Array.init)
    }
}
