// Sprites v1 REST wire types (docs/SPRITES-API.md in shared/design is the contract).
// Shared by the daemon, the client SDK and the CLI; no dependencies beyond the standard library.
// JSON keys are spelled out in CodingKeys: the wire is snake_case, and a global key strategy would
// also rewrite user-chosen dictionary keys such as environment variable names.

/// `config` on create and in SpriteInfo. All optional: the daemon fills in its defaults.
public struct SpriteConfig: Codable, Sendable, Equatable {
    public var ramMB: Int?
    public var cpus: Double?
    public var region: String?
    public var storageGB: Int?
    /// Hob extension: idle seconds before the sprite sleeps (`warm`) and before it stops (`cold`);
    /// 0 means never. In SpriteInfo, the values in effect.
    public var idleTimeout: Int?
    public var coldTimeout: Int?

    public init(
        ramMB: Int? = nil, cpus: Double? = nil, region: String? = nil, storageGB: Int? = nil, idleTimeout: Int? = nil,
        coldTimeout: Int? = nil
    ) {
        self.ramMB = ramMB
        self.cpus = cpus
        self.region = region
        self.storageGB = storageGB
        self.idleTimeout = idleTimeout
        self.coldTimeout = coldTimeout
    }

    enum CodingKeys: String, CodingKey {
        case ramMB = "ram_mb"
        case cpus
        case region
        case storageGB = "storage_gb"
        case idleTimeout = "idle_timeout"
        case coldTimeout = "cold_timeout"
    }
}

public struct URLSettings: Codable, Sendable, Equatable {
    public var auth: String?
    public var privateAccess: String?

    public init(auth: String? = nil, privateAccess: String? = nil) {
        self.auth = auth
        self.privateAccess = privateAccess
    }

    enum CodingKeys: String, CodingKey {
        case auth
        case privateAccess = "private_access"
    }
}

/// `cold` (disk only), `warm` (frozen in memory) or `running`.
public enum SpriteStatus: String, Codable, Sendable, CaseIterable {
    case cold, warm, running
}

public struct SpriteInfo: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var organization: String
    public var status: SpriteStatus
    public var config: SpriteConfig
    public var environment: [String: String]
    public var createdAt: String
    public var updatedAt: String
    public var url: String
    public var urlSettings: URLSettings
    public var labels: [String]
    public var bucketName: String?
    public var primaryRegion: String?
    public var lastRunningAt: String?
    public var lastWarmingAt: String?
    public var version: String?
    public var environmentVersion: String?
    /// Hob extension: bytes held only by this sprite (its disk and checkpoints, not the shared
    /// base image). Nil when the pool cannot account space.
    public var storageBytes: Int64?
    /// Hob extension: the sprite's disk quota in bytes (`config.storage_gb` GiB), its disk and
    /// checkpoints together.
    public var storageQuotaBytes: Int64?
    /// Hob extension: what counts against the quota now (bytes the sprite wrote that its disk or
    /// checkpoints still hold; btrfs simple quotas). Nil when the pool enforces no quotas.
    public var storageQuotaUsedBytes: Int64?
    /// Hob extension: the token minted for this sprite alone when the create asked for one
    /// (`CreateSpriteRequest.token`); shown once, absent everywhere else.
    public var token: String?

    public init(
        id: String, name: String, organization: String, status: SpriteStatus, config: SpriteConfig,
        environment: [String: String], createdAt: String, updatedAt: String, url: String, urlSettings: URLSettings,
        labels: [String], bucketName: String? = nil, primaryRegion: String? = nil, lastRunningAt: String? = nil,
        lastWarmingAt: String? = nil, version: String? = nil, environmentVersion: String? = nil, storageBytes: Int64? = nil,
        storageQuotaBytes: Int64? = nil, storageQuotaUsedBytes: Int64? = nil
    ) {
        self.id = id
        self.name = name
        self.organization = organization
        self.status = status
        self.config = config
        self.environment = environment
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.url = url
        self.urlSettings = urlSettings
        self.labels = labels
        self.bucketName = bucketName
        self.primaryRegion = primaryRegion
        self.lastRunningAt = lastRunningAt
        self.lastWarmingAt = lastWarmingAt
        self.version = version
        self.environmentVersion = environmentVersion
        self.storageBytes = storageBytes
        self.storageQuotaBytes = storageQuotaBytes
        self.storageQuotaUsedBytes = storageQuotaUsedBytes
    }

    enum CodingKeys: String, CodingKey {
        case id, name, organization, status, config, environment, url, labels, version, token
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case urlSettings = "url_settings"
        case bucketName = "bucket_name"
        case primaryRegion = "primary_region"
        case lastRunningAt = "last_running_at"
        case lastWarmingAt = "last_warming_at"
        case environmentVersion = "environment_version"
        case storageBytes = "storage_bytes"
        case storageQuotaBytes = "storage_quota_bytes"
        case storageQuotaUsedBytes = "storage_quota_used_bytes"
    }
}

