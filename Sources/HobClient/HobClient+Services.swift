// Services (SPRITES-API.md §8). Create, start and stop answer with an NDJSON stream of the service's events that
// arrives over time, returned as a `ServiceEvents` sequence; the rest are plain JSON calls.

import Foundation
import HobAPI
import NIOHTTP1

extension HobClient {
    public func listServices(sprite: String) async throws -> [ServiceInfo] {
        try await call(.GET, ["v1", "sprites", sprite, "services"])
    }

    public func service(sprite: String, name: String) async throws -> ServiceInfo {
        try await call(.GET, ["v1", "sprites", sprite, "services", name])
    }

    /// `PUT …/services/{name}`: defines (or redefines) the service and starts it. `duration` ("5s") follows its
    /// output that long; without it the stream ends once the service has started.
    public func putService(sprite: String, name: String, _ request: ServiceRequest, duration: String? = nil) async throws
        -> ServiceEvents
    {
        let body = try JSONEncoder().encode(request)
        return try await events(.PUT, ["v1", "sprites", sprite, "services", name], "duration", duration, body: [UInt8](body))
    }

    public func startService(sprite: String, name: String, duration: String? = nil) async throws -> ServiceEvents {
        try await events(.POST, ["v1", "sprites", sprite, "services", name, "start"], "duration", duration)
    }

    /// Stops it (TERM, then KILL after `timeout`, "10s" unless given); it stays stopped until started again.
    /// `.conflict` when it is not running.
    public func stopService(sprite: String, name: String, timeout: String? = nil) async throws -> ServiceEvents {
        try await events(.POST, ["v1", "sprites", sprite, "services", name, "stop"], "timeout", timeout)
    }

    /// `POST …/services/{name}/restart`: stops it if it is wanted, then starts it, in one stream.
    public func restartService(sprite: String, name: String, duration: String? = nil) async throws -> ServiceEvents {
        try await events(.POST, ["v1", "sprites", sprite, "services", name, "restart"], "duration", duration)
    }

    /// `GET …/services/{name}/logs`: the last `lines` lines of its log (all when nil) as `stdout` lines, then, with
    /// `duration` ("30s"), what it writes for that long while the sprite is awake, then `complete`.
    public func serviceLogs(sprite: String, name: String, lines: Int? = nil, duration: String? = nil) async throws -> ServiceEvents {
        var query: [(String, String)] = []
        if let lines { query.append(("lines", String(lines))) }
        if let duration { query.append(("duration", duration)) }
        let segments = ["v1", "sprites", sprite, "services", name, "logs"]
        return ServiceEvents(body: try await openStream(.GET, segments, query: query, body: nil), url: endpoint.baseURL, what: "a service stream")
    }

    public func deleteService(sprite: String, name: String) async throws {
        _ = try await send(.DELETE, ["v1", "sprites", sprite, "services", name])
    }

    /// `.conflict` when the service is not running.
    public func signalService(sprite: String, name: String, signal: String) async throws {
        let body = try JSONEncoder().encode(ServiceSignalRequest(name: name, signal: signal))
        _ = try await send(.POST, ["v1", "sprites", sprite, "services", "signal"], body: [UInt8](body))
    }

    private func events(
        _ method: HTTPMethod, _ segments: [String], _ parameter: String, _ value: String?, body: [UInt8]? = nil
    ) async throws -> ServiceEvents {
        let query = value.map { [(parameter, $0)] } ?? []
        return ServiceEvents(body: try await openStream(method, segments, query: query, body: body), url: endpoint.baseURL, what: "a service stream")
    }
}

/// The NDJSON lines of a service stream as they arrive: `started`, `stdout`, `stderr`, `exit`, `stopping`,
/// `stopped` and `error` events, then a `complete` line. An `error` line is not necessarily the end (a start that
/// failed is retried); the stream ends after `complete`, or after the server's own `error` line when the operation
/// failed. Iterate it once.
public typealias ServiceEvents = NDJSONEvents<ServiceLogLine>
