// Sprite policies (docs/API.md): privileges (capabilities, seccomp profile, devices) and
// resources (the memory limit), network (egress rules).

import Foundation
import HobAPI
import NIOHTTP1

extension HobClient {
    /// `GET /v1/sprites/{name}/policy/resources`.
    public func resourcesPolicy(_ name: String) async throws -> ResourcesPolicy {
        try await call(.GET, ["v1", "sprites", name, "policy", "resources"])
    }

    /// `POST /v1/sprites/{name}/policy/resources` → 204; applied to a running sprite at once.
    public func setResourcesPolicy(_ name: String, _ policy: ResourcesPolicy) async throws {
        let data = try JSONEncoder().encode(policy)
        _ = try await send(.POST, ["v1", "sprites", name, "policy", "resources"], body: [UInt8](data))
    }

    /// `DELETE /v1/sprites/{name}/policy/resources` → 204: back to the daemon's default.
    public func deleteResourcesPolicy(_ name: String) async throws {
        _ = try await send(.DELETE, ["v1", "sprites", name, "policy", "resources"])
    }

    /// `GET /v1/sprites/{name}/policy/privileges`.
    public func privilegesPolicy(_ name: String) async throws -> PrivilegesPolicy {
        try await call(.GET, ["v1", "sprites", name, "policy", "privileges"])
    }

    /// `POST /v1/sprites/{name}/policy/privileges`: changes the fields `policy` carries; returns
    /// the policy now in effect.
    public func setPrivilegesPolicy(_ name: String, _ policy: PrivilegesPolicy) async throws -> PrivilegesPolicy {
        try await call(.POST, ["v1", "sprites", name, "policy", "privileges"], body: policy)
    }

    /// `DELETE /v1/sprites/{name}/policy/privileges`: back to the default (`standard`).
    public func deletePrivilegesPolicy(_ name: String) async throws -> PrivilegesPolicy {
        try await call(.DELETE, ["v1", "sprites", name, "policy", "privileges"])
    }

    /// `GET /v1/sprites/{name}/policy/network`.
    public func networkPolicy(_ name: String) async throws -> NetworkPolicy {
        try await call(.GET, ["v1", "sprites", name, "policy", "network"])
    }

    /// `POST /v1/sprites/{name}/policy/network` → 204.
    public func setNetworkPolicy(_ name: String, _ policy: NetworkPolicy) async throws {
        let body = try JSONEncoder().encode(policy)
        _ = try await send(.POST, ["v1", "sprites", name, "policy", "network"], body: [UInt8](body))
    }
}
