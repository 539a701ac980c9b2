// The conjunction of a token's caveats: which sprites, which operations, until when. Built from
// the caveats of a token whose signature held; pure, so the rules are tested without a daemon.
import Foundation

public struct Scope: Sendable, Equatable {
    /// The earliest `expires` (Unix seconds); nil: never.
    public private(set) var expires: Int64?
    /// Each `sprite=` list: a sprite must be in every one.
    public private(set) var nameLists: [[String]] = []
    public private(set) var prefixes: [String] = []
    public private(set) var labels: Set<String> = []
    /// The intersection of the `ops=` caveats; nil: every operation.
    public private(set) var ops: Set<Permission>?
    public private(set) var maxSprites: Int?

    public static let unrestricted = Scope(caveats: [])

    public init(caveats: [Caveat]) {
        for caveat in caveats {
            switch caveat {
            case .expires(let t): expires = min(expires ?? t, t)
            case .sprites(let names): nameLists.append(names)
            case .prefix(let p): prefixes.append(p)
            case .label(let l): labels.insert(l)
            case .ops(let set): ops = ops.map { $0.intersection(set) } ?? set
            case .maxSprites(let n): maxSprites = min(maxSprites ?? n, n)
            }
        }
    }

    /// Whether the token is limited to some sprites.
    public var isSpriteScoped: Bool { !nameLists.isEmpty || !prefixes.isEmpty || !labels.isEmpty }

    public func isExpired(at now: Date) -> Bool {
        guard let expires else { return false }
        return Int64(now.timeIntervalSince1970.rounded(.down)) >= expires
    }

    public var expiryDate: Date? { expires.map { Date(timeIntervalSince1970: TimeInterval($0)) } }

    /// Whether a sprite with this name and these labels is one of the token's sprites.
    public func covers(name: String, labels spriteLabels: [String]) -> Bool {
        nameLists.allSatisfy { $0.contains(name) } && prefixes.allSatisfy { name.hasPrefix($0) }
            && labels.isSubset(of: spriteLabels)
    }

    /// Whether a name alone decides coverage (no label caveat needs the sprite's labels).
    public var coversByNameAlone: Bool { labels.isEmpty }

    /// Whether the token may make calls of this class. `admin` is never allowed to a sprite-scoped
    /// token, whatever its ops say: it reaches every sprite.
    public func allows(_ op: Permission) -> Bool {
        if op == .admin && isSpriteScoped { return false }
        return ops?.contains(op) ?? true
    }

    /// The operations allowed, for messages.
    public var allowedOps: [Permission] { Permission.allCases.filter(allows) }

    /// Caveats that say exactly this scope: a token minted by a holder of this one carries them,
    /// so it can never do more.
    public var caveats: [Caveat] {
        var list: [Caveat] = []
        if let expires { list.append(.expires(unixSeconds: expires)) }
        list += nameLists.map { .sprites($0) }
        list += prefixes.map { .prefix($0) }
        list += labels.sorted().map { .label($0) }
        if let ops { list.append(.ops(ops)) }
        if let maxSprites { list.append(.maxSprites(maxSprites)) }
        return list
    }
}
