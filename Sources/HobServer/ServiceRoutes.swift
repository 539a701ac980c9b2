// Service endpoints (SPRITES-API.md §8), shared by the public API (/v1/sprites/{name}/services…)
// and the in-sprite API on /.sprite/api.sock (/v1/services…, the sprite being the caller).
//
// Create (PUT), start, stop and restart answer 200 and stream NDJSON: the service's events (`started`,
// `stdout`, `stderr`, `exit`, `stopping`, `stopped`, `error`) and a last `complete` line. Without
// `?duration=` the stream ends once the service has started (or stopped); with it, it follows the
// output for that long. Anything wrong with the request is found before the stream starts and
// gets a 4xx with the Sprites error body. Logs (`GET …/{svc}/logs?lines&duration`) streams the
// last lines of the service's log file, then, with a duration and a running sprite, what the
// service writes for that long.
import Foundation
import HobAPI
import HobAgentProtocol
import HobCore
import HobOS
import Hummingbird

struct ServiceHandlers: Sendable {
    let fleet: Fleet

    /// Longest `duration` a stream follows a service.
    static let maxDuration: Duration = .seconds(3600)

    func list(sprite: String) async throws -> Response {
        jsonResponse(try await fleet.serviceList(sprite))
    }

    func get(sprite: String, service: String) async throws -> Response {
        jsonResponse(try await fleet.serviceInfo(sprite, service))
    }

    func put(sprite: String, service: String, request: Request) async throws -> Response {
        let body = try await decodeBody(ServiceRequest.self, from: request, limit: 1 << 20)
        let duration = try Self.duration(request, "duration")
        try await fleet.checkService(sprite, service, body)  // a bad request does not boot the sprite
        return try await follow(sprite, service, goal: .started, duration: duration) {
            _ = try await fleet.defineService(sprite, service, body)
            try await fleet.setServiceWanted(sprite, service, true)  // and what it needs
        } action: { id in
            try await fleet.pushServices(id, startNow: service)
        }
    }

    func start(sprite: String, service: String, request: Request) async throws -> Response {
        let duration = try Self.duration(request, "duration")
        _ = try await fleet.serviceDefinition(sprite, service)  // 404 before booting the sprite
        return try await follow(sprite, service, goal: .started, duration: duration) {
            try await fleet.setServiceWanted(sprite, service, true)
        } action: { id in
            try await fleet.pushServices(id, startNow: service)
        }
    }

    func stop(sprite: String, service: String, request: Request) async throws -> Response {
        let grace = try Self.duration(request, "timeout") ?? .seconds(10)
        guard try await fleet.setServiceWanted(sprite, service, false) else {
            throw HobError(.invalidState, "service \(service) is not running")
        }
        // A cold sprite runs nothing: the stop is recorded, and it will not start at the next boot.
        guard try await fleet.awake(sprite) != nil else {
            return ndjsonResponse({ emit in
                await emit(Self.line(.stopped))
                return ServiceLogLine(type: "complete", data: "service \(service) is stopped", timestamp: Self.nowMs(), logFiles: Self.logFiles(service))
            }, failure: Self.errorLine)
        }
        return try await follow(sprite, service, goal: .stopped, duration: nil, stopGrace: grace) {
        } action: { id in
            try await fleet.pushServices(id, grace: grace)
        }
    }

    /// Stops the service if it is wanted (streaming the stop as `stop` does), then starts it
    /// (as `start` does), in one stream. A stopped service is just started.
    func restart(sprite: String, service: String, request: Request) async throws -> Response {
        let duration = try Self.duration(request, "duration")
        let grace = try Self.duration(request, "timeout") ?? .seconds(10)
        _ = try await fleet.serviceDefinition(sprite, service)  // 404 before booting the sprite
        let (id, running) = try await fleet.hold(sprite)
        await fleet.settle(sprite)
        let fleet = self.fleet
        return ndjsonResponse({ emit in
            defer { Task { await fleet.release(id) } }
            if try await fleet.setServiceWanted(sprite, service, false) {
                _ = try await fleet.followService(
                    running, service, goal: .stopped, duration: nil, stopGrace: grace, action: { try await fleet.pushServices(id, grace: grace) },
                    emit: { event in await emit(Self.line(event)) })
            }
            try await fleet.setServiceWanted(sprite, service, true)
            let summary = try await fleet.followService(
                running, service, goal: .started, duration: duration, action: { try await fleet.pushServices(id, startNow: service) },
                emit: { event in await emit(Self.line(event)) })
            return ServiceLogLine(type: "complete", data: summary, timestamp: Self.nowMs(), logFiles: Self.logFiles(service))
        }, failure: Self.errorLine)
    }

