// The file API (SPRITES-API.md §10): /v1/sprites/{name}/fs/{list,read,write,delete,rename,copy,chmod}.
//
// Files are worked on from the host, on the sprite's disk (Fleet.withFiles, RootedDirectory): a
// sleeping sprite is neither woken nor kept awake. Paths resolve against `workingDir` ("/" by
// default) and never leave the sprite. Bodies stream both ways: a read sends the file in 1 MiB
// pieces (or the byte range asked for, 206), a write streams the request body into an unnamed
// file that replaces the destination only once complete, and a listing is sent as it is read.
//
// Errors carry the body the SDKs parse here (sprites-go `fsError`):
//   {"error": "open /app/x: no such file or directory", "code": "ENOENT", "path": "/app/x"}
// `code` is the errno's name for file errors and EINVAL for bad input, Hob's error code otherwise
// (not_found for an unknown sprite). 404 means the file or the sprite is missing; every SDK maps
// 404 to "not found" without reading the body.
import Foundation
import HTTPTypes
import HobAPI
import HobCore
import HobOS
import Hummingbird
import Logging
import NIOCore

struct FsRoutes<Context: RequestContext> {
    let fleet: Fleet
    let logger: Logger

    /// Entries per piece of a streamed listing, and bytes per piece of a read or a write
    /// (computed: a generic type has no stored static properties).
    static var listBatch: Int { 1000 }
    static var chunkBytes: Int { 1 << 20 }

    func register(on router: Router<Context>) {
        let fs = router.group("/v1/sprites/:name/fs").add(middleware: FsErrorMiddleware<Context>(logger: logger))
        fs.get("list") { request, context in try await list(request, sprite: try context.parameters.require("name")) }
        fs.get("read") { request, context in try await read(request, sprite: try context.parameters.require("name")) }
        fs.put("write") { request, context in try await write(request, sprite: try context.parameters.require("name")) }
        fs.delete("delete") { request, context in try await delete(request, sprite: try context.parameters.require("name")) }
        fs.post("rename") { request, context in try await rename(request, sprite: try context.parameters.require("name")) }
        fs.post("copy") { request, context in try await copy(request, sprite: try context.parameters.require("name")) }
        fs.post("chmod") { request, context in try await chmod(request, sprite: try context.parameters.require("name")) }
        fs.post("chown") { request, context in try await chown(request, sprite: try context.parameters.require("name")) }
    }

    // MARK: - Read side

