// Wire types of a sprite's policies (`/v1/sprites/{name}/policy/...`).

/// `GET|POST /v1/sprites/{name}/policy/privileges`. Keys are camelCase on the wire, as the JS SDK
/// sends them. A POST changes the fields it carries and keeps the others; `profile` "" means the
/// default (`standard`).
public struct PrivilegesPolicy: Codable, Sendable, Equatable {
    /// `minimal`, `standard` or `privileged`.
    public var profile: String?
    /// Device nodes beyond the basic set, by name under /dev (`fuse`, `net/tun`, `kvm`).
    public var devices: [String]?
    public var noNewPrivileges: Bool?

    public init(profile: String? = nil, devices: [String]? = nil, noNewPrivileges: Bool? = nil) {
        self.profile = profile
        self.devices = devices
        self.noNewPrivileges = noNewPrivileges
    }
}

/// `GET|POST|DELETE /v1/sprites/{name}/policy/resources`: the memory limit. The key on the wire is
/// snake_case `limit_mb` (the JS SDK maps its `limitMB` to it); `limitMB` is read too, for clients
/// that send the SDK's field name as is.
/// `{"memory":{"limit_mb":512,"autoscale":false}}`
public struct ResourcesPolicy: Codable, Sendable, Equatable {
    public var memory: MemoryPolicy?

    public init(memory: MemoryPolicy? = nil) { self.memory = memory }
}

public struct MemoryPolicy: Codable, Sendable, Equatable {
    /// The sprite's memory limit in MiB (its `config.ram_mb`).
    public var limitMB: Int?
    /// Growing the limit under pressure. Hob does not; it reports false and refuses true.
    public var autoscale: Bool?

    public init(limitMB: Int?, autoscale: Bool? = false) {
        self.limitMB = limitMB
        self.autoscale = autoscale
    }

    enum CodingKeys: String, CodingKey {
        case limitMB = "limit_mb"
        case sdkLimitMB = "limitMB"
        case autoscale
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        limitMB = try c.decodeIfPresent(Int.self, forKey: .limitMB) ?? c.decodeIfPresent(Int.self, forKey: .sdkLimitMB)
        autoscale = try c.decodeIfPresent(Bool.self, forKey: .autoscale)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(limitMB, forKey: .limitMB)
        try c.encodeIfPresent(autoscale, forKey: .autoscale)
    }
}

/// `GET|POST /v1/sprites/{name}/policy/network`: the sprite's egress rules. No rules (the
/// default) means unrestricted; with rules, only names they allow resolve, and only addresses
/// those names resolved to are reachable (HobCore/Network/EgressPolicy.swift).
public struct NetworkPolicy: Codable, Sendable, Equatable {
    public var rules: [NetworkPolicyRule]

    public init(rules: [NetworkPolicyRule] = []) { self.rules = rules }

    public static let unrestricted = NetworkPolicy()
    public var isRestricted: Bool { !rules.isEmpty }
}

/// One rule: either `domain` + `action` (`allow` or `deny`), or `include` (a preset: `defaults`).
/// Absent keys are left out on the wire, as the SDKs expect.
public struct NetworkPolicyRule: Codable, Sendable, Equatable {
    public var domain: String?
    public var action: String?
    public var include: String?

    public init(domain: String? = nil, action: String? = nil, include: String? = nil) {
        self.domain = domain
        self.action = action
        self.include = include
    }

    public static func allow(_ domain: String) -> NetworkPolicyRule { NetworkPolicyRule(domain: domain, action: "allow") }
    public static func deny(_ domain: String) -> NetworkPolicyRule { NetworkPolicyRule(domain: domain, action: "deny") }
    public static let defaults = NetworkPolicyRule(include: "defaults")
}
