import Foundation
import HobAccess
import HobCore
import Logging
import Testing

@Suite("Token authority")
struct TokenAuthorityTests {
    let key = Array(repeating: UInt8(9), count: 32)
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func authority(_ store: MemoryAccessStore = MemoryAccessStore()) async throws -> TokenAuthority {
        try await TokenAuthority(org: "hob", key: key, adminToken: "hob_admin", store: store)
    }

    func isUnauthorized(_ error: any Error) -> Bool { (error as? HobError)?.code == .unauthorized }

    @Test("the admin token is accepted as Bearer or FlyV1, case-insensitive scheme")
    func adminHeader() async throws {
        let a = try await authority()
        for header in ["Bearer hob_admin", "bearer hob_admin", "FlyV1 hob_admin"] {
            #expect(try a.verify(authorization: header) == .admin)
        }
    }

    @Test("missing, malformed and wrong credentials are 401s", arguments: [
        nil, "", "hob_admin", "Basic hob_admin", "Bearer hob_admi", "Bearer hob_adminX", "Bearer ",
    ])
    func rejectedHeaders(_ header: String?) async throws {
        let a = try await authority()
        #expect(performing: { try a.verify(authorization: header) }, throws: isUnauthorized)
    }

    @Test("a minted token carries the minter's scope and its own caveats")
    func mint() async throws {
        let a = try await authority()
        let (parent, _) = try await a.mint(by: .admin, description: "ci", caveats: [.prefix("ci-"), .ops([.exec, .read, .tokens])], now: now)
        let parentGrant = try a.verify(parent.string, now: now)
        #expect(parentGrant.tokenID == parent.id)
        let (child, record) = try await a.mint(by: parentGrant, description: "one job", caveats: [.sprites(["ci-7"]), .ops([.exec])], now: now)
        #expect(record.parent == parent.id)
        let grant = try a.verify(child.string, now: now)
        #expect(grant.scope.allowedOps == [.exec])
        #expect(grant.covers("ci-7", labels: []) && !grant.covers("ci-8", labels: []))
    }

    @Test("a token may not mint unless it allows tokens")
    func mintNeedsPermission() async throws {
        let a = try await authority()
        let (t, _) = try await a.mint(by: .admin, description: "", caveats: [.ops([.exec])], now: now)
        await #expect(throws: HobError.self) { try await a.mint(by: try a.verify(t.string, now: now), description: "", caveats: [], now: now) }
    }

    @Test("tokens mint tokens at most 32 deep, so every minted token can be verified")
    func mintDepth() async throws {
        let a = try await authority()
        var grant = Grant.admin
        for _ in 0..<32 {
            let (t, _) = try await a.mint(by: grant, description: "", caveats: [], now: now)
            grant = try a.verify(t.string, now: now)
        }
        let last = grant
        await #expect(throws: HobError.self) { try await a.mint(by: last, description: "", caveats: [], now: now) }
    }

    @Test("a revoked token fails the standing check a long connection makes at each operation")
    func standing() async throws {
        let a = try await authority()
        let (t, _) = try await a.mint(by: .admin, description: "", caveats: [], now: now)
        let grant = try a.verify(t.string, now: now)
        try a.requireStanding(grant)
        try await a.revoke(id: t.id)
        #expect(performing: { try a.requireStanding(grant) }, throws: isUnauthorized)
        try a.requireStanding(.admin)
    }

    @Test("offline attenuation is accepted and can only narrow")
    func attenuation() async throws {
        let a = try await authority()
        let (t, _) = try await a.mint(by: .admin, description: "", caveats: [.sprites(["a", "b"])], now: now)
        let narrowed = try AccessToken.parse(t.string).attenuated(with: [.sprites(["b", "c"]), .ops([.read])])
        let grant = try a.verify(narrowed.string, now: now)
        #expect(grant.covers("b", labels: []) && !grant.covers("a", labels: []) && !grant.covers("c", labels: []))
        #expect(grant.scope.allowedOps == [.read])
    }

