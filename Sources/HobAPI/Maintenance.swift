// Wire types of the sprite maintenance endpoints (SPRITES-API.md §3.6 and §18): restart, check,
// upgrade, and the events of the live sprite list (`GET /v1/sprites` with
// `Accept: application/x-ndjson`, what `sprite list -w` reads).

/// `POST /v1/sprites/{name}/restart`: the sprite was stopped (if it ran) and booted again on the
/// same disk. `machine_id` is the sprite's id: Hob has no machines apart from its sprites.
public struct RestartResponse: Codable, Sendable, Equatable {
    public var spriteName: String
    public var machineID: String
    public var message: String

    public init(spriteName: String, machineID: String, message: String) {
        self.spriteName = spriteName
        self.machineID = machineID
        self.message = message
    }

    enum CodingKeys: String, CodingKey {
        case message
        case spriteName = "sprite_name"
        case machineID = "machine_id"
    }
}

/// `GET /v1/sprites/{name}/check`: a health check of the sprite's machinery. `status` is
/// `healthy`, `hibernated` (warm or cold: nothing runs to be checked, and the check does not wake
/// it), `unhealthy` (something is wrong; `reason` says what) or `error` (the check itself could
/// not run). `elapsed` is how long the check took, as a duration ("3ms").
public struct CheckResponse: Codable, Sendable, Equatable {
    public var spriteName: String
    public var spriteID: String
    public var status: String
    public var reason: String
    public var checkedAt: String
    public var elapsed: String
    /// Each part checked and what it found ("ok" or the problem): Hob's extension.
    public var checks: [String: String]

    public init(spriteName: String, spriteID: String, status: String, reason: String, checkedAt: String, elapsed: String, checks: [String: String]) {
        self.spriteName = spriteName
        self.spriteID = spriteID
        self.status = status
        self.reason = reason
        self.checkedAt = checkedAt
        self.elapsed = elapsed
        self.checks = checks
    }

    enum CodingKeys: String, CodingKey {
        case status, reason, elapsed, checks
        case spriteName = "sprite_name"
        case spriteID = "sprite_id"
        case checkedAt = "checked_at"
    }
}

/// `POST /v1/sprites/{name}/upgrade`, optional body. `version` may name the version Hob offers
/// (its environment version or its API version); any other is refused.
public struct UpgradeRequest: Codable, Sendable, Equatable {
    public var version: String?

    public init(version: String? = nil) { self.version = version }
}

/// The answer to an upgrade (the old docs' `{name, status: "upgraded"}`, with what was done).
public struct UpgradeResponse: Codable, Sendable, Equatable {
    public var name: String
    public var status: String
    /// The environment version the sprite runs from now on.
    public var version: String
    /// Whether the sprite was restarted to take it (a running or warm one is; a cold one takes it
    /// at its next boot).
    public var restarted: Bool
    public var message: String

    public init(name: String, status: String, version: String, restarted: Bool, message: String) {
        self.name = name
        self.status = status
        self.version = version
        self.restarted = restarted
        self.message = message
    }
}

/// One line of the live sprite list. `type` is `sprite` for each sprite that exists when the
/// stream begins, `synced` once they have all been sent (no sprite fields), then `created`,
/// `updated` (its status or last run dates changed) and `deleted` as they happen.
public struct SpriteListEvent: Codable, Sendable, Equatable {
    public var type: String
    public var name: String?
    public var id: String?
    public var status: SpriteStatus?
    public var runningVersion: String?
    public var lastRunningAt: String?
    public var lastWarmingAt: String?
    /// RFC 3339, when the change was seen.
    public var timestamp: String
    public var org: OrgInfo

    public init(
        type: String, name: String? = nil, id: String? = nil, status: SpriteStatus? = nil, runningVersion: String? = nil,
        lastRunningAt: String? = nil, lastWarmingAt: String? = nil, timestamp: String, org: OrgInfo
    ) {
        self.type = type
        self.name = name
        self.id = id
        self.status = status
        self.runningVersion = runningVersion
        self.lastRunningAt = lastRunningAt
        self.lastWarmingAt = lastWarmingAt
        self.timestamp = timestamp
        self.org = org
    }

    enum CodingKeys: String, CodingKey {
        case type, name, id, status, timestamp, org
        case runningVersion = "running_version"
        case lastRunningAt = "last_running_at"
        case lastWarmingAt = "last_warming_at"
    }
}
