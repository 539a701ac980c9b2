// Mints, verifies and revokes API tokens (docs/ACCESS.md).
//
// Two kinds of credential are accepted. The admin token (`<state>/admin-token`, made at first
// start) can do everything and is compared in constant time. Every other token is a macaroon
// (HobAccess/AccessToken.swift) whose root key is HMAC-SHA256(daemon token key, "hob-token-root/"
// + id): the daemon keeps no per-token secret, so its database holds nothing that signs a token.
//
// A token is valid when its org is this daemon's, its signature holds, every caveat is known, its
// id was minted here, and neither it nor any token above it (the one whose holder minted it) is
// revoked. Verification is a few HMACs and a dictionary lookup, no I/O (benchmarks/bench.py
// --tokens measures it against a 50 µs budget). A token whose chain held is remembered by its exact
// text, so the next request with it skips the HMACs; revocation and expiry are still checked on
// every use, and a token that failed is never remembered.
import Crypto
import Foundation
import HobAccess
import Synchronization

public final class TokenAuthority: Sendable {
    public let org: String
    private let key: SymmetricKey
    private let adminToken: [UInt8]
    private let store: any AccessStore
    /// Every minted token: its parent and whether it was revoked.
    private let minted: Mutex<[String: Lineage]>
    /// Tokens whose signature and caveats held, by their text: id and scope.
    private let verified = Mutex<[String: (id: String, scope: Scope)]>([:])
    /// Most tokens remembered; past it the memory starts afresh.
    static let verifiedCapacity = 4096

    struct Lineage {
        var parent: String?
        var revoked: Bool
    }

    /// `tokens`: every token minted so far (what `store` holds).
    public init(org: String, key: [UInt8], adminToken: String, store: any AccessStore, tokens: [TokenRecord]) {
        self.org = org
        self.key = SymmetricKey(data: key)
        self.adminToken = Array(adminToken.utf8)
        self.store = store
        var lineage: [String: Lineage] = [:]
        for t in tokens { lineage[t.id] = Lineage(parent: t.parent, revoked: t.revokedAt != nil) }
        minted = Mutex(lineage)
    }

    /// An authority over the tokens `store` holds.
    public convenience init(org: String, key: [UInt8], adminToken: String, store: any AccessStore) async throws {
        self.init(org: org, key: key, adminToken: adminToken, store: store, tokens: try await store.allTokens())
    }

    /// The grant of an `Authorization` header value: `Bearer <token>`, or `FlyV1 <token>` as the
    /// Sprites SDKs send when minting. Throws 401.
    public func verify(authorization header: String?, now: Date = Date()) throws(HobError) -> Grant {
        guard let header, !header.isEmpty else {
            throw HobError(.unauthorized, "missing Authorization header; send `Authorization: Bearer <token>`")
        }
        guard let token = Self.credential(inAuthorization: header) else {
            throw HobError(.unauthorized, "Authorization must be `Bearer <token>`")
        }
        return try verify(token, now: now)
    }

    /// The token of an `Authorization` value that carries one: `Bearer <token>`, or `FlyV1 <token>`
    /// (the scheme the Sprites SDKs mint with). Nil for any other scheme.
    public static func credential(inAuthorization value: String) -> String? {
        let parts = value.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, ["bearer", "flyv1"].contains(parts[0].lowercased()) else { return nil }
        return parts[1].trimmingCharacters(in: .whitespaces)
    }

    /// The grant of a presented token. Throws 401: invalid, revoked, or expired.
    public func verify(_ presented: String, now: Date = Date()) throws(HobError) -> Grant {
        guard AccessToken.looksLikeOne(presented) else {
            guard ConstantTime.equal(Array(presented.utf8), adminToken) else { throw HobError(.unauthorized, "invalid token") }
            return .admin
        }
        let (id, scope) = try signedScope(presented)
        switch standing(of: id) {
        case .unknown: throw HobError(.unauthorized, "invalid token")
        case .revoked(let by): throw Self.revoked(id, by: by)
        case .good: break
        }
        let grant = Grant(tokenID: id, scope: scope)
        try grant.requireFresh(now: now)
        return grant
    }