    func list(_ request: Request, sprite: String) async throws -> Response {
        let query = FsQuery(request)
        let path = try query.path()
        let recursive = try query.flag("recursive", default: false)
        // The first piece is read before answering, so that a missing path is a 404, not a
        // broken 200.
        let (listing, first) = try await fleet.withFiles(sprite) { files in
            try await offload {
                let listing = try files.list(path, recursive: recursive)
                return (listing, listing.next(Self.listBatch))
            }
        }
        let body = ResponseBody { writer in
            var head = ByteBuffer(string: #"{"path":"#)
            head.writeBytes(try jsonEncoder.encode(listing.path))
            head.writeString(#","entries":["#)
            try await writer.write(head)
            var count = 0
            var batch = first
            while !batch.isEmpty {
                var piece = ByteBuffer()
                for entry in batch {
                    if count > 0 { piece.writeString(",") }
                    piece.writeBytes(try jsonEncoder.encode(FsEntry(entry)))
                    count += 1
                }
                try await writer.write(piece)
                batch = try await offload { listing.next(Self.listBatch) }
            }
            try await writer.write(ByteBuffer(string: #"],"count":\#(count)}"#))
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "application/json"], body: body)
    }

    func read(_ request: Request, sprite: String) async throws -> Response {
        let path = try FsQuery(request).path()
        let (file, size) = try await fleet.withFiles(sprite) { files in try await offload { try files.openForReading(path) } }
        var headers: HTTPFields = [.contentType: "application/octet-stream", .acceptRanges: "bytes"]
        let start: Int64
        let length: Int64
        let status: HTTPResponse.Status
        switch ByteRange(header: request.headers[.range], size: size) {
        case .whole:
            (start, length, status) = (0, size, .ok)
        case .part(let first, let last):
            (start, length, status) = (first, last - first + 1, .partialContent)
            headers[.contentRange] = "bytes \(first)-\(last)/\(size)"
        case .unsatisfiable:
            var response = jsonResponse(
                FsErrorBody(error: "read \(path): the range \(request.headers[.range] ?? "") is outside the file's \(size) bytes", code: "EINVAL", path: path.description),
                status: .rangeNotSatisfiable)
            response.headers[.contentRange] = "bytes */\(size)"
            return response
        }
        let body = ResponseBody(contentLength: Int(length)) { writer in
            var offset = start
            while offset < start + length {
                let piece = try await file.chunk(at: offset, upTo: Int(min(Int64(Self.chunkBytes), start + length - offset)))
                // Shorter than announced: the connection closes and the client sees the cut.
                guard piece.readableBytes > 0 else { throw HobError(.internalError, "read \(path): the file shrank while it was sent") }
                try await writer.write(piece)
                offset += Int64(piece.readableBytes)
            }
            try await writer.finish(nil)
        }
        return Response(status: status, headers: headers, body: body)
    }

    // MARK: - Write side

    func write(_ request: Request, sprite: String) async throws -> Response {
        let query = FsQuery(request)
        let path = try query.path()
        let mode = try query.mode()
        // `mkdirParents` is what sprites-go sends, `mkdir` what the OpenAPI names; either may say
        // false, and then a missing parent is a 404.
        let makeParents = try query.flag("mkdirParents", default: true) && query.flag("mkdir", default: true)
        let (upload, size, bits) = try await fleet.withFiles(sprite) { files in
            let upload = try await offload { try files.beginUpload(path, mode: mode, makeParents: makeParents) }
            var pending = ByteBuffer()
            for try await piece in request.body {
                pending.writeImmutableBuffer(piece)
                guard pending.readableBytes >= Self.chunkBytes else { continue }
                let full = pending
                pending = ByteBuffer()
                try await offload { try full.withUnsafeReadableBytes { try upload.write($0) } }
            }
            let last = pending
            let (size, bits) = try await offload {
                try last.withUnsafeReadableBytes { try upload.write($0) }
                return try upload.commit()
            }
            return (upload, size, bits)
        }
        let answer = FsWriteResponse(path: path.description, size: size, mode: FsMode.octal(bits))
        return jsonResponse(answer, status: upload.creates ? .created : .ok)
    }

    /// The target comes from the query (sprites-go) or from a JSON body (the OpenAPI's
    /// `DeleteRequest`); a query field wins over the same field in the body.
    func delete(_ request: Request, sprite: String) async throws -> Response {
        let query = FsQuery(request)
        let body = try await decodeBodyIfPresent(FsDeleteRequest.self, from: request, limit: 64 << 10)
        let path = try FsQuery.rooted(
            query.query["path"].flatMap { $0.isEmpty ? nil : $0 } ?? body?.path, "path",
            workingDir: query.query["workingDir"].flatMap { $0.isEmpty ? nil : $0 } ?? body?.workingDir)
        let recursive = try query.query["recursive"].flatMap { $0.isEmpty ? nil : $0 } != nil
            ? query.flag("recursive", default: false) : (body?.recursive ?? false)
        let count = try await fleet.withFiles(sprite) { files in try await offload { try files.delete(path, recursive: recursive) } }
        return jsonResponse(FsDeleteResponse(deleted: [path.description], count: count))
    }

    func rename(_ request: Request, sprite: String) async throws -> Response {
        let body = try await decodeBody(FsRenameRequest.self, from: request)
        let source = try FsQuery.rooted(body.source, "source", workingDir: body.workingDir)
        let dest = try FsQuery.rooted(body.dest, "dest", workingDir: body.workingDir)
        try await fleet.withFiles(sprite) { files in try await offload { try files.rename(source, to: dest) } }
        return jsonResponse(FsRenameResponse(source: source.description, dest: dest.description))
    }

    func copy(_ request: Request, sprite: String) async throws -> Response {
        let body = try await decodeBody(FsCopyRequest.self, from: request)
        let source = try FsQuery.rooted(body.source, "source", workingDir: body.workingDir)
        let dest = try FsQuery.rooted(body.dest, "dest", workingDir: body.workingDir)
        let result = try await fleet.withFiles(sprite) { files in
            try await offload {
                try files.copy(source, to: dest, recursive: body.recursive ?? false, keepTimes: body.preserveAttrs ?? false)
            }
        }
        return jsonResponse(FsCopyResponse(source: source.description, dest: dest.description, count: result.entries, totalBytes: result.bytes))
    }

    func chmod(_ request: Request, sprite: String) async throws -> Response {
        let body = try await decodeBody(FsChmodRequest.self, from: request)
        let path = try FsQuery.rooted(body.path, "path", workingDir: body.workingDir)
        guard let bits = body.mode.bits else {
            throw HobError(.invalidArgument, "mode must be octal permission bits such as \"0755\" (at most 07777)")
        }
        let count = try await fleet.withFiles(sprite) { files in
            try await offload { try files.changeMode(path, to: bits, recursive: body.recursive ?? false) }
        }
        return jsonResponse(FsChmodResponse(path: path.description, mode: FsMode.octal(bits), count: count))
    }

    /// Owners are the ids on the sprite's disk, which are the sprite's own (0…65535: its
    /// processes see the same numbers); at least one of uid and gid must be given.
    func chown(_ request: Request, sprite: String) async throws -> Response {
        let body = try await decodeBody(FsChownRequest.self, from: request)
        return jsonResponse(try await Self.chown(body, sprite: sprite, fleet: fleet))
    }

    static func chown(_ body: FsChownRequest, sprite: String, fleet: Fleet) async throws -> FsChownResponse {
        let path = try FsQuery.rooted(body.path, "path", workingDir: body.workingDir)
        func id(_ value: FsOwnerID?, _ field: String) throws -> UInt32? {
            switch value?.value ?? .keep {
            case .keep: return nil
            case .set(let n): return n
            case .invalid: throw HobError(.invalidArgument, "\(field) must be a number from 0 to 65535 (or -1 to leave it)")
            }
        }
        let uid = try id(body.uid, "uid")
        let gid = try id(body.gid, "gid")
        guard uid != nil || gid != nil else { throw HobError(.invalidArgument, "at least one of uid and gid must be set") }
        let recursive = body.recursive ?? false
        let (changed, count) = try await fleet.withFiles(sprite) { files in
            try await offload { try files.changeOwner(path, uid: uid, gid: gid, recursive: recursive) }
        }
        return FsChownResponse(affected: changed.map { .init(path: $0.path, uid: Int($0.uid), gid: Int($0.gid)) }, count: count)
    }
}

/// The query parameters of the file endpoints.
struct FsQuery {
    let query: FormQuery

    init(_ request: Request) { query = FormQuery(request.uri.query) }

    /// `path`, resolved against `workingDir`.
    func path() throws -> RootedPath { try Self.rooted(query["path"], "path", workingDir: query["workingDir"]) }

    /// `mode`, when given: octal permission bits.
    func mode() throws -> UInt32? {
        guard let raw = query["mode"], !raw.isEmpty else { return nil }
        guard let bits = FsMode.parse(raw) else {
            throw HobError(.invalidArgument, "mode must be octal permission bits such as 0644 (at most 07777), not \"\(raw)\"")
        }
        return bits
    }

    /// A boolean parameter: true/1 or false/0 (absent or empty: `defaultValue`).
    func flag(_ key: String, default defaultValue: Bool) throws -> Bool {
        guard let raw = query[key]?.lowercased(), !raw.isEmpty else { return defaultValue }
        switch raw {
        case "true", "1": return true
        case "false", "0": return false
        default: throw HobError(.invalidArgument, "\(key) must be true or false, not \"\(raw)\"")
        }
    }

    static func rooted(_ path: String?, _ field: String, workingDir: String?) throws -> RootedPath {
        guard let path, !path.isEmpty else { throw HobError(.invalidArgument, "\(field) is required") }
        do {
            return try RootedPath(path, workingDirectory: workingDir.flatMap { $0.isEmpty ? nil : $0 } ?? "/")
        } catch let error as FileError {
            throw HobError.file(error)
        }
    }
}

extension FsEntry {
    init(_ entry: DirectoryEntry) {
        self.init(
            name: entry.name, path: entry.path, type: entry.kind.rawValue, size: entry.size, mode: FsMode.octal(entry.permissions),
            modTime: Timestamp.format(entry.modified), isDir: entry.kind == .directory)
    }
}

/// A `Range: bytes=…` header against a file of `size` bytes (RFC 9110 §14): one range is
/// served, with 206; anything this server does not serve (other units, several ranges, bad
/// syntax) is ignored and the whole file sent, as the RFC allows.
enum ByteRange: Equatable {
    case whole
    /// First and last byte, inclusive.
    case part(Int64, Int64)
    case unsatisfiable

    init(header: String?, size: Int64) {
        guard let header = header?.trimmingCharacters(in: .whitespaces), header.lowercased().hasPrefix("bytes="),
            !header.contains(",")
        else {
            self = .whole
            return
        }
        let spec = header.dropFirst("bytes=".count).trimmingCharacters(in: .whitespaces)
        let sides = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        func number(_ text: String) -> Int64? { text.allSatisfy(\.isASCIIDigit) ? Int64(text) : nil }
        guard sides.count == 2 else {
            self = .whole
            return
        }
        switch (sides[0].isEmpty ? nil : number(sides[0]), sides[1].isEmpty ? nil : number(sides[1])) {
        case (let first?, nil) where sides[1].isEmpty:
            self = first < size ? .part(first, size - 1) : .unsatisfiable
        case (let first?, let last?) where first <= last:
            self = first < size ? .part(first, min(last, size - 1)) : .unsatisfiable
        case (nil, let suffix?) where sides[0].isEmpty:
            self = suffix > 0 && size > 0 ? .part(max(0, size - suffix), size - 1) : .unsatisfiable
        default:
            self = .whole
        }
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}

/// Gives errors on the file endpoints the body the SDKs parse (FsErrorBody), with the status the
/// error maps to everywhere else.
struct FsErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let (status, body) = FsErrorBody.describing(error)
            if status == .internalServerError {
                logger.error("file request failed", metadata: ["method": "\(request.method)", "path": "\(request.uri.path)", "error": "\(error)"])
            }
            return jsonResponse(body, status: status)
        }
    }
}

extension FsErrorBody {
    /// The status and body a failed file operation is answered with (over HTTP and over /control).
    static func describing(_ error: any Error) -> (HTTPResponse.Status, FsErrorBody) {
        let (status, body) = APIError.map(error)
        let file = (error as? HobError)?.cause as? FileError
        let code = file?.code ?? (body.error == HobError.Code.invalidArgument.description ? "EINVAL" : body.error)
        return (status, FsErrorBody(error: body.message, code: code, path: file?.path))
    }
}

extension Descriptor {
    /// Up to `count` bytes of the file at `offset`, read off the cooperative pool; empty at its end.
    func chunk(at offset: Int64, upTo count: Int) async throws -> ByteBuffer {
        try await offload {
            var buffer = ByteBufferAllocator().buffer(capacity: count)
            _ = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { space in
                try self.read(into: UnsafeMutableRawBufferPointer(rebasing: space[..<count]), at: offset)
            }
            return buffer
        }
    }
}
