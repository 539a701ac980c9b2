// Secrets on the wire (docs/ACCESS.md, "Secrets"): an admin PUTs the headers to inject for an
// upstream host and who may use them; every answer names the headers, never their values.

/// Which sprites may use a secret, and on which upstream paths. Every condition given must hold;
/// none at all (and no `all_sprites`) means no sprite may use it. The rules that read it
/// (`admits`, `allows`, `validate`) are HobCore's (Access/SecretAccess.swift).
public struct SecretAccess: Codable, Sendable, Equatable {
    /// Only these sprites (by name).
    public var sprites: [String]?
    /// Only sprites whose name starts with this.
    public var prefix: String?
    /// Only sprites carrying every one of these labels.
    public var labels: [String]?
    /// Only these upstream paths: `/v1/models` exactly, `/v1/*` for everything under `/v1/`; nil:
    /// every path.
    public var paths: [String]?
    /// Every sprite may use it; nothing else may be set with it.
    public var allSprites: Bool

    public init(sprites: [String]? = nil, prefix: String? = nil, labels: [String]? = nil, paths: [String]? = nil, allSprites: Bool = false) {
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

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        sprites = try c.decodeIfPresent([String].self, forKey: .sprites)
        prefix = try c.decodeIfPresent(String.self, forKey: .prefix)
        labels = try c.decodeIfPresent([String].self, forKey: .labels)
        paths = try c.decodeIfPresent([String].self, forKey: .paths)
        allSprites = try c.decodeIfPresent(Bool.self, forKey: .allSprites) ?? false
    }

    /// `all_sprites` only when it is true: the usual secret names its sprites.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(sprites, forKey: .sprites)
        try c.encodeIfPresent(prefix, forKey: .prefix)
        try c.encodeIfPresent(labels, forKey: .labels)
        try c.encodeIfPresent(paths, forKey: .paths)
        if allSprites { try c.encode(true, forKey: .allSprites) }
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
    public var access: SecretAccess

    public init(host: String, scheme: String? = nil, port: Int? = nil, headers: [String: String], access: SecretAccess = SecretAccess()) {
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
        access = try c.decodeIfPresent(SecretAccess.self, forKey: .access) ?? SecretAccess()
    }
}

/// A secret as the API shows it: its header names, never their values.
public struct SecretInfo: Codable, Sendable, Equatable {
    public var name: String
    public var host: String
    public var scheme: String
    public var port: Int?
    public var headerNames: [String]
    public var access: SecretAccess
    public var createdAt: String
    public var updatedAt: String

    public init(
        name: String, host: String, scheme: String, port: Int?, headerNames: [String], access: SecretAccess, createdAt: String,
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
