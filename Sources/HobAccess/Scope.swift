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
    /// The `max_sprites=` caveats, each with the sprites it counts.
    public private(set) var caps: [SpriteCap] = []
    /// The caveats, in the order of the chain: a token minted by this one's holder starts with them.
    public let caveats: [Caveat]

    public static let unrestricted = Scope(caveats: [])

    public init(caveats: [Caveat]) {
        self.caveats = caveats
        for caveat in caveats {
            switch caveat {
            case .expires(let t): expires = min(expires ?? t, t)
            case .sprites(let names): nameLists.append(names)
            case .prefix(let p): prefixes.append(p)
            case .label(let l): labels.insert(l)
            case .ops(let set): ops = ops.map { $0.intersection(set) } ?? set
            case .maxSprites(let n): caps.append(SpriteCap(limit: n, nameLists: nameLists, prefixes: prefixes, labels: labels))
            }
        }
    }

    /// The smallest count cap, for messages.
    public var maxSprites: Int? { caps.map(\.limit).min() }

    /// Whether the token is limited to some sprites.
    public var isSpriteScoped: Bool { !nameLists.isEmpty || !prefixes.isEmpty || !labels.isEmpty }

    public func isExpired(at now: Date) -> Bool {
        guard let expires else { return false }
        return Int64(now.timeIntervalSince1970.rounded(.down)) >= expires
    }

    public var expiryDate: Date? { expires.map { Date(timeIntervalSince1970: TimeInterval($0)) } }

    /// Whether a sprite with this name and these labels is one of the token's sprites.
    public func covers(name: String, labels spriteLabels: [String]) -> Bool {
        Self.matches(name, spriteLabels, nameLists: nameLists, prefixes: prefixes, labels: labels)
    }

    static func matches(_ name: String, _ spriteLabels: [String], nameLists: [[String]], prefixes: [String], labels: Set<String>) -> Bool {
        nameLists.allSatisfy { $0.contains(name) } && prefixes.allSatisfy { name.hasPrefix($0) } && labels.isSubset(of: spriteLabels)
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
}

/// `max_sprites=n`: creating is allowed only while fewer than n sprites exist among those the
/// caveats *before* it cover. A caveat added later (offline, or by minting) narrows what the token
/// may touch but not what the cap counts: otherwise `--sprite fresh-name` would make an empty
/// count, and a cap could be escaped by attenuating.
public struct SpriteCap: Sendable, Equatable {
    public let limit: Int
    let nameLists: [[String]]
    let prefixes: [String]
    let labels: Set<String>

    /// Whether a sprite counts against this cap.
    public func counts(name: String, labels spriteLabels: [String]) -> Bool {
        Scope.matches(name, spriteLabels, nameLists: nameLists, prefixes: prefixes, labels: labels)
    }
}
