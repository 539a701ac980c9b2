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
    public static func looksLikeOne(_ text: String) -> Bool { text.utf8.contains(UInt8(ascii: "/")) }

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

    /// Reads a token's shape; says nothing of whether its signature holds. Works on the UTF-8 bytes
    /// throughout: it runs on every token's first use.
    public static func parse(_ text: String) throws(CaveatError) -> AccessToken {
        let bytes = Array(text.utf8)
        guard bytes.count <= maximumLength else { throw CaveatError("token is longer than \(maximumLength) bytes") }
        let slash = UInt8(ascii: "/")
        guard let first = bytes.firstIndex(of: slash), let second = bytes[(first + 1)...].firstIndex(of: slash),
            !bytes[(second + 1)...].contains(slash), first > 0, second > first + 1,
            let body = Base64URL.decode(bytes: bytes[(second + 1)...])
        else {
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
        let org = String(decoding: bytes[..<first], as: UTF8.self)
        let id = String(decoding: bytes[(first + 1)..<second], as: UTF8.self)
        let macaroon = Macaroon(identifier: identifier(org: org, id: id), caveats: caveats, signature: Array(body[end...]))
        return AccessToken(org: org, id: id, macaroon: macaroon)
    }
}

/// base64url without padding (RFC 4648 §5), as tokens travel in headers, cookies and URLs. Decoded
/// by hand, on every request: Foundation's decoder with the alphabet swapped first cost more than
/// the rest of a token's verification.
public enum Base64URL {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xff, count: 256)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = UInt8(i) }
        return table
    }()

    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out += [alphabet[Int(n >> 18)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], alphabet[Int(n & 63)]]
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let n = UInt32(bytes[i]) << 16
            out += [alphabet[Int(n >> 18)], alphabet[Int(n >> 12 & 63)]]
        } else if rest == 2 {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out += [alphabet[Int(n >> 18)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)]]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Nil for anything but the unpadded URL alphabet (and for a length no encoding has).
    public static func decode(_ text: Substring) -> [UInt8]? { decode(bytes: text.utf8) }

    public static func decode<Bytes: Collection>(bytes input: Bytes) -> [UInt8]? where Bytes.Element == UInt8 {
        guard input.count % 4 != 1 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(input.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for c in input {
            let v = values[Int(c)]
            guard v != 0xff else { return nil }
            accumulator = accumulator << 6 | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        // The bits left over must be zero: one string per byte sequence.
        guard accumulator & ((1 << UInt32(bits)) - 1) == 0 else { return nil }
        return out
    }
}
