// Tokens and the audit log on the wire (docs/ACCESS.md). `POST /v1/organizations/{org}/tokens`
// takes what the Sprites SDKs send (`description`, `invite_code`) and answers `{"token"}` as they
// read it; the scope fields are Hob's.

/// `POST /v1/organizations/{org}/tokens`: every field optional; the new token can do at most what
/// the caller's can.
public struct CreateTokenRequest: Codable, Sendable, Equatable {
    public var description: String?
    /// Sent by the Sprites SDKs; Hob has no invitations and ignores it.
    public var inviteCode: String?
    /// Only these sprites.
    public var sprites: [String]?
    /// Only sprites whose name starts with this.
    public var prefix: String?
    /// Only sprites carrying every one of these labels.
    public var labels: [String]?
    /// Only these operations (read, exec, files, checkpoints, lifecycle, create, url, tokens, admin).
    public var ops: [String]?
    /// Valid for this many seconds.
    public var expiresIn: Int?
    /// May create sprites only while fewer than this many of its sprites exist.
    public var maxSprites: Int?

    public init(
        description: String? = nil, sprites: [String]? = nil, prefix: String? = nil, labels: [String]? = nil, ops: [String]? = nil,
        expiresIn: Int? = nil, maxSprites: Int? = nil
    ) {
        self.description = description
        self.sprites = sprites
        self.prefix = prefix
        self.labels = labels
        self.ops = ops
        self.expiresIn = expiresIn
        self.maxSprites = maxSprites
    }

    enum CodingKeys: String, CodingKey {
        case description, sprites, prefix, labels, ops
        case inviteCode = "invite_code"
        case expiresIn = "expires_in"
        case maxSprites = "max_sprites"
    }
}

/// A token's record: never the token itself.
public struct TokenInfo: Codable, Sendable, Equatable {
    public var id: String
    public var description: String
    /// The caveats it was minted with (holders may have added more to their copies).
    public var caveats: [String]
    /// The token whose holder minted it; absent for the admin token.
    public var parent: String?
    public var createdAt: String
    public var expiresAt: String?
    public var revokedAt: String?

    public init(id: String, description: String, caveats: [String], parent: String?, createdAt: String, expiresAt: String?, revokedAt: String?) {
        self.id = id
        self.description = description
        self.caveats = caveats
        self.parent = parent
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
    }

    enum CodingKeys: String, CodingKey {
        case id, description, caveats, parent
        case createdAt = "created_at"
        case expiresAt = "expires_at"
        case revokedAt = "revoked_at"
    }
}

/// The answer to a mint: the token (shown once) and its record.
public struct CreateTokenResponse: Codable, Sendable, Equatable {
    public var token: String
    public var info: TokenInfo

    public init(token: String, info: TokenInfo) {
        self.token = token
        self.info = info
    }

    enum CodingKeys: String, CodingKey {
        case token, info
    }
}

public struct TokenList: Codable, Sendable, Equatable {
    public var tokens: [TokenInfo]
    public init(tokens: [TokenInfo]) { self.tokens = tokens }
}

/// One entry of the audit log (`GET /v1/events`).
public struct AuditEvent: Codable, Sendable, Equatable {
    public var id: Int64
    public var time: String
    /// The token id, or `admin`.
    public var token: String
    public var action: String
    public var sprite: String?
    public var status: Int
    public var detail: String?

    public init(id: Int64, time: String, token: String, action: String, sprite: String?, status: Int, detail: String?) {
        self.id = id
        self.time = time
        self.token = token
        self.action = action
        self.sprite = sprite
        self.status = status
        self.detail = detail
    }
}

/// Newest first; `next_before` pages to older events.
public struct AuditEventList: Codable, Sendable, Equatable {
    public var events: [AuditEvent]
    public var nextBefore: Int64?

    public init(events: [AuditEvent], nextBefore: Int64?) {
        self.events = events
        self.nextBefore = nextBefore
    }

    enum CodingKeys: String, CodingKey {
        case events
        case nextBefore = "next_before"
    }
}

/// Hob extension of `POST /v1/sprites`: a token for the new sprite alone (a `sprite=` caveat),
/// minted by the caller's token, so it can do no more than the caller.
public struct SpriteTokenRequest: Codable, Sendable, Equatable {
    /// Only these operations; absent: every operation on the sprite.
    public var ops: [String]?
    /// Valid for this many seconds; absent: as long as the caller's token.
    public var expiresIn: Int?
    public var description: String?

    public init(ops: [String]? = nil, expiresIn: Int? = nil, description: String? = nil) {
        self.ops = ops
        self.expiresIn = expiresIn
        self.description = description
    }

    enum CodingKeys: String, CodingKey {
        case ops, description
        case expiresIn = "expires_in"
    }
}

/// `POST /v1/sprites/{name}/url/login`: a one-time sign-in link to the sprite's URL for a browser.
public struct URLLoginLink: Codable, Sendable, Equatable {
    /// The sprite's URL with `?hob_login=<code>`: works once, until `expires_at`.
    public var url: String
    public var expiresAt: String

    public init(url: String, expiresAt: String) {
        self.url = url
        self.expiresAt = expiresAt
    }

    enum CodingKeys: String, CodingKey {
        case url
        case expiresAt = "expires_at"
    }
}
