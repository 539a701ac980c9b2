// The Sprites v1 API as async Swift calls: sprite CRUD and session listing over plain HTTP, exec and attach over
// WebSocket (HobClient+Exec.swift). Used by the CLI and the integration tests.

import Foundation
import HobAPI
import NIOCore
import NIOHTTP1
import NIOPosix

public final class HobClient: Sendable {
    public static let userAgent = "hob-cli/0.1"

    public let endpoint: HobEndpoint
    let group: any EventLoopGroup
    let limits: TransportLimits

    public init(endpoint: HobEndpoint, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.endpoint = endpoint
        self.group = group
        self.limits = TransportLimits()
    }

    // MARK: Sprites

    /// `POST /v1/sprites` → 201 + SpriteInfo.
    public func createSprite(_ request: CreateSpriteRequest) async throws -> SpriteInfo {
        try await call(.POST, ["v1", "sprites"], body: request)
    }

    /// One page of `GET /v1/sprites`.
    public func listSprites(prefix: String? = nil, maxResults: Int? = nil, continuationToken: String? = nil)
        async throws -> SpriteList
    {
        var query: [(String, String)] = []
        if let maxResults { query.append(("max_results", String(maxResults))) }
        if let continuationToken { query.append(("continuation_token", continuationToken)) }
        if let prefix, !prefix.isEmpty { query.append(("prefix", prefix)) }
        return try await call(.GET, ["v1", "sprites"], query: query)
    }

    /// Every sprite, following continuation tokens.
    public func listAllSprites(prefix: String? = nil) async throws -> [SpriteInfo] {
        var sprites: [SpriteInfo] = []
        var token: String?
        var seen: Set<String> = []
        repeat {
            let page = try await listSprites(prefix: prefix, maxResults: 100, continuationToken: token)
            sprites += page.sprites
            token = page.hasMore ? page.nextContinuationToken : nil
            if let t = token, !seen.insert(t).inserted {
                throw HobClientError(.badResponse, "the sprite list repeats continuation token \"\(t)\"")
            }
        } while token != nil
        return sprites
    }

    /// `GET /v1/sprites/{name}`.
    public func getSprite(_ name: String) async throws -> SpriteInfo {
        try await call(.GET, ["v1", "sprites", name])
    }

    /// `PUT /v1/sprites/{name}` (partial update).
    public func updateSprite(_ name: String, _ update: UpdateSpriteRequest) async throws -> SpriteInfo {
        try await call(.PUT, ["v1", "sprites", name], body: update)
    }

    /// `DELETE /v1/sprites/{name}` → 204.
    public func deleteSprite(_ name: String) async throws {
        _ = try await send(.DELETE, ["v1", "sprites", name])
    }

    // MARK: Sessions

    /// `GET /v1/sprites/{name}/exec` without an upgrade.
    public func listSessions(_ name: String) async throws -> [ExecSessionInfo] {
        let response = try await send(.GET, ["v1", "sprites", name, "exec"])
        let decoder = JSONDecoder()
        if let list = try? decoder.decode(ExecSessionList.self, from: Data(response.body)) { return list.sessions }
        return try decode([ExecSessionInfo].self, response, "GET /v1/sprites/\(name)/exec")
    }

    /// `POST /v1/sprites/{name}/exec/{id}/kill?signal=…&timeout=0s`: delivers the signal and does not wait (a zero
    /// timeout never escalates to KILL). Throws `.sessionExited` when the process is already gone (410).
    public func killSession(_ name: String, id: String, signal: String = "TERM") async throws {
        do {
            _ = try await send(.POST, ["v1", "sprites", name, "exec", id, "kill"], query: [("signal", signal), ("timeout", "0s")])
        } catch var error as HobClientError where error.code == .sessionExited {
            error.message = "session \(id) on \(name) has already exited"
            throw error
        }
    }

    // MARK: Plumbing

    func call<Response: Decodable>(
        _ method: HTTPMethod, _ segments: [String], query: [(String, String)] = []
    ) async throws -> Response {
        let response = try await send(method, segments, query: query)
        return try decode(Response.self, response, "\(method) /\(segments.joined(separator: "/"))")
    }

    func call<Body: Encodable, Response: Decodable>(
        _ method: HTTPMethod, _ segments: [String], query: [(String, String)] = [], body: Body
    ) async throws -> Response {
        let data = try JSONEncoder().encode(body)
        let response = try await send(method, segments, query: query, body: [UInt8](data))
        return try decode(Response.self, response, "\(method) /\(segments.joined(separator: "/"))")
    }

    /// Sends one request; non-2xx answers become `HobClientError.http`.
    func send(
        _ method: HTTPMethod, _ segments: [String], query: [(String, String)] = [], body: [UInt8]? = nil
    ) async throws -> HTTPResponse {
        let target = try endpoint.parsed().requestTarget(segments: segments, query: query)
        let response = try await HTTPTransport.send(
            method, target: target, body: body, endpoint: endpoint, limits: limits, group: group)
        guard (200..<300).contains(response.status) else {
            throw HobClientError.http(status: response.status, body: response.body, url: endpoint.baseURL)
        }
        return response
    }

    private func decode<T: Decodable>(_ type: T.Type, _ response: HTTPResponse, _ what: String) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(response.body))
        } catch {
            throw HobClientError(
                .badResponse, "unexpected answer to \(what) from \(endpoint.baseURL): \(error)", cause: error)
        }
    }
}
