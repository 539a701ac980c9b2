// The file API (SPRITES-API.md §10): a sprite's files, read and written from outside it. Reads hand the bytes over
// as they arrive and writes send them as the caller produces them, so neither holds a whole file in memory.

import Foundation
import HobAPI
import NIOCore
import NIOHTTP1
import NIOPosix

extension HobClient {
    /// `GET …/fs/list`: a directory's entries (all below it with `recursive`), or a file's own entry.
    public func listFiles(sprite: String, path: String, recursive: Bool = false) async throws -> FsListResponse {
        var query = [("path", path)]
        if recursive { query.append(("recursive", "true")) }
        return try await call(.GET, ["v1", "sprites", sprite, "fs", "list"], query: query)
    }

    /// `GET …/fs/read`: calls `receive` with each piece of the file as it arrives.
    public func readFile(sprite: String, path: String, _ receive: ([UInt8]) async throws -> Void) async throws {
        let target = try endpoint.parsed().requestTarget(segments: ["v1", "sprites", sprite, "fs", "read"], query: [("path", path)])
        let response = try await HTTPTransport.open(.GET, target: target, body: nil, endpoint: endpoint, limits: limits, group: group)
        guard (200..<300).contains(response.status) else {
            let body = await response.collectBody(upTo: 64 << 10)
            throw HobClientError.http(status: response.status, body: body, url: endpoint.baseURL)
        }
        let expected = response.headers.first(name: "Content-Length").flatMap(Int64.init)
        var received: Int64 = 0
        for try await piece in response.body {
            received += Int64(piece.count)
            try await receive(piece)
        }
        if let expected, received != expected {
            throw HobClientError(.badResponse, "\(path) on \(sprite) arrived cut short: \(received) of \(expected) bytes")
        }
    }

    /// `PUT …/fs/write`: the file's bytes come from `next` (nil at the end), `length` of them when known (otherwise
    /// they go chunked). The server replaces the file only once all of them arrived. `mode` is octal permission bits.
    public func writeFile(
        sprite: String, path: String, mode: UInt32? = nil, makeParents: Bool = true, length: Int64?,
        from next: @escaping @Sendable () async throws -> [UInt8]?
    ) async throws -> FsWriteResponse {
        var query = [("path", path), ("mkdirParents", makeParents ? "true" : "false")]
        if let mode { query.append(("mode", FsMode.octal(mode))) }
        let target = try endpoint.parsed().requestTarget(segments: ["v1", "sprites", sprite, "fs", "write"], query: query)
        let response = try await HTTPTransport.upload(
            .PUT, target: target, length: length, endpoint: endpoint, limits: limits, group: group, next: next)
        guard (200..<300).contains(response.status) else {
            throw HobClientError.http(status: response.status, body: response.body, url: endpoint.baseURL)
        }
        do {
            return try JSONDecoder().decode(FsWriteResponse.self, from: Data(response.body))
        } catch {
            throw HobClientError(.badResponse, "unexpected answer to a write of \(path) on \(sprite): \(error)", cause: error)
        }
    }

    /// `DELETE …/fs/delete`; a non-empty directory needs `recursive`.
    public func deleteFile(sprite: String, path: String, recursive: Bool = false) async throws -> FsDeleteResponse {
        try await call(
            .DELETE, ["v1", "sprites", sprite, "fs", "delete"], query: [("path", path), ("recursive", recursive ? "true" : "false")])
    }

    /// `POST …/fs/rename`.
    public func renameFile(sprite: String, from source: String, to dest: String) async throws -> FsRenameResponse {
        try await call(.POST, ["v1", "sprites", sprite, "fs", "rename"], body: FsRenameRequest(source: source, dest: dest))
    }

    /// `POST …/fs/copy`; a directory needs `recursive`.
    public func copyFile(sprite: String, from source: String, to dest: String, recursive: Bool = false, keepTimes: Bool = false)
        async throws -> FsCopyResponse
    {
        try await call(
            .POST, ["v1", "sprites", sprite, "fs", "copy"],
            body: FsCopyRequest(source: source, dest: dest, recursive: recursive, preserveAttrs: keepTimes))
    }

