// Secrets on the wire (docs/ACCESS.md, "Secrets"): an admin PUTs the headers to inject for an
// upstream host and who may use them; every answer names the headers, never their values.

/// Which sprites may use a secret, and on which upstream paths. Every condition given must hold;
/// none at all (and no `all_sprites`) means no sprite may use it.
public struct SecretAccessBody: Codable, Sendable, Equatable {
    /// Only these sprites.
    public var sprites: [String]?
    /// Only sprites whose name starts with this.
    public var prefix: String?
    /// Only sprites carrying every one of these labels.
    public var labels: [String]?
    /// Only these upstream paths: `/v1/models` exactly, `/v1/*` for everything under `/v1/`; absent: every path.
    public var paths: [String]?
    /// Every sprite (and no other condition).
    public var allSprites: Bool?

    public init(sprites: [String]? = nil, prefix: String? = nil, labels: [String]? = nil, paths: [String]? = nil, allSprites: Bool? = nil) {
        self.sprites = sprites
        self.prefix = prefix
        self.labels = labels
        self.paths = paths
        self.allSprites = allSprites
    }

    enum CodingKeys: String, CodingKey {
        case sprites, prefix, labels, paths
        case allSprites = "all_sprites"
    }
}

/// `PUT /v1/secrets/{name}`: creates or replaces the secret.
public struct SecretRequest: Codable, Sendable, Equatable {
    /// A DNS name or IPv4 address, without scheme, port or path.
    public var host: String
    /// `https` (the default) or `http`.
    public var scheme: String?
    public var port: Int?
    /// Header name → value, injected into every request forwarded with this secret.
    public var headers: [String: String]
    public var access: SecretAccessBody

    public init(host: String, scheme: String? = nil, port: Int? = nil, headers: [String: String], access: SecretAccessBody = SecretAccessBody()) {
        self.host = host
        self.scheme = scheme
        self.port = port
        self.headers = headers
        self.access = access
    }

    enum CodingKeys: String, CodingKey {
        case host, scheme, port, headers, access
    }

    /// `access` may be left out: then no sprite may use the secret yet.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        host = try c.decode(String.self, forKey: .host)
        scheme = try c.decodeIfPresent(String.self, forKey: .scheme)
        port = try c.decodeIfPresent(Int.self, forKey: .port)
        headers = try c.decode([String: String].self, forKey: .headers)
        access = try c.decodeIfPresent(SecretAccessBody.self, forKey: .access) ?? SecretAccessBody()
    }
}

/// A secret as the API shows it: its header names, never their values.
public struct SecretInfo: Codable, Sendable, Equatable {
    public var name: String
    public var host: String
    public var scheme: String
    public var port: Int?
    public var headerNames: [String]
    public var access: SecretAccessBody
    public var createdAt: String
    public var updatedAt: String

    public init(
        name: String, host: String, scheme: String, port: Int?, headerNames: [String], access: SecretAccessBody, createdAt: String,
        updatedAt: String
    ) {
        self.name = name
        self.host = host
        self.scheme = scheme
        self.port = port
        self.headerNames = headerNames
        self.access = access
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    enum CodingKeys: String, CodingKey {
        case name, host, scheme, port, access
        case headerNames = "header_names"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }
}

public struct SecretList: Codable, Sendable, Equatable {
    public var secrets: [SecretInfo]
    public init(secrets: [SecretInfo]) { self.secrets = secrets }
}
