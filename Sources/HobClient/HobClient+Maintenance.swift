// Sprite maintenance (restart, check, upgrade) and the live sprite list (SPRITES-API.md §3.6, §18).

import Foundation
import HobAPI
import NIOHTTP1

extension HobClient {
    /// `POST /v1/sprites/{name}/restart`: stops its processes and boots it again on the same disk.
    public func restartSprite(_ name: String) async throws -> RestartResponse {
        try await call(.POST, ["v1", "sprites", name, "restart"])
    }

    /// `GET /v1/sprites/{name}/check`: a health check that does not wake the sprite.
    public func checkSprite(_ name: String) async throws -> CheckResponse {
        try await call(.GET, ["v1", "sprites", name, "check"])
    }

    /// `POST /v1/sprites/{name}/upgrade`.
    public func upgradeSprite(_ name: String) async throws -> UpgradeResponse {
        try await call(.POST, ["v1", "sprites", name, "upgrade"])
    }

    /// `GET /v1/sprites` as NDJSON: the sprites as they are (`sprite` lines, then `synced`), then their changes
    /// for as long as it is iterated.
    public func watchSprites(prefix: String? = nil) async throws -> SpriteListEvents {
        let query = prefix.flatMap { $0.isEmpty ? nil : [("prefix", $0)] } ?? []
        return SpriteListEvents(
            body: try await openStream(.GET, ["v1", "sprites"], query: query, body: nil), url: endpoint.baseURL, what: "the sprite list")
    }
}

/// The lines of the live sprite list as they arrive. It ends only when the connection does.
public typealias SpriteListEvents = NDJSONEvents<SpriteListEvent>

/// The lines of an NDJSON answer, each decoded as `Element`, as they arrive; it ends with the body. `what` names
/// the stream in errors ("the sprite list", "a service stream").
public struct NDJSONEvents<Element: Decodable & Sendable>: AsyncSequence, Sendable {
    let body: HTTPBodyStream
    let url: String
    let what: String

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(chunks: body.makeAsyncIterator(), url: url, what: what) }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var chunks: HTTPBodyStream.AsyncIterator?
        let url: String
        let what: String
        var lines = NDJSONLines()
        var ready: [Element] = []

        public mutating func next() async throws -> Element? {
            while true {
                if !ready.isEmpty { return ready.removeFirst() }
                guard var source = chunks else { return nil }
                chunks = nil
                let chunk: [UInt8]?
                do {
                    chunk = try await source.next()
                } catch {
                    throw HobClientError(.badResponse, "lost the connection to the Hob API at \(url): \(error)", cause: error)
                }
                let complete: [[UInt8]]
                if let chunk {
                    complete = lines.feed(chunk)
                    chunks = source
                } else {
                    complete = lines.finish()
                }
                for line in complete {
                    do {
                        ready.append(try JSONDecoder().decode(Element.self, from: Data(line)))
                    } catch {
                        throw HobClientError(.badResponse, "unexpected line in \(what) from \(url): \(error)", cause: error)
                    }
                }
            }
        }
    }
}

/// Splits NDJSON arriving in pieces into its lines: a line may span pieces, a piece may hold several, the last
/// line may lack its newline. Blank lines are skipped.
public struct NDJSONLines: Sendable {
    private var partial: [UInt8] = []

    public init() {}

    /// The lines `chunk` completes.
    public mutating func feed(_ chunk: [UInt8]) -> [[UInt8]] {
        partial += chunk
        var lines: [[UInt8]] = []
        var start = partial.startIndex
        while let newline = partial[start...].firstIndex(of: UInt8(ascii: "\n")) {
            let line = Array(partial[start..<newline])
            start = newline + 1
            if line.contains(where: { $0 != 0x20 && $0 != 0x0d }) { lines.append(line) }
        }
        partial.removeSubrange(..<start)
        return lines
    }

    /// The end of the body: a last line without its newline.
    public mutating func finish() -> [[UInt8]] {
        defer { partial = [] }
        return partial.contains(where: { $0 != 0x20 && $0 != 0x0d }) ? [partial] : []
    }
}
