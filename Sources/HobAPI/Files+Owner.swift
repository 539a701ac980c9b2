// File API wire types added for the official OpenAPI (superfly/sprites-docs api/openapi.json):
// `POST …/fs/chown` and the JSON body of `DELETE …/fs/delete`.

/// A user or group id as clients send it: a JSON number (`1000`), a string of digits
/// (`"1000"`, the control channel's query form), or -1/null for "leave as is". The OpenAPI
/// types it as an object, so anything else decodes too and `value` says it is not an id.
public struct FsOwnerID: Codable, Sendable, Equatable {
    public var number: Int?
    public var text: String?

    public init(_ number: Int) { self.number = number }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            number = -1
        } else if let n = try? container.decode(Int.self) {
            number = n
        } else if let s = try? container.decode(String.self) {
            text = s
        } else {
            text = "(not a number)"
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let number { try container.encode(number) } else { try container.encode(text ?? "") }
    }

    /// What the id asks for: `.keep` (-1, null, ""), `.set(id)` for 0…65535 (the ids a sprite's
    /// users have on its disk), `.invalid` for anything else.
    public var value: Value {
        let n: Int?
        if let number {
            n = number
        } else if let text {
            if text.isEmpty { return .keep }
            n = text.allSatisfy({ $0 == "-" || ("0"..."9").contains($0) }) ? Int(text) : nil
        } else {
            return .keep
        }
        guard let n else { return .invalid }
        if n == -1 { return .keep }
        return (0...65535).contains(n) ? .set(UInt32(n)) : .invalid
    }

    public enum Value: Equatable, Sendable {
        case keep
        case set(UInt32)
        case invalid
    }
}

/// `POST …/fs/chown` (OpenAPI `ChownRequest`). `asRoot` is accepted and changes nothing: the
/// file API always acts as root in the sprite.
public struct FsChownRequest: Codable, Sendable, Equatable {
    public var path: String
    public var workingDir: String?
    public var uid: FsOwnerID?
    public var gid: FsOwnerID?
    public var recursive: Bool?
    public var asRoot: Bool?

    public init(path: String, workingDir: String? = nil, uid: Int? = nil, gid: Int? = nil, recursive: Bool? = nil) {
        self.path = path
        self.workingDir = workingDir
        self.uid = uid.map(FsOwnerID.init)
        self.gid = gid.map(FsOwnerID.init)
        self.recursive = recursive
    }
}

/// The answer to a chown (OpenAPI `ChownResponse`, sprites-go `FsChownResult`): the paths
/// changed with the ids they now have, and how many there were (`affected` lists at most the
/// first 10,000 of a recursive change; `count` counts them all).
public struct FsChownResponse: Codable, Sendable, Equatable {
    public struct Affected: Codable, Sendable, Equatable {
        public var path: String
        public var uid: Int
        public var gid: Int

        public init(path: String, uid: Int, gid: Int) {
            self.path = path
            self.uid = uid
            self.gid = gid
        }
    }

    public var affected: [Affected]
    public var count: Int

    public init(affected: [Affected], count: Int) {
        self.affected = affected
        self.count = count
    }
}

/// The JSON body `DELETE …/fs/delete` may carry (OpenAPI `DeleteRequest`); sprites-go sends the
/// same fields as query parameters instead, and the query wins where both are given.
public struct FsDeleteRequest: Codable, Sendable, Equatable {
    public var path: String?
    public var workingDir: String?
    public var recursive: Bool?
    public var asRoot: Bool?

    public init(path: String? = nil, workingDir: String? = nil, recursive: Bool? = nil) {
        self.path = path
        self.workingDir = workingDir
        self.recursive = recursive
    }
}