    /// The id and scope of a token whose org, signature and caveats hold (remembered or checked now).
    func signedScope(_ presented: String) throws(HobError) -> (id: String, scope: Scope) {
        if let known = verified.withLock({ $0[presented] }) { return known }
        let token: AccessToken
        let caveats: [Caveat]
        do {
            token = try AccessToken.parse(presented)
            caveats = try token.caveats
        } catch {
            throw HobError(.unauthorized, "invalid token: \(error)")
        }
        guard token.org == org, token.macaroon.isValid(rootKey: rootKey(id: token.id)) else {
            throw HobError(.unauthorized, "invalid token")
        }
        let result = (id: token.id, scope: Scope(caveats: caveats))
        verified.withLock { cache in
            if cache.count >= Self.verifiedCapacity { cache.removeAll(keepingCapacity: true) }
            cache[presented] = result
        }
        return result
    }

    static let maxMintDepth = 32

    /// How many tokens stand above `id` (0 for the admin token).
    func depth(of id: String?) -> Int {
        minted.withLock { lineage in
            var depth = 0
            var current = id
            while let at = current, depth <= 64 {
                depth += 1
                current = lineage[at]?.parent
            }
            return depth
        }
    }

    /// Throws 401 when the grant's token (or one above it) has been revoked since it was verified:
    /// for long connections, which check again at each operation.
    public func requireStanding(_ grant: Grant) throws(HobError) {
        guard let id = grant.tokenID else { return }
        if case .revoked(let by) = standing(of: id) { throw Self.revoked(id, by: by) }
    }

    /// 401 for token `id`, revoked itself or with the token `by` above it.
    static func revoked(_ id: String, by: String) -> HobError {
        HobError(.unauthorized, by == id ? "token \(id) was revoked" : "token \(id) was revoked with \(by)")
    }

    enum Standing: Equatable {
        case good, unknown
        case revoked(String)
    }

    func standing(of id: String) -> Standing {
        minted.withLock { lineage in
            var current: String? = id
            // A parent chain cannot loop (a parent exists before its child), but a corrupt
            // database must not hang verification: depth is bounded.
            for _ in 0..<64 {
                guard let at = current else { return .good }
                guard let entry = lineage[at] else { return .unknown }
                if entry.revoked { return .revoked(at) }
                current = entry.parent
            }
            return .unknown
        }
    }

    /// A new token for the holder of `grant`: it carries the holder's scope as caveats, then
    /// `caveats`, so it can never do more than its minter.
    public func mint(by grant: Grant, description: String, caveats: [Caveat], now: Date = Date()) async throws -> (AccessToken, TokenRecord) {
        try grant.require(.tokens, now: now)
        // Verification follows a token's ancestors (`standing`) at most 64 deep.
        guard depth(of: grant.tokenID) < Self.maxMintDepth else {
            throw HobError(.invalidArgument, "tokens may be minted from tokens at most \(Self.maxMintDepth) deep; mint this one from an earlier token")
        }
        let id = "tok_" + (0..<10).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        let all = grant.scope.caveats + caveats
        let token = AccessToken(org: org, id: id, rootKey: rootKey(id: id)).attenuated(with: all)
        let record = TokenRecord(
            id: id, description: description, caveats: all.map(\.text), parent: grant.tokenID, createdAt: now,
            expiresAt: Scope(caveats: all).expiryDate)
        try await store.insertToken(record)
        minted.withLock { $0[id] = Lineage(parent: grant.tokenID, revoked: false) }
        return (token, record)
    }

    /// Every token's record; one revoked with a token above it shows that token's revocation time.
    public func tokens() async throws -> [TokenRecord] {
        let records = try await store.allTokens()
        let byID = Dictionary(records.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        return records.map { record in
            guard record.revokedAt == nil, case .revoked(let by) = standing(of: record.id) else { return record }
            var shown = record
            shown.revokedAt = byID[by]?.revokedAt
            return shown
        }
    }

    /// Revokes a token and, with it, every token minted under it.
    public func revoke(id: String, now: Date = Date()) async throws {
        guard try await store.revokeToken(id: id, at: now) else { throw HobError(.notFound, "token \(id) not found") }
        minted.withLock { $0[id]?.revoked = true }
    }

    /// Forgets which tokens held, so the next verification of each checks its chain again (the
    /// benchmark's cold case).
    package func forgetVerified() { verified.withLock { $0.removeAll(keepingCapacity: true) } }

    /// For tests that forge tokens the daemon never minted.
    package func rootKeyForTests(id: String) -> [UInt8] { rootKey(id: id) }

    func rootKey(id: String) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Array("hob-token-root/\(id)".utf8), using: key))
    }
}
