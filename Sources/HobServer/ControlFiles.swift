// File ops on a control connection (sprites-go filesystem_control.go): fs.read, fs.write, fs.list,
// fs.delete, fs.rename, fs.copy and fs.chmod, with the file API's parameters (FsRoutes) as args,
// the file API's answers as one text message, and then op.complete.
//
//   fs.read   args path, workingDir, start, end (a byte range, end exclusive) → {"path","size"},
//             then the bytes as one binary message (sent in fragments)
//   fs.write  args path, workingDir, mode, mkdirParents; the client sends the bytes as the next
//             binary message → {"path","size","mode"}
//   fs.list   args path (default: workingDir), workingDir, recursive, max_results (default and
//             most 100000) → {"path","entries","count"}, plus "truncated":true when entries were left out
//   fs.delete args path, workingDir, recursive → {"deleted","count"}
//   fs.rename args source, dest, workingDir → {"source","dest"}
//   fs.copy   args source, dest, workingDir, recursive, preserveAttrs → {"source","dest","count","totalBytes"}
//   fs.chmod  args path, workingDir, mode, recursive → {"path","mode","count"}
//
// A failure is one message that is both the file API's error body and the op's end:
// {"type":"op.error","error":…,"code":"ENOENT","path":…,"args":{"error":…}}. Like the file API,
// these work on the sprite's disk from the host: a sleeping sprite is not woken.
import Foundation
import HobAPI
import HobCore
import HobOS
import NIOCore
import WSCore

extension FsQuery {
    init(arguments: FormQuery) { query = arguments }
}

extension ControlConnection {
    func files(_ op: ControlOp, reader: inout ControlReader) async throws -> ControlRoutes.After {
        let query = FsQuery(arguments: op.arguments)
        do {
            switch op.name {
            case "fs.read": try await readFile(op, query)
            case "fs.write": guard try await writeFile(op, query, reader: &reader) else { return .ended }
            case "fs.list": try await listFiles(op, query)
            case "fs.delete":
                let path = try query.path()
                let recursive = try query.flag("recursive", default: false)
                let count = try await fleet.withFiles(name) { files in try await offload { try files.delete(path, recursive: recursive) } }
                try await answer(FsDeleteResponse(deleted: [path.description], count: count))
            case "fs.rename":
                let (source, dest) = try sourceAndDest(query)
                try await fleet.withFiles(name) { files in try await offload { try files.rename(source, to: dest) } }
                try await answer(FsRenameResponse(source: source.description, dest: dest.description))
            case "fs.copy":
                let (source, dest) = try sourceAndDest(query)
                let recursive = try query.flag("recursive", default: false)
                let keepTimes = try query.flag("preserveAttrs", default: false)
                let result = try await fleet.withFiles(name) { files in
                    try await offload { try files.copy(source, to: dest, recursive: recursive, keepTimes: keepTimes) }
                }
                try await answer(FsCopyResponse(source: source.description, dest: dest.description, count: result.entries, totalBytes: result.bytes))
            case "fs.chmod":
                let path = try query.path()
                guard let bits = try query.mode() else { throw HobError(.invalidArgument, "fs.chmod needs a mode such as 0755") }
                let recursive = try query.flag("recursive", default: false)
                let count = try await fleet.withFiles(name) { files in try await offload { try files.changeMode(path, to: bits, recursive: recursive) } }
                try await answer(FsChmodResponse(path: path.description, mode: FsMode.octal(bits), count: count))
            default:
                throw HobError(.invalidArgument, "unknown file operation \"\(op.name)\"")
            }
        } catch let error as ControlWriteFailed {
            throw error.cause
        } catch {
            try await fail(op, error, file: FsErrorBody.describing(error).1)
            return .idle
        }
        try await write(ControlEnvelope.text(ControlEnvelope.Complete(args: .init()), op.framing))
        return .idle
    }

    func sourceAndDest(_ query: FsQuery) throws -> (RootedPath, RootedPath) {
        let workingDir = query.query["workingDir"]
        return (try FsQuery.rooted(query.query["source"], "source", workingDir: workingDir), try FsQuery.rooted(query.query["dest"], "dest", workingDir: workingDir))
    }

    /// The op's answer, one text message of bare JSON (what sprites-go reads).
    func answer(_ value: some Encodable) async throws {
        try await write(String(decoding: try jsonEncoder.encode(value), as: UTF8.self))
    }

    /// A write to the client; its failure ends the connection rather than becoming the op's error.
    func write(_ text: String) async throws {
        do { try await outbound.write(.text(text)) } catch { throw ControlWriteFailed(cause: error) }
    }

