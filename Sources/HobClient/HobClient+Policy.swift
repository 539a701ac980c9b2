// Sprite policies (docs/API.md): the resources policy, a sprite's memory limit.

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
}