    @Test("expired, revoked (with everything minted under it), forged, foreign and unknown tokens are 401s")
    func refusals() async throws {
        let store = MemoryAccessStore()
        let a = try await authority(store)
        let (short, _) = try await a.mint(by: .admin, description: "", caveats: [.expires(unixSeconds: Int64(now.timeIntervalSince1970) + 60)], now: now)
        #expect(throws: Never.self) { try a.verify(short.string, now: now) }
        #expect(performing: { try a.verify(short.string, now: now + 60) }, throws: isUnauthorized)

        let (parent, _) = try await a.mint(by: .admin, description: "", caveats: [], now: now)
        let (child, _) = try await a.mint(by: try a.verify(parent.string, now: now), description: "", caveats: [], now: now)
        try await a.revoke(id: parent.id)
        #expect(try await a.tokens().first { $0.id == child.id }?.revokedAt != nil, "the list shows the child revoked with its parent")
        #expect(performing: { try a.verify(parent.string, now: now) }, throws: isUnauthorized)
        #expect(performing: { try a.verify(child.string, now: now) }, throws: isUnauthorized)
        // A restarted daemon reads the revocation back.
        let restarted = try await authority(store)
        #expect(performing: { try restarted.verify(child.string, now: now) }, throws: isUnauthorized)

        let (good, _) = try await a.mint(by: .admin, description: "", caveats: [], now: now)
        let other = try await TokenAuthority(org: "hob", key: Array(repeating: 1, count: 32), adminToken: "x", store: store)
        #expect(performing: { try other.verify(good.string, now: now) }, throws: isUnauthorized)
        let foreign = AccessToken(org: "elsewhere", id: good.id, rootKey: [1])
        #expect(performing: { try a.verify(foreign.string, now: now) }, throws: isUnauthorized)
        let unknown = AccessToken(org: "hob", id: "tok_never", rootKey: a.rootKeyForTests(id: "tok_never"))
        #expect(performing: { try a.verify(unknown.string, now: now) }, throws: isUnauthorized)
        let unknownCaveat = try AccessToken.parse(good.string).attenuated(with: []).macaroon.adding("colour=blue")
        let withUnknown = AccessToken(org: "hob", id: good.id, macaroon: unknownCaveat)
        #expect(performing: { try a.verify(withUnknown.string, now: now) }, throws: isUnauthorized)
    }

    @Test("sprites out of scope are 404 as if missing; missing permissions 403; admin needs an unscoped token")
    func grantAnswers() throws {
        let grant = Grant(tokenID: "t", scope: Scope(caveats: [.sprites(["a"]), .ops([.exec])]))
        #expect(performing: { try grant.require(.exec, sprite: "b", labels: []) }, throws: { ($0 as? HobError)?.message == "sprite b not found" })
        #expect(performing: { try grant.require(.checkpoints, sprite: "a", labels: []) }, throws: { ($0 as? HobError)?.code == .permissionDenied })
        try grant.require(.exec, sprite: "a", labels: [])
        let labelled = Grant(tokenID: "t", scope: Scope(caveats: [.label("team")]))
        #expect(performing: { try labelled.require(.read, sprite: "a", labels: nil) }, throws: { ($0 as? HobError)?.code == .notFound })
        #expect(performing: { try labelled.require(.admin) }, throws: { ($0 as? HobError)?.code == .permissionDenied })
    }

    @Test("the audit log keeps the newest events up to its capacity, and a query sees what was just recorded")
    func auditLog() async throws {
        let store = MemoryAccessStore()
        let log = AuditLog(store: store, capacity: 3, logger: .init(label: "test"))
        for i in 1...5 { await log.record(AuditRecord(time: now, token: "admin", action: "POST /v1/x/\(i)", sprite: i % 2 == 0 ? "even" : nil, status: 200)) }
        await log.trim()
        let all = try await log.events(AuditQuery())
        #expect(all.map(\.action) == ["POST /v1/x/5", "POST /v1/x/4", "POST /v1/x/3"])
        #expect(try await log.events(AuditQuery(sprite: "even")).map(\.action) == ["POST /v1/x/4"])
        #expect(try await log.events(AuditQuery(before: all[0].seq, limit: 1)).map(\.action) == ["POST /v1/x/4"])
    }
}
