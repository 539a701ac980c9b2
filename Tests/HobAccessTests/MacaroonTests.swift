import Foundation
import Crypto
@testable import HobAccess
import Testing

/// libmacaroons' published tutorial vectors (its README; repeated by jmacaroons, pymacaroons and
/// the Rust macaroon crate): the same root key, identifier and caveats must give these signatures.
@Suite("Macaroon construction")
struct MacaroonTests {
    let rootKey = Array("this is our super secret key; only we should know it".utf8)
    let identifier = "we used our secret key"

    func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    @Test("a new macaroon's signature matches libmacaroons'")
    func rootSignature() {
        let m = Macaroon(rootKey: rootKey, identifier: identifier)
        #expect(hex(m.signature) == "e3d9e02908526c4c0039ae15114115d97fdd68bf2ba379b342aaf0f617d0552f")
    }

    @Test("each first-party caveat moves the signature as in libmacaroons")
    func caveatChain() {
        var m = Macaroon(rootKey: rootKey, identifier: identifier).adding("account = 3735928559")
        #expect(hex(m.signature) == "1efe4763f290dbce0c1d08477367e11f4eee456a64933cf662d79772dbb82128")
        m = m.adding("time < 2020-01-01T00:00")
        #expect(hex(m.signature) == "b5f06c8c8ef92f6c82c6ff282cd1f8bd1849301d09a2db634ba182536a611c49")
        m = m.adding("email = alice@example.org")
        #expect(hex(m.signature) == "ddf553e46083e55b8d71ab822be3d8fcf21d6bf19c40d617bb9fb438934474b6")
        #expect(m.isValid(rootKey: rootKey))
    }

    @Test("removing, reordering or changing a caveat, or another key, breaks the signature")
    func tampering() {
        let m = Macaroon(rootKey: rootKey, identifier: identifier).adding("a=1").adding("b=2")
        #expect(!Macaroon(identifier: identifier, caveats: ["a=1"], signature: m.signature).isValid(rootKey: rootKey))
        #expect(!Macaroon(identifier: identifier, caveats: ["b=2", "a=1"], signature: m.signature).isValid(rootKey: rootKey))
        #expect(!Macaroon(identifier: identifier, caveats: ["a=1", "b=3"], signature: m.signature).isValid(rootKey: rootKey))
        #expect(!Macaroon(identifier: "other", caveats: ["a=1", "b=2"], signature: m.signature).isValid(rootKey: rootKey))
        #expect(!m.isValid(rootKey: Array("another key".utf8)))
        #expect(!Macaroon(identifier: identifier, caveats: m.caveats, signature: Array(m.signature.prefix(31))).isValid(rootKey: rootKey))
    }
}

@Suite("Token strings")
struct AccessTokenTests {
    let key = Array(repeating: UInt8(7), count: 32)

    @Test("a token survives printing and parsing, caveats and signature included")
    func roundTrip() throws {
        let token = AccessToken(org: "hob", id: "tok1", rootKey: key).attenuated(with: [.sprites(["demo"]), .ops([.exec])])
        let parsed = try AccessToken.parse(token.string)
        #expect(parsed == token)
        #expect(parsed.macaroon.isValid(rootKey: key))
        #expect(try parsed.caveats == [.sprites(["demo"]), .ops([.exec])])
        #expect(token.string.hasPrefix("hob/tok1/"))
    }

    @Test("an attenuated copy is valid under the same key, and the original cannot be recovered from it")
    func attenuation() throws {
        let token = AccessToken(org: "hob", id: "tok1", rootKey: key)
        let weaker = try AccessToken.parse(token.string).attenuated(with: [.expires(unixSeconds: 100)])
        #expect(weaker.macaroon.isValid(rootKey: key))
        #expect(weaker.macaroon.signature != token.macaroon.signature)
        let stripped = AccessToken(org: "hob", id: "tok1", macaroon: Macaroon(identifier: "hob/tok1", caveats: [], signature: weaker.macaroon.signature))
        #expect(!stripped.macaroon.isValid(rootKey: key))
    }

    @Test("the org and id are signed: moving a signature to another id fails")
    func identifierIsSigned() throws {
        let token = AccessToken(org: "hob", id: "tok1", rootKey: key)
        let moved = try AccessToken.parse(token.string.replacingOccurrences(of: "hob/tok1/", with: "hob/tok2/"))
        #expect(!moved.macaroon.isValid(rootKey: key))
    }

    @Test("malformed strings are refused with a reason", arguments: [
        "", "hob", "hob/tok1", "hob/tok1/", "/tok1/AQ", "hob//AQ", "hob/tok1/!!!", "hob/tok1/AQ", "a/b/c/d",
    ])
    func malformed(text: String) {
        #expect(throws: CaveatError.self) { try AccessToken.parse(text) }
    }

