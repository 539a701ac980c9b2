// File API wire types (SPRITES-API.md §10), as sprites-go filesystem.go, sprites-js types.ts and
// sprites-py filesystem.py read them. Unlike the rest of the API these keys are camelCase.
// Where the SDKs expect different answers from one endpoint (sprites-js reads `{path, mode,
// count}` from chmod, the Go control channel `{affected, count}`), the answer carries both.

/// One entry of `GET …/fs/list`. `type` is file, directory, symlink, fifo, socket, char_device or
/// block_device; a symlink is described itself, not its target (`isDir` false).
public struct FsEntry: Codable, Sendable, Equatable {
    public var name: String
    public var path: String
    public var type: String
    public var size: Int64
    /// Octal permission bits, e.g. "0644".
    public var mode: String
    /// RFC 3339, UTC.
    public var modTime: String
    public var isDir: Bool

    public init(name: String, path: String, type: String, size: Int64, mode: String, modTime: String, isDir: Bool) {
        self.name = name
        self.path = path
        self.type = type
        self.size = size
        self.mode = mode
        self.modTime = modTime
        self.isDir = isDir
    }
}

/// `GET …/fs/list?path&workingDir[&recursive]`: a directory's entries (all below it with
/// `recursive`, names then relative to it), or the one entry of anything else.
public struct FsListResponse: Codable, Sendable, Equatable {
    public var path: String
    public var entries: [FsEntry]
    public var count: Int
}

/// `PUT …/fs/write?path&workingDir&mode&mkdirParents`.
public struct FsWriteResponse: Codable, Sendable, Equatable {
    public var path: String
    public var size: Int64
    public var mode: String

    public init(path: String, size: Int64, mode: String) {
        self.path = path
        self.size = size
        self.mode = mode
    }
}

/// `DELETE …/fs/delete?path&workingDir[&recursive]`: the path given, and how many entries went
/// (everything below a directory included).
public struct FsDeleteResponse: Codable, Sendable, Equatable {
    public var deleted: [String]
    public var count: Int

    public init(deleted: [String], count: Int) {
        self.deleted = deleted
        self.count = count
    }
}

/// `POST …/fs/rename`.
public struct FsRenameRequest: Codable, Sendable, Equatable {
    public var source: String
    public var dest: String
    public var workingDir: String?

    public init(source: String, dest: String, workingDir: String? = nil) {
        self.source = source
        self.dest = dest
        self.workingDir = workingDir
    }
}

public struct FsRenameResponse: Codable, Sendable, Equatable {
    public var source: String
    public var dest: String

    public init(source: String, dest: String) {
        self.source = source
        self.dest = dest
    }
}

/// `POST …/fs/copy`. `preserveAttrs` (sprites-js) also keeps access and modification times;
/// owners and modes are always kept.
public struct FsCopyRequest: Codable, Sendable, Equatable {
    public var source: String
    public var dest: String
    public var workingDir: String?
    public var recursive: Bool?
    public var preserveAttrs: Bool?

    public init(source: String, dest: String, workingDir: String? = nil, recursive: Bool? = nil, preserveAttrs: Bool? = nil) {
        self.source = source
        self.dest = dest
        self.workingDir = workingDir
        self.recursive = recursive
        self.preserveAttrs = preserveAttrs
    }
}

public struct FsCopyResponse: Codable, Sendable, Equatable {
    public struct Copied: Codable, Sendable, Equatable {
        public var source: String
        public var dest: String
    }

    public var source: String
    public var dest: String
    /// Entries made (a directory and everything copied into it).
    public var count: Int
    public var copied: [Copied]
    public var totalBytes: Int64

    public init(source: String, dest: String, count: Int, totalBytes: Int64) {
        self.source = source
        self.dest = dest
        self.count = count
        self.copied = [Copied(source: source, dest: dest)]
        self.totalBytes = totalBytes
    }
}

/// `POST …/fs/chmod`.
public struct FsChmodRequest: Codable, Sendable, Equatable {
    public var path: String
    public var workingDir: String?
    public var mode: FsMode
    public var recursive: Bool?

    public init(path: String, workingDir: String? = nil, mode: FsMode, recursive: Bool? = nil) {
        self.path = path
        self.workingDir = workingDir
        self.mode = mode
        self.recursive = recursive
    }
}

public struct FsChmodResponse: Codable, Sendable, Equatable {
    public struct Affected: Codable, Sendable, Equatable {
        public var path: String
        public var mode: String
    }

    public var path: String
    public var mode: String
    /// Entries changed (everything below a directory included, with `recursive`).
    public var count: Int
    public var affected: [Affected]

    public init(path: String, mode: String, count: Int) {
        self.path = path
        self.mode = mode
        self.count = count
        self.affected = [Affected(path: path, mode: mode)]
    }
}

/// The error body of the file endpoints (sprites-go `fsError`): `error` is the message, `code`
/// the errno's name for file errors (ENOENT, EISDIR, ENOTDIR, ENOTEMPTY, EEXIST, EINVAL…) and
/// Hob's error code otherwise, `path` the path inside the sprite.
public struct FsErrorBody: Codable, Sendable, Equatable {
    public var error: String
    public var code: String?
    public var path: String?

    public init(error: String, code: String?, path: String?) {
        self.error = error
        self.code = code
        self.path = path
    }
}

/// Permission bits as clients send them: an octal string ("0644", "755") or, from sprites-ex, a
/// JSON number holding the value itself (493 for 0755). Kept as sent; `bits` validates.
public struct FsMode: Codable, Sendable, Equatable {
    public var text: String?
    public var number: Int?

    public init(_ bits: UInt32) { text = FsMode.octal(bits) }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Int.self) {
            self.number = number
        } else {
            text = try container.decode(String.self)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let number { try container.encode(number) } else { try container.encode(text ?? "") }
    }

    /// The permission bits, or nil unless they are octal digits (or a number) up to 07777.
    public var bits: UInt32? {
        if let number { return (0...0o7777).contains(number) ? UInt32(number) : nil }
        return text.flatMap(Self.parse)
    }

    /// "0644", "644", "0o644" → 0o644; nil for anything else or beyond 07777.
    public static func parse(_ text: String) -> UInt32? {
        var digits = Substring(text)
        if digits.hasPrefix("0o") { digits = digits.dropFirst(2) }
        guard !digits.isEmpty, digits.count <= 6, digits.allSatisfy({ ("0"..."7").contains($0) }), let value = UInt32(digits, radix: 8),
            value <= 0o7777
        else { return nil }
        return value
    }

    /// Four octal digits at least: 0o644 → "0644".
    public static func octal(_ bits: UInt32) -> String {
        let digits = String(bits, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