    /// The last `lines` lines of the service's log (all by default) as `stdout` lines (the log
    /// holds stdout and stderr together, with Hob's `--- hob: … ---` notes), then, with
    /// `duration` and a sprite that is awake, its events for that long. A cold sprite is not
    /// booted: its log is read from its disk and the stream ends.
    func logs(sprite: String, service: String, request: Request) async throws -> Response {
        let duration = try Self.duration(request, "duration")
        var count: Int?
        if let raw = request.uri.queryParameters["lines"].map(String.init), !raw.isEmpty {
            guard let n = Int(raw), n >= 0 else { throw HobError(.invalidArgument, "lines must be a number of lines, 0 or more; got \"\(raw)\"") }
            count = n
        }
        _ = try await fleet.serviceDefinition(sprite, service)  // 404 for an unknown sprite or service
        let wanted = count
        let saved = try await fleet.withFiles(sprite) { files in
            try await offload { try ServiceLogTail.read(files, service: service, count: wanted) }
        }
        // Following needs the sprite's agent: a sprite that is awake is held for the stream.
        var held: (id: String, running: RunningSprite)?
        if duration != nil, try await fleet.awake(sprite) != nil { held = try await fleet.hold(sprite) }
        let fleet = self.fleet
        let follow = held
        return ndjsonResponse({ emit in
            defer { if let follow { Task { await fleet.release(follow.id) } } }
            let now = Self.nowMs()
            for line in saved { await emit(ServiceLogLine(type: "stdout", data: line, timestamp: now)) }
            if let follow, let duration {
                _ = try await fleet.followService(
                    follow.running, service, goal: .started, duration: duration, action: {}, emit: { event in await emit(Self.line(event)) })
            }
            return ServiceLogLine(type: "complete", timestamp: Self.nowMs(), logFiles: Self.logFiles(service))
        }, failure: Self.errorLine, endsWithClient: true)
    }

    func delete(sprite: String, service: String) async throws -> Response {
        try await fleet.deleteService(sprite, service)
        return Response(status: .noContent)
    }

    func signal(sprite: String, request: Request) async throws -> Response {
        let body = try await decodeBody(ServiceSignalRequest.self, from: request, limit: 4096)
        guard let name = body.name, !name.isEmpty else { throw HobError(.invalidArgument, "name is required") }
        guard let raw = body.signal, let number = SignalName.number(raw) else {
            throw HobError(.invalidArgument, "signal must be a name such as TERM, HUP, KILL, USR1 (or SIGTERM, 15), got \"\(body.signal ?? "")\"")
        }
        try await fleet.signalService(sprite, name, signal: number)
        return Response(status: .noContent)
    }

    // MARK: - Streams

    /// Holds the sprite (booting it if cold), lets the work its boot queued finish (the push of
    /// the services already defined), records the change (`prepare`), and streams the service's
    /// events while `action` pushes the change to its hob-init. In that order, the stream sees the
    /// start it asked for, and not one a boot made before the stream began.
    private func follow(
        _ sprite: String, _ service: String, goal: ServiceStreamGoal, duration: Duration?, stopGrace: Duration = .seconds(10),
        prepare: () async throws -> Void, action: @escaping @Sendable (_ spriteID: String) async throws -> Void
    ) async throws -> Response {
        let (id, running) = try await fleet.hold(sprite)
        do {
            await fleet.settle(sprite)
            try await prepare()
        } catch {
            await fleet.release(id)
            throw error
        }
        let fleet = self.fleet
        return ndjsonResponse({ emit in
            defer { Task { await fleet.release(id) } }
            let summary = try await fleet.followService(
                running, service, goal: goal, duration: duration, stopGrace: stopGrace, action: { try await action(id) },
                emit: { event in await emit(Self.line(event)) })
            return ServiceLogLine(type: "complete", data: summary, timestamp: Self.nowMs(), logFiles: Self.logFiles(service))
        }, failure: Self.errorLine)
    }

    static func line(_ event: ServiceEvent) -> ServiceLogLine {
        ServiceLogLine(
            type: event.kind.name, data: event.data.isEmpty ? nil : String(decoding: event.data, as: UTF8.self),
            exitCode: event.kind == .exit ? Int(event.exitCode) : nil, timestamp: event.timestampMs)
    }

