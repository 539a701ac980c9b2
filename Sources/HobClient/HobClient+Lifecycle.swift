// Hob's lifecycle extensions (docs/API.md): forced sleep and usage.

import HobAPI
import NIOHTTP1

extension HobClient {
    /// `POST /v1/sprites/{name}/sleep` → SpriteInfo. `state` is `warm` or `cold`.
    public func sleepSprite(_ name: String, state: SpriteStatus = .warm) async throws -> SpriteInfo {
        try await call(.POST, ["v1", "sprites", name, "sleep"], body: SleepRequest(state: state.rawValue))
    }

    /// `GET /v1/sprites/{name}/usage`.
    public func usage(_ name: String) async throws -> SpriteUsage {
        try await call(.GET, ["v1", "sprites", name, "usage"])
    }

    /// `GET /v1/usage`: every sprite and the host's totals.
    public func hostUsage() async throws -> HostUsage {
        try await call(.GET, ["v1", "usage"])
    }
}
