// Minting, listing and revoking tokens (`/v1/organizations/{org}/tokens`), and the audit log
// (`GET /v1/events`). A mint answers 201 `{"token", "info"}`: the Sprites SDKs read `token`.
import Foundation
import HobAPI
import HobAccess
import HobCore
import Hummingbird

struct TokenRoutes {
    let authority: TokenAuthority
    let audit: AuditLog

    /// Most events one page returns.
    static let maxEventsPage = 1000

    func register(on router: Router<APIRequestContext>) {
        router.post("/v1/organizations/:org/tokens") { request, context in
            try requireOrg(context)
            let body = try await decodeBodyIfPresent(CreateTokenRequest.self, from: request, limit: 64 * 1024) ?? CreateTokenRequest()
            let (token, record) = try await authority.mint(
                by: try context.requireGrant(), description: body.description ?? "", caveats: try Self.caveats(body))
            return jsonResponse(CreateTokenResponse(token: token.string, info: Self.info(record)), status: .created)
        }
        router.get("/v1/organizations/:org/tokens") { _, context in
            try requireOrg(context)
            return jsonResponse(TokenList(tokens: try await authority.tokens().map(Self.info)))
        }
        router.delete("/v1/organizations/:org/tokens/:id") { _, context in
            try requireOrg(context)
            try await authority.revoke(id: try context.parameters.require("id"))
            return Response(status: .noContent)
        }
        router.get("/v1/events") { request, _ in
            let query = request.uri.queryParameters
            var q = AuditQuery(limit: 100)
            if let raw = query["limit"].map(String.init), !raw.isEmpty {
                guard let n = Int(raw), (1...Self.maxEventsPage).contains(n) else {
                    throw HobError(.invalidArgument, "limit must be a number from 1 to \(Self.maxEventsPage)")
                }
                q.limit = n
            }
            if let raw = query["before"].map(String.init), !raw.isEmpty {
                guard let n = Int64(raw), n > 0 else { throw HobError(.invalidArgument, "before must be an event id") }
                q.before = n
            }
            q.sprite = query["sprite"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
            q.token = query["token"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
            let events = try await audit.events(q)
            return jsonResponse(
                AuditEventList(
                    events: events.map(Self.event), nextBefore: events.count == q.limit ? events.last?.seq : nil))
        }
    }

    func requireOrg(_ context: APIRequestContext) throws {
        let org = try context.parameters.require("org")
        guard org == authority.org else {
            throw HobError(.notFound, "organization \(org) not found; this daemon's organization is \(authority.org)")
        }
    }

    /// The caveats a mint request asks for, on top of the minter's own.
    static func caveats(_ body: CreateTokenRequest, now: Date = Date()) throws -> [Caveat] {
        var list: [Caveat] = []
        if let names = body.sprites {
            guard !names.isEmpty else { throw HobError(.invalidArgument, "sprites must name at least one sprite") }
            for name in names { try SpriteName.validate(name) }
            list.append(.sprites(names))
        }
        if let prefix = body.prefix {
            guard !prefix.isEmpty, !prefix.contains(",") else { throw HobError(.invalidArgument, "prefix must not be empty") }
            list.append(.prefix(prefix))
        }
        list += try Labels.validate(body.labels ?? []).map { .label($0) }
        if let ops = body.ops {
            do {
                list.append(.ops(try Permission.parseList(ops.joined(separator: ","))))
            } catch {
                throw HobError(.invalidArgument, error.description)
            }
        }
        if let seconds = body.expiresIn {
            guard seconds > 0, seconds <= 10 * 365 * 86400 else { throw HobError(.invalidArgument, "expires_in must be 1 to 315360000 seconds") }
            list.append(.expires(unixSeconds: Int64(now.timeIntervalSince1970.rounded(.down)) + Int64(seconds)))
        }
        if let n = body.maxSprites {
            guard n >= 0 else { throw HobError(.invalidArgument, "max_sprites must not be negative") }
            list.append(.maxSprites(n))
        }
        return list
    }

    static func info(_ r: TokenRecord) -> TokenInfo {
        TokenInfo(
            id: r.id, description: r.description, caveats: r.caveats, parent: r.parent, createdAt: Timestamp.format(r.createdAt),
            expiresAt: r.expiresAt.map(Timestamp.format), revokedAt: r.revokedAt.map(Timestamp.format))
    }

    static func event(_ e: AuditRecord) -> AuditEvent {
        AuditEvent(id: e.seq, time: Timestamp.format(e.time), token: e.token, action: e.action, sprite: e.sprite, status: e.status, detail: e.detail)
    }
}
