// Checkpoints, restore and fork (SPRITES-API.md §7, and Hob's `source` extension to create). Creating and restoring
// answer with NDJSON progress that arrives over time, so those two return a `CheckpointProgress` to iterate as lines
// come in; the rest are plain JSON calls.

import Foundation
import HobAPI
import NIOHTTP1

extension HobClient {
    /// `POST /v1/sprites/{name}/checkpoint`: starts a checkpoint of the sprite's disk. Throws right away when the
    /// server refuses (unknown sprite: `.notFound`); otherwise iterate the progress to learn the outcome.
    public func createCheckpoint(sprite: String, comment: String? = nil) async throws -> CheckpointProgress {
        let body = try JSONEncoder().encode(CreateCheckpointRequest(comment: comment))
        return try await progress(
            .POST, ["v1", "sprites", sprite, "checkpoint"], body: [UInt8](body),
            operation: "checkpoint of sprite \(sprite)")
    }

    /// `POST /v1/sprites/{name}/checkpoints/{id}/restore`: replaces the sprite's disk with the checkpoint's.
    /// The sprite restarts and its sessions end. Throws right away when the server refuses; otherwise iterate the
    /// progress to learn the outcome.
    public func restoreCheckpoint(sprite: String, id: String) async throws -> CheckpointProgress {
        try await progress(
            .POST, ["v1", "sprites", sprite, "checkpoints", id, "restore"], body: nil,
            operation: "restore of sprite \(sprite) to \(id)")
    }

    /// `GET /v1/sprites/{name}/checkpoints`, newest first as the server orders them, with the pseudo-entry
    /// `Current` for the live disk. Automatic checkpoints (`auto-N`) only with `includeAuto`; `history` keeps
    /// only the checkpoints descended from that one.
    public func listCheckpoints(sprite: String, includeAuto: Bool = false, history: String? = nil) async throws
        -> [CheckpointInfo]
    {
        var query: [(String, String)] = []
        if let history { query.append(("history", history)) }
        if includeAuto { query.append(("includeAuto", "true")) }
        // The `history` variant comes as text/plain (as on Sprites); the body is the same JSON array either way.
        return try await call(.GET, ["v1", "sprites", sprite, "checkpoints"], query: query)
    }

    /// `GET /v1/sprites/{name}/checkpoints/{id}`; `.notFound` when the sprite or the checkpoint does not exist.
    public func checkpoint(sprite: String, id: String) async throws -> CheckpointInfo {
        try await call(.GET, ["v1", "sprites", sprite, "checkpoints", id])
    }

    /// `DELETE /v1/sprites/{name}/checkpoints/{id}` → 204. `.conflict` for the checkpoint the sprite is on.
    public func deleteCheckpoint(sprite: String, id: String) async throws {
        _ = try await send(.DELETE, ["v1", "sprites", sprite, "checkpoints", id])
    }

    /// Creates sprite `name` as a copy-on-write copy of `source`: of its checkpoint `checkpoint`, or of its current
    /// disk when that is nil. `POST /v1/sprites` with Hob's `source` extension → 201 + SpriteInfo.
    public func fork(source: String, checkpoint: String? = nil, name: String) async throws -> SpriteInfo {
        try await createSprite(
            CreateSpriteRequest(name: name, source: ForkSource(sprite: source, checkpoint: checkpoint)))
    }

    /// Sends a request answered with NDJSON progress.
    private func progress(_ method: HTTPMethod, _ segments: [String], body: [UInt8]?, operation: String)
        async throws -> CheckpointProgress
    {
        let stream = try await openStream(method, segments, body: body)
        return CheckpointProgress(body: stream, operation: operation, url: endpoint.baseURL)
    }

    /// Sends a request whose answer streams. A non-2xx status is thrown as usual (its body is the Sprites error
    /// body); a 2xx hands over the body as it arrives.
    func openStream(_ method: HTTPMethod, _ segments: [String], query: [(String, String)] = [], body: [UInt8]?)
        async throws -> HTTPBodyStream
    {
        let target = try endpoint.parsed().requestTarget(segments: segments, query: query)
        let response = try await HTTPTransport.open(
            method, target: target, body: body, endpoint: endpoint, limits: limits, group: group)
        guard (200..<300).contains(response.status) else {
            let body = await response.collectBody(upTo: 64 << 10)
            throw HobClientError.http(status: response.status, body: body, url: endpoint.baseURL)
        }
        return response.body
    }
}

/// The progress of a checkpoint or restore: the server's NDJSON lines (SPRITES-API.md §7.2) as they arrive.
///
/// Iterate it once. It yields `info`, `stdout` and `stderr` lines as the server sends them, then the `complete`
/// line, and ends. It throws `HobClientError` with code `.operationFailed` and the server's text at an `error` line,
/// and `.badResponse` or `.timeout` when the stream breaks off, ends without `complete`, or carries something that is
/// not a progress line. Dropping it closes the connection (the server carries on with the operation regardless).
public struct CheckpointProgress: AsyncSequence, Sendable {
    public typealias Element = StreamMessage

    let body: HTTPBodyStream
    let operation: String
    let url: String

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(chunks: body.makeAsyncIterator(), decoder: StreamMessageDecoder(operation: operation), url: url)
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        /// nil once the body is over, or no longer wanted after the final line (dropping it closes the connection).
        var chunks: HTTPBodyStream.AsyncIterator?
        var decoder: StreamMessageDecoder
        let url: String
        var ready: [StreamMessage] = []

        public mutating func next() async throws -> StreamMessage? {
            while true {
                if !ready.isEmpty {
                    let message = ready.removeFirst()
                    if message.type == .error {
                        ready = []
                        throw decoder.failure(message)
                    }
                    return message
                }
                guard var source = chunks else { return nil }
                chunks = nil
                if let chunk = try await nextChunk(&source) {
                    ready = try decoder.decode(chunk)
                    if !decoder.isFinished { chunks = source }
                } else {
                    ready = try decoder.finish()
                }
            }
        }

        private func nextChunk(_ source: inout HTTPBodyStream.AsyncIterator) async throws -> [UInt8]? {
            do {
                return try await source.next()
            } catch let error as HobClientError {
                throw HobClientError(error.code, "\(decoder.operation): \(error.message)", cause: error)
            } catch {
                throw HobClientError(
                    .badResponse, "\(decoder.operation): lost the connection to the Hob API at \(url): \(error)",
                    cause: error)
            }
        }
    }

    /// The id of the checkpoint a create stream reported: from its `  ID: v3` line, or else from the
    /// `Checkpoint v3 created successfully` completion. Sprites servers keep both texts verbatim because clients
    /// parse them (SPRITES-API.md §7.2); nil when neither is there.
    public static func createdCheckpointID(in messages: [StreamMessage]) -> String? {
        for message in messages where message.type == .info {
            let text = message.data?.trimmingWhitespace() ?? ""
            if text.hasPrefix("ID:") {
                let id = String(text.dropFirst("ID:".count)).trimmingWhitespace()
                if !id.isEmpty { return id }
            }
        }
        for message in messages where message.type == .complete {
            let words = (message.data ?? "").split(separator: " ")
            if words.count == 4, words[0] == "Checkpoint", words[2] == "created", words[3] == "successfully" {
                return String(words[1])
            }
        }
        return nil
    }
}