    /// `POST …/fs/chmod`.
    public func changeMode(sprite: String, path: String, mode: UInt32, recursive: Bool = false) async throws -> FsChmodResponse {
        try await call(
            .POST, ["v1", "sprites", sprite, "fs", "chmod"], body: FsChmodRequest(path: path, mode: FsMode(mode), recursive: recursive))
    }
}

extension HTTPTransport {
    /// Sends one request whose body comes from `next` as it is produced, and collects the response (at most
    /// `maxBodyBytes` of it). A server that answers before the body is all sent (say, 404 for an unknown sprite)
    /// is heard: its answer is returned and the rest of the body is not sent.
    static func upload(
        _ method: HTTPMethod, target: String, length: Int64?, endpoint: HobEndpoint, limits: TransportLimits,
        group: any EventLoopGroup, next: @escaping @Sendable () async throws -> [UInt8]?
    ) async throws -> HTTPResponse {
        let base = try endpoint.parsed()
        let head = uploadHead(method, target: target, length: length, base: base, endpoint: endpoint)
        let url = endpoint.baseURL
        let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(limits.connectTimeout)
                .connect(host: base.host, port: base.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw ConnectFailure.describe(error, url: url)
        }
        let maxBodyBytes = limits.maxBodyBytes
        do {
            return try await channel.executeThenClose { inbound, outbound in
                try await withThrowingTaskGroup(of: HTTPResponse?.self) { tasks in
                    tasks.addTask {
                        // A failed send means the server stopped reading: its answer, read below, says why.
                        // Errors from `next` (the caller's source) are the caller's and go up.
                        do { try await outbound.write(.head(head)) } catch { return nil }
                        while let bytes = try await Self.produce(next) {
                            do { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: bytes)))) } catch { return nil }
                        }
                        try? await outbound.write(.end(nil))
                        return nil
                    }
                    tasks.addTask {
                        var status: Int?
                        var headers = HTTPHeaders()
                        var body: [UInt8] = []
                        for try await part in inbound {
                            switch part {
                            case .head(let h):
                                status = Int(h.status.code)
                                headers = h.headers
                            case .body(let bytes):
                                body += bytes.readableBytesView.prefix(max(0, maxBodyBytes - body.count))
                            case .end:
                                if let status { return HTTPResponse(status: status, headers: headers, body: body) }
                            }
                        }
                        throw HobClientError(.badResponse, "\(url) closed the connection before the response was complete")
                    }
                    while let result = try await tasks.next() {
                        if let response = result {
                            tasks.cancelAll()
                            return response
                        }
                    }
                    throw HobClientError(.badResponse, "\(url) closed the connection without answering")
                }
            }
        } catch let error as HobClientError {
            throw error
        } catch let failure as SourceFailure {
            throw failure.error
        } catch {
            throw HobClientError(.badResponse, "lost the connection to the Hob API at \(url): \(error)", cause: error)
        }
    }

    static func uploadHead(_ method: HTTPMethod, target: String, length: Int64?, base: ParsedBaseURL, endpoint: HobEndpoint)
        -> HTTPRequestHead
    {
        var head = requestHead(method, target: target, body: nil, base: base, endpoint: endpoint, accept: "application/json")
        head.headers.remove(name: "Content-Length")
        head.headers.add(name: "Content-Type", value: "application/octet-stream")
        if let length {
            head.headers.add(name: "Content-Length", value: String(length))
        } else {
            head.headers.add(name: "Transfer-Encoding", value: "chunked")
        }
        return head
    }

    /// The caller's next piece; its failure is kept apart from the connection's.
    private static func produce(_ next: @Sendable () async throws -> [UInt8]?) async throws -> [UInt8]? {
        do { return try await next() } catch { throw SourceFailure(error: error) }
    }

    private struct SourceFailure: Error {
        let error: any Error
    }
}