    func readFile(_ op: ControlOp, _ query: FsQuery) async throws {
        let path = try query.path()
        let (file, size) = try await fleet.withFiles(name) { files in try await offload { try files.openForReading(path) } }
        let start = try offset(query, "start") ?? 0
        let end = min(try offset(query, "end") ?? size, size)
        guard start <= end || end == size else {
            throw HobError(.invalidArgument, "read \(path): start \(start) is past end \(end)")
        }
        let first = min(start, size)
        try await answer(ControlReadAnswer(path: path.description, size: end - first))
        do {
            try await outbound.withBinaryMessageWriter { message in
                var offset = first
                // An empty message still has one frame.
                if offset >= end { try await message(ByteBuffer()) }
                while offset < end {
                    let piece = try await file.chunk(at: offset, upTo: Int(min(Int64(ControlReadAnswer.chunkBytes), end - offset)))
                    // The file shrank: the message ends short, which the client sees in `size`.
                    guard piece.readableBytes > 0 else { break }
                    try await message(piece)
                    offset += Int64(piece.readableBytes)
                }
            }
        } catch {
            throw ControlWriteFailed(cause: error)
        }
    }

    func offset(_ query: FsQuery, _ key: String) throws -> Int64? {
        guard let raw = query.query[key], !raw.isEmpty else { return nil }
        guard let value = Int64(raw), value >= 0 else { throw HobError(.invalidArgument, "\(key) must be a byte offset, not \"\(raw)\"") }
        return value
    }

    /// False when the client went away before sending the whole content.
    func writeFile(_ op: ControlOp, _ query: FsQuery, reader: inout ControlReader) async throws -> Bool {
        let path = try query.path()
        let mode = try query.mode()
        let makeParents = try query.flag("mkdirParents", default: true)
        // The whole upload, commit included, inside the file-access window (as HTTP fs/write): a
        // restore waits for it instead of having the file land on the disk it replaced.
        let written = try await fleet.withFiles(name) { files -> (Int64, UInt32)? in
            let upload = try await offload { try files.beginUpload(path, mode: mode, makeParents: makeParents) }
            let whole = try await reader.streamBinary { piece in
                try await offload { try piece.withUnsafeReadableBytes { try upload.write($0) } }
            }
            guard whole else { return nil }
            return try await offload { try upload.commit() }
        }
        guard let (size, bits) = written else { return false }
        try await answer(FsWriteResponse(path: path.description, size: size, mode: FsMode.octal(bits)))
        return true
    }

    func listFiles(_ op: ControlOp, _ query: FsQuery) async throws {
        let workingDir = query.query["workingDir"]
        let path = try FsQuery.rooted(query.query["path"].flatMap { $0.isEmpty ? nil : $0 } ?? workingDir ?? "/", "path", workingDir: workingDir)
        let recursive = try query.flag("recursive", default: false)
        let limit = try ControlListing.limit(query.query["max_results"])
        // The answer is one text message, so it is bounded: at most `limit` entries, and
        // `truncated` says that more were left unread.
        let listing = try await fleet.withFiles(name) { files in
            try await offload {
                let listing = try files.list(path, recursive: recursive)
                var entries: [FsEntry] = []
                while entries.count < limit {
                    let batch = listing.next(min(1000, limit - entries.count))
                    if batch.isEmpty { break }
                    entries += batch.map(FsEntry.init)
                }
                let truncated = entries.count == limit && !listing.next(1).isEmpty
                return ControlListing(path: listing.path, entries: entries, count: entries.count, truncated: truncated ? true : nil)
            }
        }
        try await answer(listing)
    }
}

/// A failed write to the client, told apart from the op's own failures.
struct ControlWriteFailed: Error {
    let cause: any Error
}

struct ControlReadAnswer: Encodable {
    var path: String
    var size: Int64

    /// Bytes per fragment of the content message, as FsRoutes reads them.
    static let chunkBytes = 1 << 20
}

/// fs/list's answer (FsListResponse), built here, with `truncated: true` when capped.
struct ControlListing: Encodable, Sendable {
    var path: String
    var entries: [FsEntry]
    var count: Int
    var truncated: Bool?

    /// Entries in one answer at most (~200 bytes of JSON each): a recursive list of `/` would
    /// otherwise be held, and sent, whole.
    static let maxEntries = 100_000

    /// `max_results` (1…maxEntries), maxEntries when absent.
    static func limit(_ raw: String?) throws -> Int {
        guard let raw, !raw.isEmpty else { return maxEntries }
        guard let value = Int(raw), value > 0 else { throw HobError(.invalidArgument, "max_results must be a positive number, not \"\(raw)\"") }
        return min(value, maxEntries)
    }
}
