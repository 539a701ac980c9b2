// Who may make each API call, and the record of what was done (docs/ACCESS.md). Every request
// but the OpenAPI document presents a token; its grant is checked against the route's need
// (RouteAccess) before the route runs, and kept in the request context for the routes that
// filter or check further (the sprite list, create, minting). State-changing calls and refused
// ones go to the audit log.
import HTTPTypes
import HobAPI
import HobAccess
import HobCore
import Hummingbird
import Foundation

/// The request context of the public API: Hummingbird's, plus the caller's grant.
struct APIRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// Set by AccessMiddleware before any route runs.
    var grant: Grant?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }

    /// The caller's grant; a route reached without one (no middleware) refuses.
    func requireGrant() throws -> Grant {
        guard let grant else { throw HobError(.unauthorized, "no token was checked for this request") }
        return grant
    }
}

/// Checks a grant against a route's need; shared by HTTP routes and WebSocket upgrades.
struct AccessCheck: Sendable {
    let authority: TokenAuthority
    let fleet: Fleet
    let audit: AuditLog

    /// Throws unless a verified grant may make a call with this need: 401 (expired), 404 (a sprite
    /// out of scope, answered as if it did not exist) or 403.
    func check(_ grant: Grant, _ need: RouteNeed?) async throws {
        switch need {
        case .open, .anyToken:
            try grant.requireFresh()
        case .spriteList:
            try grant.require(.read)
        case .spriteCreate:
            try grant.require(.create)
        case .daemon(let op):
            try grant.require(op)
        case .fleetWide(let op):
            try grant.require(op)
            guard !grant.scope.isSpriteScoped else {
                throw HobError(.permissionDenied, "this token is limited to some sprites; this call is about all of them")
            }
        case .sprite(let name, let op):
            try await checkSprite(grant, name, op)
        case .spriteControl(let name):
            try await checkSprite(grant, name, grant.scope.allows(.exec) ? .exec : .files)
        case nil:
            try grant.require(.admin)
        }
    }

    func checkSprite(_ grant: Grant, _ name: String, _ op: Permission) async throws {
        // Only a label caveat needs the sprite's record; names decide everything else.
        let labels = grant.scope.coversByNameAlone ? [] : (try? await fleet.record(name))?.labels
        try grant.require(op, sprite: name, labels: labels)
    }

    /// Writes the outcome of a call to the audit log.
    func record(_ grant: Grant?, action: String, sprite: String?, status: Int, detail: String? = nil) async {
        await record(caller: grant?.auditName ?? "-", action: action, sprite: sprite, status: status, detail: detail)
    }

    /// The same for a caller that is no token (a sprite using the secrets gateway).
    func record(caller: String, action: String, sprite: String?, status: Int, detail: String? = nil) async {
        let event = AuditRecord(
            time: Date(), token: Self.bounded(caller), action: Self.bounded(action), sprite: sprite.map(Self.bounded), status: status,
            detail: detail.map(Self.bounded))
        await audit.record(event)
    }

    /// Longest field kept in an audit event: a request path may be 80 KB, and the log is bounded in
    /// events, so its size in bytes is bounded by this.
    static let maxFieldLength = 256

    static func bounded(_ text: String) -> String {
        text.utf8.count <= maxFieldLength ? text : String(text.prefix(maxFieldLength - 1)) + "…"
    }

    /// Whether a call is audited: every call that may change state, and every refusal. A route
    /// that acts through the API (`/mcp`) is audited by the calls it makes, so only its refusals are.
    static func isAudited(_ method: HTTPRequest.Method, status: Int, need: RouteNeed? = nil) -> Bool {
        if status == 401 || status == 403 { return true }
        return need != .anyToken && !(method == .get || method == .head)
    }
}

struct AccessMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    let access: AccessCheck

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let need = RouteAccess.classify(request.method, request.uri.path)
        if need == .open { return try await next(request, context) }
        var context = context
        let action = "\(request.method) \(request.uri.path)"
        do {
            let grant = try access.authority.verify(authorization: request.headers[.authorization])
            context.grant = grant
            try await access.check(grant, need)
            let response = try await next(request, context)
            if AccessCheck.isAudited(request.method, status: response.status.code, need: need) {
                await access.record(grant, action: action, sprite: need?.sprite, status: response.status.code)
            }
            return response
        } catch {
            let (status, body) = APIError.map(error)
            if AccessCheck.isAudited(request.method, status: status.code, need: need) {
                await access.record(context.grant, action: action, sprite: need?.sprite, status: status.code, detail: body.message)
            }
            throw error
        }
    }
}
