// Checkpoint endpoints (SPRITES-API.md §7), shared by the public API (/v1/sprites/{name}/…) and
// the in-sprite API on /.sprite/api.sock (/v1/…, the sprite being the caller).
//
// Create and restore answer 200 at once and stream NDJSON progress, ending with a `complete` or
// an `error` line. Anything wrong with the request itself (no such sprite or checkpoint, a bad
// comment) is found before the stream starts and gets a 4xx with the Sprites error body.
import Foundation
import HobAPI
import HobCore
import Hummingbird
import NIOCore

struct CheckpointHandlers: Sendable {
    let fleet: Fleet

    func list(sprite: String, request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        let includeAuto = ["true", "1"].contains(query["includeAuto"].map { String($0).lowercased() } ?? "")
        let history = query["history"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
        var response = jsonResponse(try await fleet.checkpointList(sprite, includeAuto: includeAuto, history: history))
        // The Sprites API answers the history variant as text/plain (with the same JSON body);
        // clients written against it expect exactly that.
        if history != nil { response.headers[.contentType] = "text/plain; charset=utf-8" }
        return response
    }

    func get(sprite: String, id: String) async throws -> Response {
        jsonResponse(try await fleet.checkpointInfo(sprite, id))
    }

    func create(sprite: String, request: Request) async throws -> Response {
        let body = try await decodeBodyIfPresent(CreateCheckpointRequest.self, from: request, limit: 64 << 10)
        // Old clients send the comment as a query parameter.
        let comment = body?.comment ?? request.uri.queryParameters["comment"].map(String.init) ?? ""
        try Fleet.validateComment(comment)
        _ = try await fleet.bootable(sprite)
        try await fleet.requireSpace("checkpoint sprite \(sprite)")  // 507 before the stream starts
        try await fleet.admitCheckpoint(sprite)  // 409 at the count cap, 429 past the rate, before the stream
        return ndjsonStream { emit in
            await emit(StreamMessage(type: .info, data: "Creating checkpoint..."))
            let checkpoint = try await fleet.createCheckpoint(sprite, comment: comment)
            await emit(StreamMessage(type: .info, data: "Checkpoint created successfully"))
            // Third-party clients parse the id out of these two lines: keep them verbatim.
            await emit(StreamMessage(type: .info, data: "  ID: \(checkpoint.id)"))
            await emit(StreamMessage(type: .info, data: "  Path: checkpoints/\(checkpoint.id)"))
            return StreamMessage(type: .complete, data: "Checkpoint \(checkpoint.id) created successfully")
        }
    }

    func restore(sprite: String, id: String) async throws -> Response {
        try await fleet.validateRestore(sprite, id)  // 400/404 before the stream starts
        return ndjsonStream { emit in
            try await fleet.restoreCheckpoint(sprite, id) { line in await emit(StreamMessage(type: .info, data: line)) }
            return StreamMessage(type: .complete, data: "Restored")
        }
    }

    func delete(sprite: String, id: String) async throws -> Response {
        try await fleet.deleteCheckpoint(sprite, id)
        return Response(status: .noContent)
    }
}

struct CheckpointRoutes<Context: RequestContext> {
    let handlers: CheckpointHandlers

    func register(on router: Router<Context>) {
        router.get("/v1/sprites/:name/checkpoints") { request, context in
            try await handlers.list(sprite: try context.parameters.require("name"), request: request)
        }
        router.get("/v1/sprites/:name/checkpoints/:id") { _, context in
            try await handlers.get(sprite: try context.parameters.require("name"), id: try context.parameters.require("id"))
        }
        router.post("/v1/sprites/:name/checkpoint") { request, context in
            try await handlers.create(sprite: try context.parameters.require("name"), request: request)
        }
        router.post("/v1/sprites/:name/checkpoints/:id/restore") { _, context in
            try await handlers.restore(sprite: try context.parameters.require("name"), id: try context.parameters.require("id"))
        }
        router.delete("/v1/sprites/:name/checkpoints/:id") { _, context in
            try await handlers.delete(sprite: try context.parameters.require("name"), id: try context.parameters.require("id"))
        }
    }
}

/// A 200 response streaming NDJSON in the checkpoint format: the lines `work` emits, then the
/// line it returns, or an `error` line if it throws, each stamped with the time.
func ndjsonStream(
    _ work: @escaping @Sendable (_ emit: @escaping @Sendable (StreamMessage) async -> Void) async throws -> StreamMessage
) -> Response {
    ndjsonResponse(work, failure: { StreamMessage(type: .error, error: $0) }, stamp: { $0.time = Timestamp.format(Date()) })
}

/// A 200 response streaming NDJSON: the lines `work` emits, then the line it returns, or the
/// `failure` line for the error it throws. The work runs to the end even if the client goes away
/// (a restore half done because a connection dropped would help nobody), unless it only reports
/// (`endsWithClient`: a log followed for an hour must not keep its sprite held for nobody).
/// Either way the body ends when its connection does (SpritesServerChannel cancels it).
func ndjsonResponse<Line: Encodable & Sendable>(
    _ work: @escaping @Sendable (_ emit: @escaping @Sendable (Line) async -> Void) async throws -> Line,
    failure: @escaping @Sendable (String) -> Line, stamp: @escaping @Sendable (inout Line) -> Void = { _ in },
    endsWithClient: Bool = false
) -> Response {
    let (lines, continuation) = AsyncStream<Line>.makeStream()
    let task = Task {
        let last: Line
        do {
            last = try await work { line in continuation.yield(line) }
        } catch {
            last = failure(APIError.map(error).1.message)
        }
        continuation.yield(last)
        continuation.finish()
    }
    // The body stopped reading (cancelled with its connection) or the client stopped taking lines.
    if endsWithClient { continuation.onTermination = { _ in task.cancel() } }
    let body = ResponseBody { writer in
        var open = true
        for await var line in lines where open {
            stamp(&line)
            var data = (try? jsonEncoder.encode(line)) ?? Data()
            data.append(UInt8(ascii: "\n"))
            do { try await writer.write(ByteBuffer(bytes: data)) } catch {
                open = false
                if endsWithClient { task.cancel() }
            }
        }
        if open { try await writer.finish(nil) }
    }
    return Response(status: .ok, headers: [.contentType: "application/x-ndjson"], body: body)
}