    @Test("a body whose caveat length runs past the signature is refused")
    func truncatedCaveat() {
        let body: [UInt8] = [1, 0x00, 0xff] + Array(repeating: 0, count: 32)
        #expect(throws: CaveatError.self) { try AccessToken.parse("hob/t/" + Base64URL.encode(body)) }
    }
}

@Suite("Caveats and scopes")
struct ScopeTests {
    @Test("caveats print and parse back", arguments: [
        Caveat.expires(unixSeconds: 1_765_000_000), .sprites(["a", "b"]), .prefix("agent-"), .label("team"),
        .ops([.exec, .read]), .maxSprites(3),
    ])
    func caveatText(caveat: Caveat) throws {
        #expect(try Caveat.parse(caveat.text) == caveat)
    }

    @Test("unknown or malformed caveats are refused (fail closed)", arguments: [
        "colour=blue", "expires=soon", "expires=-1", "expires=300000000000", "sprite=", "sprite=a,,b", "ops=exec,fly", "max_sprites=x", "noequals", "label=",
    ])
    func unknownCaveat(text: String) {
        #expect(throws: CaveatError.self) { try Caveat.parse(text) }
    }

    @Test("every caveat narrows: names, prefixes and labels must all hold")
    func coverage() {
        let scope = Scope(caveats: [.prefix("agent-"), .sprites(["agent-1", "agent-2", "other"]), .label("ci")])
        #expect(scope.covers(name: "agent-1", labels: ["ci", "x"]))
        #expect(!scope.covers(name: "agent-1", labels: ["x"]))
        #expect(!scope.covers(name: "agent-3", labels: ["ci"]))
        #expect(!scope.covers(name: "other", labels: ["ci"]))
        #expect(Scope.unrestricted.covers(name: "anything", labels: []))
    }

    @Test("ops intersect, expiries take the earliest, and admin needs an unscoped token")
    func opsAndExpiry() {
        let scope = Scope(caveats: [.ops([.exec, .read]), .ops([.exec, .files]), .expires(unixSeconds: 200), .expires(unixSeconds: 100)])
        #expect(scope.allowedOps == [.exec])
        #expect(scope.expires == 100)
        #expect(scope.isExpired(at: Date(timeIntervalSince1970: 100)))
        #expect(!scope.isExpired(at: Date(timeIntervalSince1970: 99)))
        #expect(Scope.unrestricted.allows(.admin))
        #expect(!Scope(caveats: [.prefix("a")]).allows(.admin))
        #expect(Scope(caveats: [.prefix("a")]).allows(.lifecycle))
    }

    @Test("a count cap counts the sprites of the caveats before it: narrowing a copy does not empty the count")
    func capOrder() {
        let scope = Scope(caveats: [.prefix("a-"), .maxSprites(1), .sprites(["a-2"])])
        #expect(scope.caps.count == 1 && scope.caps[0].limit == 1)
        #expect(scope.caps[0].counts(name: "a-1", labels: []), "a-1 is the original token's sprite, so it counts")
        #expect(!scope.caps[0].counts(name: "b-1", labels: []))
        #expect(!scope.covers(name: "a-1", labels: []), "but the copy may only touch a-2")
    }

    @Test("a scope's own caveats say the same scope")
    func caveatsRoundTrip() {
        let scope = Scope(caveats: [.ops([.exec]), .sprites(["a"]), .expires(unixSeconds: 5), .maxSprites(2), .label("x"), .prefix("a")])
        #expect(Scope(caveats: scope.caveats) == scope)
    }
}

@Suite("base64url")
struct Base64URLTests {
    @Test("encoding matches Foundation's base64 with the URL alphabet and no padding, and decodes back, for every length")
    func roundTrip() {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<70 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let foundation = Data(bytes).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            #expect(Base64URL.encode(bytes) == foundation)
            #expect(Base64URL.decode(Substring(foundation)) == bytes)
        }
    }

    @Test("other alphabets, padding, impossible lengths and non-zero leftover bits are refused", arguments: ["ab+c", "ab/c", "YQ==", "a", "abcde", "YR", "YWJ", "a b", "é"])
    func refused(text: String) {
        #expect(Base64URL.decode(Substring(text)) == nil)
    }
}

@Suite("HMAC-SHA256")
struct HMACTests {
    @Test("Macaroon's HMAC matches swift-crypto's for keys shorter than, equal to and longer than a block")
    func matchesSwiftCrypto() {
        for keyLength in [0, 1, 32, 63, 64, 65, 200] {
            let key = (0..<keyLength).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
            for message in [[], Array("hob".utf8), [UInt8](repeating: 9, count: 300)] as [[UInt8]] {
                let expected = Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)))
                #expect(Macaroon.mac(key: key, message) == expected, "key \(keyLength) bytes, message \(message.count) bytes")
            }
        }
    }
}
