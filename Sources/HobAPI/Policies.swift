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
