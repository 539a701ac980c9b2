// Secrets a sprite uses through the gateway without seeing them (`/v1/secrets`, admin only). Values go to the
// daemon with `setSecret` and never come back: every answer names the headers alone.

import HobAPI
import NIOHTTP1

extension HobClient {
    /// `PUT /v1/secrets/{name}`: creates or replaces the secret; answers it without its values.
    public func setSecret(name: String, _ request: SecretRequest) async throws -> SecretInfo {
        try await call(.PUT, ["v1", "secrets", name], body: request)
    }

    /// `GET /v1/secrets`: every secret, by name.
    public func listSecrets() async throws -> [SecretInfo] {
        let list: SecretList = try await call(.GET, ["v1", "secrets"])
        return list.secrets
    }

    /// `GET /v1/secrets/{name}`.
    public func secret(name: String) async throws -> SecretInfo {
        try await call(.GET, ["v1", "secrets", name])
    }

    /// `DELETE /v1/secrets/{name}` → 204.
    public func deleteSecret(name: String) async throws {
        _ = try await send(.DELETE, ["v1", "secrets", name])
    }
}
