// Keep-awake tasks on the in-sprite API (SPRITES-API.md §12.1): a sprite holds itself running
// while it has a live task. Each lasts at most an hour; long work renews it (PUT).
import Foundation
import HobAPI
import HobCore
import Hummingbird

struct TaskRoutes {
    let fleet: Fleet

    func register(on router: Router<SpriteAPIContext>) {
        router.get("/v1/tasks") { _, context in
            let sprite = try await context.callerSprite(fleet)
            return jsonResponse(TaskList(tasks: try await fleet.tasks(of: sprite).map(Self.info)))
        }
        router.get("/v1/tasks/:task") { _, context in
            let sprite = try await context.callerSprite(fleet)
            return jsonResponse(Self.info(try await fleet.task(try Self.taskName(context), of: sprite)))
        }
        router.post("/v1/tasks") { request, context in
            let sprite = try await context.callerSprite(fleet)
            let body = try await decodeBody(TaskRequest.self, from: request, limit: 4096)
            guard let name = body.name else { throw HobError(.invalidArgument, "name is required") }
            let (task, _) = try await fleet.putTask(name, of: sprite, expire: try Self.expire(body), replace: false)
            return jsonResponse(Self.info(task), status: .created)
        }
        // Upsert, with the name in the path or in the body.
        router.put("/v1/tasks") { request, context in
            let sprite = try await context.callerSprite(fleet)
            let body = try await decodeBody(TaskRequest.self, from: request, limit: 4096)
            guard let name = body.name else { throw HobError(.invalidArgument, "name is required") }
            return try await upsert(name, body: body, sprite: sprite)
        }
        router.put("/v1/tasks/:task") { request, context in
            let sprite = try await context.callerSprite(fleet)
            let name = try Self.taskName(context)
            let body = try await decodeBodyIfPresent(TaskRequest.self, from: request, limit: 4096) ?? TaskRequest()
            if let other = body.name, other != name { throw HobError(.invalidArgument, "the name in the body (\(other)) differs from the path (\(name))") }
            return try await upsert(name, body: body, sprite: sprite)
        }
        router.delete("/v1/tasks/:task") { _, context in
            let sprite = try await context.callerSprite(fleet)
            try await fleet.deleteTask(try Self.taskName(context), of: sprite)
            return Response(status: .noContent)
        }
    }

    /// The `{task}` path segment, percent-decoded (the router hands it over as sent).
    static func taskName(_ context: SpriteAPIContext) throws -> String {
        let raw = try context.parameters.require("task")
        guard let name = raw.removingPercentEncoding else { throw HobError(.invalidArgument, "invalid task name \(raw)") }
        return name
    }

    func upsert(_ name: String, body: TaskRequest, sprite: String) async throws -> Response {
        let (task, _) = try await fleet.putTask(name, of: sprite, expire: try Self.expire(body), replace: true)
        return jsonResponse(Self.info(task))
    }

    /// Seconds; an hour (the most a task may last) when not given.
    static func expire(_ body: TaskRequest) throws -> Int {
        guard let value = body.expire else { return 3600 }
        guard let seconds = value.seconds else {
            throw HobError(.invalidArgument, "expire must be a number of seconds or a duration such as \"30m\" or \"1h\"")
        }
        return seconds
    }

    static func info(_ t: SpriteTaskRecord) -> TaskInfo {
        TaskInfo(name: t.name, startedAt: Timestamp.format(t.startedAt), expiresAt: Timestamp.format(t.expiresAt))
    }
}
