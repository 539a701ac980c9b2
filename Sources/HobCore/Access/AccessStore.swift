// What the daemon keeps about tokens and the audit log, and the protocol of the store that keeps
// it (GRDBSpriteStore in HobStore; MemoryAccessStore for tests). No secret is in it: a token's
// signature comes from the daemon's key and the token's id (TokenAuthority), so a token record
// is its id, what it may do, and where it came from.
import Foundation
import Synchronization

public struct TokenRecord: Sendable, Equatable {
    public var id: String
    public var description: String
    /// The caveats it was minted with, as text (Caveat.text): its holders may have added more.
    public var caveats: [String]
    /// The token whose holder minted it (nil: the admin token); revoking that one revokes this one.
    public var parent: String?
    public var createdAt: Date
    public var expiresAt: Date?
    public var revokedAt: Date?

    public init(
        id: String, description: String, caveats: [String], parent: String?, createdAt: Date, expiresAt: Date?, revokedAt: Date? = nil
    ) {
        self.id = id
        self.description = description
        self.caveats = caveats
        self.parent = parent
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
    }
}

/// One audited call: who (token id, or `admin`), what, on which sprite, and how it ended.
public struct AuditRecord: Sendable, Equatable {
    /// Increasing; 0 until stored.
    public var seq: Int64
    public var time: Date
    public var token: String
    /// `METHOD /route/:pattern`, or an in-connection operation (`control exec`).
    public var action: String
    public var sprite: String?
    /// The HTTP status the call ended with.
    public var status: Int
    /// The error message of a failed call; what ran, for an exec.
    public var detail: String?

    public init(seq: Int64 = 0, time: Date, token: String, action: String, sprite: String?, status: Int, detail: String? = nil) {
        self.seq = seq
        self.time = time
        self.token = token
        self.action = action
        self.sprite = sprite
        self.status = status
        self.detail = detail
    }
}

public struct AuditQuery: Sendable, Equatable {
    public var sprite: String?
    public var token: String?
    /// Only events older than this sequence number (paging backwards).
    public var before: Int64?
    public var limit: Int

    public init(sprite: String? = nil, token: String? = nil, before: Int64? = nil, limit: Int = 100) {
        self.sprite = sprite
        self.token = token
        self.before = before
        self.limit = limit
    }
}

public protocol AccessStore: Sendable {
    func insertToken(_ token: TokenRecord) async throws
    func allTokens() async throws -> [TokenRecord]
    /// Marks it revoked; false when there is no such token.
    func revokeToken(id: String, at: Date) async throws -> Bool
    func appendEvents(_ events: [AuditRecord]) async throws
    /// Newest first.
    func events(_ query: AuditQuery) async throws -> [AuditRecord]
    /// Deletes all but the newest `keeping` events.
    func trimEvents(keeping: Int) async throws
}

/// An AccessStore in memory, for tests of the logic above the store.
public final class MemoryAccessStore: AccessStore {
    private let state = Mutex<(tokens: [TokenRecord], events: [AuditRecord])>(([], []))

    public init() {}

    public func insertToken(_ token: TokenRecord) async throws { state.withLock { $0.tokens.append(token) } }
    public func allTokens() async throws -> [TokenRecord] { state.withLock { $0.tokens } }

    public func revokeToken(id: String, at date: Date) async throws -> Bool {
        state.withLock { s in
            guard let i = s.tokens.firstIndex(where: { $0.id == id }) else { return false }
            if s.tokens[i].revokedAt == nil { s.tokens[i].revokedAt = date }
            return true
        }
    }

    public func appendEvents(_ events: [AuditRecord]) async throws {
        state.withLock { s in
            for var e in events {
                e.seq = (s.events.last?.seq ?? 0) + 1
                s.events.append(e)
            }
        }
    }

    public func events(_ q: AuditQuery) async throws -> [AuditRecord] {
        state.withLock { s in
            Array(
                s.events.reversed().filter { e in
                    (q.sprite == nil || e.sprite == q.sprite) && (q.token == nil || e.token == q.token) && (q.before.map { b in e.seq < b } ?? true)
                }.prefix(q.limit))
        }
    }

    public func trimEvents(keeping: Int) async throws { state.withLock { $0.events = Array($0.events.suffix(keeping)) } }
}