/// `POST /v1/sprites`.
public struct CreateSpriteRequest: Codable, Sendable, Equatable {
    public var name: String
    public var config: SpriteConfig?
    public var environment: [String: String]?
    public var labels: [String]?
    public var urlSettings: URLSettings?
    public var waitForCapacity: Bool?
    public var runtime: String?
    /// Hob extension: fork from another sprite's checkpoint.
    public var source: ForkSource?
    /// Hob extension: also mint a token for this sprite alone, for the agent that will drive it.
    public var token: SpriteTokenRequest?

    public init(
        name: String, config: SpriteConfig? = nil, environment: [String: String]? = nil, labels: [String]? = nil,
        urlSettings: URLSettings? = nil, waitForCapacity: Bool? = nil, runtime: String? = nil, source: ForkSource? = nil
    ) {
        self.name = name
        self.config = config
        self.environment = environment
        self.labels = labels
        self.urlSettings = urlSettings
        self.waitForCapacity = waitForCapacity
        self.runtime = runtime
        self.source = source
    }

    enum CodingKeys: String, CodingKey {
        case name, config, environment, labels, runtime, source, token
        case urlSettings = "url_settings"
        case waitForCapacity = "wait_for_capacity"
    }
}

/// `PUT /v1/sprites/{name}`: a partial update.
public struct UpdateSpriteRequest: Codable, Sendable, Equatable {
    public var urlSettings: URLSettings?
    public var labels: [String]?
    public var clearLabels: Bool?
    /// Hob extension: only `idle_timeout` and `cold_timeout` can change after create.
    public var config: SpriteConfig?

    public init(urlSettings: URLSettings? = nil, labels: [String]? = nil, clearLabels: Bool? = nil, config: SpriteConfig? = nil) {
        self.urlSettings = urlSettings
        self.labels = labels
        self.clearLabels = clearLabels
        self.config = config
    }

    enum CodingKeys: String, CodingKey {
        case labels, config
        case urlSettings = "url_settings"
        case clearLabels = "clear_labels"
    }
}

public struct OrgInfo: Codable, Sendable, Equatable {
    public var name: String
    public var running: Int
    public var warm: Int
    public var cold: Int
    public var runningLimit: Int
    public var warmLimit: Int

    public init(name: String, running: Int, warm: Int, cold: Int, runningLimit: Int, warmLimit: Int) {
        self.name = name
        self.running = running
        self.warm = warm
        self.cold = cold
        self.runningLimit = runningLimit
        self.warmLimit = warmLimit
    }

    enum CodingKeys: String, CodingKey {
        case name, running, warm, cold
        case runningLimit = "running_limit"
        case warmLimit = "warm_limit"
    }
}

/// `GET /v1/sprites`. Counts appear both at the top level (Python) and under `org` (Go).
public struct SpriteList: Codable, Sendable, Equatable {
    public var sprites: [SpriteInfo]
    public var hasMore: Bool
    public var nextContinuationToken: String?
    public var org: OrgInfo
    public var running: Int
    public var warm: Int
    public var cold: Int
    public var name: String

    public init(sprites: [SpriteInfo], hasMore: Bool, nextContinuationToken: String?, org: OrgInfo) {
        self.sprites = sprites
        self.hasMore = hasMore
        self.nextContinuationToken = nextContinuationToken
        self.org = org
        self.running = org.running
        self.warm = org.warm
        self.cold = org.cold
        self.name = org.name
    }

    enum CodingKeys: String, CodingKey {
        case sprites, org, running, warm, cold, name
        case hasMore = "has_more"
        case nextContinuationToken = "next_continuation_token"
    }

    // Emit `next_continuation_token: null` explicitly: clients read the key.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(sprites, forKey: .sprites)
        try c.encode(hasMore, forKey: .hasMore)
        try c.encode(nextContinuationToken, forKey: .nextContinuationToken)
        try c.encode(org, forKey: .org)
        try c.encode(running, forKey: .running)
        try c.encode(warm, forKey: .warm)
        try c.encode(cold, forKey: .cold)
        try c.encode(name, forKey: .name)
    }
}

/// The Sprites error body. `error` is a stable code, `message` is for people.
public struct APIErrorBody: Codable, Sendable, Equatable, Error {
    public var error: String
    public var message: String

    public init(error: String, message: String) {
        self.error = error
        self.message = message
    }
}
