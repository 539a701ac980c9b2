// Files in a sprite: list, read, write. Paths are the sprite's own (absolute, or relative to /).
import Foundation
import HobAPI
import HobClient
import MCP
import Synchronization

extension HobTool {
    static let fileTools: [HobTool] = [
        HobTool(
            "list_files", title: "List a directory in a sprite",
            description: """
                List a directory in a sprite: type (file, directory, symlink), permissions, size and path of each \
                entry. \
                With recursive, everything below it. Returns at most 2000 entries.
                """,
            properties: ["sprite": Schema.sprite, "path": Schema.string("Directory, e.g. /home/sprite."), "recursive": Schema.boolean("Include subdirectories.")],
            required: ["sprite", "path"], hints: .init(readOnlyHint: true, openWorldHint: false)
        ) { args, client in
            let listing = try await client.listFiles(
                sprite: try args.requiredString("sprite"), path: try args.requiredString("path"), recursive: try args.bool("recursive"))
            let shown = listing.entries.prefix(maxListed)
            var lines = shown.map { "\($0.type.padding(toLength: 9, withPad: " ", startingAt: 0)) \($0.mode) \(String($0.size).leftPadded(10))  \($0.path)" }
            if listing.entries.count > shown.count { lines.append("… \(listing.entries.count - shown.count) more entries left out") }
            var structured = listing
            structured.entries = Array(shown)
            return ToolOutput(
                text: "\(listing.path): \(listing.count) entries\n" + lines.joined(separator: "\n"), structured: try Value(structured))
        },
        HobTool(
            "read_file", title: "Read a file in a sprite",
            description: """
                Read a file from a sprite. Text comes back as is; a file that is not UTF-8 text comes back base64 \
                encoded (encoding: base64). At most max_bytes are read (default 256 KiB); truncated says if there was more.
                """,
            properties: [
                "sprite": Schema.sprite, "path": Schema.string("The file, e.g. /etc/os-release."),
                "max_bytes": Schema.integer("Most bytes to return (default \(readBytes.default)).", minimum: 1, maximum: readBytes.max),
            ],
            required: ["sprite", "path"], hints: .init(readOnlyHint: true, openWorldHint: false)
        ) { args, client in
            let (sprite, path) = (try args.requiredString("sprite"), try args.requiredString("path"))
            let limit = try args.int("max_bytes", default: readBytes.default, in: 1...readBytes.max)
            var content: [UInt8] = []
            var truncated = false
            do {
                try await client.readFile(sprite: sprite, path: path) { piece in
                    let room = limit - content.count
                    content += piece.prefix(room)
                    // Only bytes beyond the limit make it truncated (a file of exactly `limit` is whole).
                    if piece.count > room {
                        truncated = true
                        throw EnoughRead()
                    }
                }
            } catch is EnoughRead {}
            let text = String(validating: content, as: UTF8.self)
            let encoding = text == nil ? "base64" : "utf8"
            let body = text ?? Data(content).base64EncodedString()
            let structured: Value = [
                "path": .string(path), "content": .string(body), "encoding": .string(encoding), "bytes": .int(content.count),
                "truncated": .bool(truncated),
            ]
            let note = truncated ? "\n[… cut at \(limit) bytes; read more with a larger max_bytes or exec]" : ""
            return ToolOutput(text: (text == nil ? "(binary file, base64)\n" : "") + body + note, structured: structured)
        },
        HobTool(
            "write_file", title: "Write a file in a sprite",
            description: """
                Create or replace a file in a sprite with the given content (missing parent directories are made). \
                The file is replaced only once all of it is written. Use encoding base64 for binary content; mode sets \
                permissions in octal, e.g. 755 for a script.
                """,
            properties: [
                "sprite": Schema.sprite, "path": Schema.string("The file, e.g. /home/sprite/app.py."),
                "content": Schema.string("The file's content."),
                "encoding": Schema.string("utf8 (default) or base64.", choices: ["utf8", "base64"]),
                "mode": Schema.string("Octal permissions, e.g. 644 or 755."),
            ],
            required: ["sprite", "path", "content"], hints: .init(destructiveHint: true, idempotentHint: true, openWorldHint: false)
        ) { args, client in
            let (sprite, path) = (try args.requiredString("sprite"), try args.requiredString("path"))
            let content = try args.string("content") ?? ""
            let bytes: [UInt8]
            if try args.choice("encoding", ["utf8", "base64"]) == "base64" {
                guard let decoded = Data(base64Encoded: content, options: .ignoreUnknownCharacters) else {
                    throw args.invalid("content is not valid base64")
                }
                bytes = Array(decoded)
            } else {
                bytes = Array(content.utf8)
            }
            var mode: UInt32?
            if let text = try args.string("mode") {
                guard let bits = UInt32(text, radix: 8), bits <= 0o7777 else { throw args.invalid("mode must be octal permissions such as 644") }
                mode = bits
            }
            let pending = Mutex<[UInt8]?>(bytes.isEmpty ? nil : bytes)
            let written = try await client.writeFile(sprite: sprite, path: path, mode: mode, length: Int64(bytes.count)) {
                pending.withLock { next in defer { next = nil }; return next }
            }
            return try .json(written, summary: "Wrote \(written.size) bytes to \(written.path).")
        },
    ]

    static let maxListed = 2000
    static let readBytes = (default: 256 << 10, max: 4 << 20)
}

/// Stops a read once it has what was asked for (the rest of the file is not fetched).
private struct EnoughRead: Error {}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
