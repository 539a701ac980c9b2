// Scoped API tokens and the audit log: minting, listing and revoking tokens under the daemon's organization
// (`/v1/organizations/{org}/tokens`), and `GET /v1/events`. Attenuating and reading a token need no daemon; they
// are HobAccess's (`hob token attenuate|inspect`).

import HobAPI
import NIOHTTP1

extension HobClient {
    /// `POST /v1/organizations/{org}/tokens` → 201: a new token that can do at most what this client's token can,
    /// narrowed by the request. The token string is in the answer only; the daemon keeps no copy.
    public func createToken(org: String, _ request: CreateTokenRequest) async throws -> CreateTokenResponse {
        try await call(.POST, ["v1", "organizations", org, "tokens"], body: request)
    }

    /// `GET /v1/organizations/{org}/tokens`: every token's record, never a token itself (needs `admin`).
    public func listTokens(org: String) async throws -> [TokenInfo] {
        let list: TokenList = try await call(.GET, ["v1", "organizations", org, "tokens"])
        return list.tokens
    }

    /// `DELETE /v1/organizations/{org}/tokens/{id}` → 204: the token and every token minted under it stop working.
    public func revokeToken(org: String, id: String) async throws {
        _ = try await send(.DELETE, ["v1", "organizations", org, "tokens", id])
    }

    /// One page of `GET /v1/events`, newest first (needs `admin`). `before` is an event id: the page holds older
    /// events only, as `nextBefore` of the previous page gives it.
    public func events(sprite: String? = nil, token: String? = nil, before: Int64? = nil, limit: Int? = nil)
        async throws -> AuditEventList
    {
        var query: [(String, String)] = []
        if let sprite, !sprite.isEmpty { query.append(("sprite", sprite)) }
        if let token, !token.isEmpty { query.append(("token", token)) }
        if let before { query.append(("before", String(before))) }
        if let limit { query.append(("limit", String(limit))) }
        return try await call(.GET, ["v1", "events"], query: query)
    }

    /// The organization tokens live under. A scoped token names it (`<org>/<id>/<body>`), so a token that may
    /// mint but not list sprites still finds it; the admin token asks the daemon (`GET /v1/sprites` → `org.name`).
    public func organization() async throws -> String {
        let parts = endpoint.token.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count == 3, !parts[0].isEmpty { return String(parts[0]) }
        return try await listSprites(maxResults: 1).org.name
    }
}

extension HobClient {
    /// `POST /v1/sprites/{name}/url/login`: a one-time sign-in link to the sprite's URL for a browser.
    public func urlLoginLink(_ name: String) async throws -> URLLoginLink {
        try await call(.POST, ["v1", "sprites", name, "url", "login"])
    }
}
