// A first-party macaroon (Birgisson et al., "Macaroons: Cookies with Contextual Caveats for
// Decentralized Authorization in the Cloud", NDSS 2014), built as libmacaroons builds it, so that
// its published test vectors check this code (HobAccessTests):
//
//   k      = HMAC-SHA256(key: "macaroons-key-generator", message: root key)
//   sig_0  = HMAC-SHA256(key: k, message: identifier)
//   sig_i  = HMAC-SHA256(key: sig_(i-1), message: caveat_i)
//
// Whoever holds a macaroon can add a caveat: the next signature needs only the current one. Nobody
// can take one away: that needs the signature before it, which the holder no longer has. Only the
// holder of the root key can check the last signature. Hob uses neither locations nor third-party
// caveats, so they are not here.
import Crypto

public struct Macaroon: Sendable, Equatable {
    public let identifier: String
    /// First-party caveats, oldest first; each must hold for the macaroon to admit anything.
    public private(set) var caveats: [String]
    /// The chain's last HMAC (32 bytes).
    public private(set) var signature: [UInt8]

    static let keyGenerator = Array("macaroons-key-generator".utf8)

    /// A new macaroon with no caveats.
    public init(rootKey: [UInt8], identifier: String) {
        let derived = Self.mac(key: Self.keyGenerator, Array(rootKey))
        self.identifier = identifier
        caveats = []
        signature = Self.mac(key: derived, Array(identifier.utf8))
    }

    /// A macaroon as it was sent: not checked until `isValid(rootKey:)`.
    public init(identifier: String, caveats: [String], signature: [UInt8]) {
        self.identifier = identifier
        self.caveats = caveats
        self.signature = signature
    }

    /// This macaroon with one more caveat; needs no secret.
    public func adding(_ caveat: String) -> Macaroon {
        var next = self
        next.caveats.append(caveat)
        next.signature = Self.mac(key: signature, Array(caveat.utf8))
        return next
    }

    /// Whether the signature is the one `rootKey` gives for this identifier and these caveats, in
    /// this order. The comparison takes the same time wherever the signatures differ.
    public func isValid(rootKey: [UInt8]) -> Bool {
        var expected = Macaroon(rootKey: rootKey, identifier: identifier)
        for caveat in caveats { expected = expected.adding(caveat) }
        return ConstantTime.equal(expected.signature, signature)
    }

    /// HMAC-SHA256 (RFC 2104) over swift-crypto's SHA256: the same bytes as `HMAC<SHA256>`, without
    /// making a `SymmetricKey` per step, which was most of a chain's cost. Keys here are at most one
    /// block (64 bytes) except a caller's root key, which is hashed first as RFC 2104 says.
    static func mac(key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        let blockKey = key.count > 64 ? Array(SHA256.hash(data: key)) : key
        var inner = [UInt8](repeating: 0x36, count: 64)
        var outer = [UInt8](repeating: 0x5c, count: 64)
        for (i, byte) in blockKey.enumerated() {
            inner[i] ^= byte
            outer[i] ^= byte
        }
        var innerHash = SHA256()
        innerHash.update(data: inner)
        innerHash.update(data: message)
        var outerHash = SHA256()
        outerHash.update(data: outer)
        outerHash.update(data: Array(innerHash.finalize()))
        return Array(outerHash.finalize())
    }
}

/// Comparing secrets (signatures, the admin token) without the time taken telling where they differ.
public enum ConstantTime {
    /// Whether `a` and `b` hold the same bytes; the time depends only on the longer length.
    public static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<max(a.count, b.count) {
            difference |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return difference == 0
    }
}
