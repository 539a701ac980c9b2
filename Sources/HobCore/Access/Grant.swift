// What the caller of one request may do: the scope of the token it presented. The API edge
// (AccessMiddleware, the WebSocket acceptor, /control, the URL proxy) asks the grant before it
// acts; these checks are the one place where the answers and their statuses are decided:
//
//   a sprite outside the token's scope  404, the same body as a sprite that does not exist,
//                                       so names do not leak
//   an operation the token lacks        403 permission_denied
//   an expired token                    401 (checked again for every operation of a long connection)
import Foundation
import HobAccess

public struct Grant: Sendable, Equatable {
    /// The token's id; nil for the admin token.
    public var tokenID: String?
    public var scope: Scope

    public static let admin = Grant(tokenID: nil, scope: .unrestricted)

    public init(tokenID: String?, scope: Scope) {
        self.tokenID = tokenID
        self.scope = scope
    }

    /// How the audit log names the caller.
    public var auditName: String { tokenID ?? "admin" }

    /// Throws 401 once the token has expired.
    public func requireFresh(now: Date = Date()) throws(HobError) {
        if scope.isExpired(at: now), let expiry = scope.expiryDate {
            throw HobError(.unauthorized, "token expired at \(Timestamp.format(expiry))")
        }
    }

    /// Throws 403 unless the token may make calls of this class.
    public func require(_ op: Permission, now: Date = Date()) throws(HobError) {
        try requireFresh(now: now)
        guard scope.allows(op) else {
            let allowed = scope.allowedOps.map(\.rawValue).joined(separator: ", ")
            throw HobError(.permissionDenied, "this token may not \(op.rawValue) (it may: \(allowed.isEmpty ? "nothing" : allowed))")
        }
    }

    /// Throws 404 (as for a missing sprite) unless the sprite is in scope, then 403 unless the
    /// operation is allowed. `labels` nil: the sprite does not exist.
    public func require(_ op: Permission, sprite name: String, labels: [String]?, now: Date = Date()) throws(HobError) {
        try requireFresh(now: now)
        guard covers(name, labels: labels) else { throw Fleet.notFound(name) }
        try require(op, now: now)
    }

    public func covers(_ name: String, labels: [String]?) -> Bool {
        guard let labels else { return scope.coversByNameAlone && scope.covers(name: name, labels: []) }
        return scope.covers(name: name, labels: labels)
    }
}