    static func line(_ kind: ServiceEvent.Kind) -> ServiceLogLine { ServiceLogLine(type: kind.name, timestamp: nowMs()) }

    static func errorLine(_ message: String) -> ServiceLogLine { ServiceLogLine(type: "error", data: message, timestamp: nowMs()) }

    static func logFiles(_ service: String) -> [String: String] { ["log": serviceLogPath(service)] }

    static func nowMs() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

    /// `?duration=5s` (Go prints "1m30s", Python "5.0s"); nil when absent.
    static func duration(_ request: Request, _ parameter: String) throws -> Duration? {
        guard let raw = request.uri.queryParameters[Substring(parameter)].map(String.init), !raw.isEmpty else { return nil }
        guard let ms = DurationText.milliseconds(raw), .milliseconds(ms) <= maxDuration else {
            throw HobError(.invalidArgument, "\(parameter) must be a duration such as 5s, 500ms or 1m30s, at most 1h; got \"\(raw)\"")
        }
        return ms == 0 ? nil : .milliseconds(ms)
    }
}

/// The public API's service routes.
struct ServiceRoutes<Context: RequestContext> {
    let handlers: ServiceHandlers

    func register(on router: Router<Context>) {
        router.get("/v1/sprites/:name/services") { _, context in
            try await handlers.list(sprite: try context.parameters.require("name"))
        }
        router.post("/v1/sprites/:name/services/signal") { request, context in
            try await handlers.signal(sprite: try context.parameters.require("name"), request: request)
        }
        router.get("/v1/sprites/:name/services/:service") { _, context in
            try await handlers.get(sprite: try context.parameters.require("name"), service: try context.parameters.require("service"))
        }
        router.put("/v1/sprites/:name/services/:service") { request, context in
            try await handlers.put(sprite: try context.parameters.require("name"), service: try context.parameters.require("service"), request: request)
        }
        router.delete("/v1/sprites/:name/services/:service") { _, context in
            try await handlers.delete(sprite: try context.parameters.require("name"), service: try context.parameters.require("service"))
        }
        router.post("/v1/sprites/:name/services/:service/start") { request, context in
            try await handlers.start(sprite: try context.parameters.require("name"), service: try context.parameters.require("service"), request: request)
        }
        router.post("/v1/sprites/:name/services/:service/stop") { request, context in
            try await handlers.stop(sprite: try context.parameters.require("name"), service: try context.parameters.require("service"), request: request)
        }
        router.post("/v1/sprites/:name/services/:service/restart") { request, context in
            try await handlers.restart(sprite: try context.parameters.require("name"), service: try context.parameters.require("service"), request: request)
        }
        router.get("/v1/sprites/:name/services/:service/logs") { request, context in
            try await handlers.logs(sprite: try context.parameters.require("name"), service: try context.parameters.require("service"), request: request)
        }
    }
}

extension ServiceHandlers {
    /// The in-sprite API's service routes: the same handlers, the caller's own sprite.
    func register(on router: Router<SpriteAPIContext>) {
        let fleet = self.fleet
        router.get("/v1/services") { _, context in try await list(sprite: try await context.callerSprite(fleet)) }
        router.post("/v1/services/signal") { request, context in
            try await signal(sprite: try await context.callerSprite(fleet), request: request)
        }
        router.get("/v1/services/:service") { _, context in
            try await get(sprite: try await context.callerSprite(fleet), service: try context.parameters.require("service"))
        }
        router.put("/v1/services/:service") { request, context in
            try await put(sprite: try await context.callerSprite(fleet), service: try context.parameters.require("service"), request: request)
        }
        router.delete("/v1/services/:service") { _, context in
            try await delete(sprite: try await context.callerSprite(fleet), service: try context.parameters.require("service"))
        }
        router.post("/v1/services/:service/start") { request, context in
            try await start(sprite: try await context.callerSprite(fleet), service: try context.parameters.require("service"), request: request)
        }
        router.post("/v1/services/:service/stop") { request, context in
            try await stop(sprite: try await context.callerSprite(fleet), service: try context.parameters.require("service"), request: request)
        }
        router.post("/v1/services/:service/restart") { request, context in
            try await restart(sprite: try await context.callerSprite(fleet), service: try context.parameters.require("service"), request: request)
        }
        router.get("/v1/services/:service/logs") { request, context in
            try await logs(sprite: try await context.callerSprite(fleet), service: try context.parameters.require("service"), request: request)
        }
    }
}
