// Checkpoint wire types (SPRITES-API.md §7) and Hob's fork extension to create.

/// One entry of `GET …/checkpoints`, and the body of `GET …/checkpoints/{id}`.
/// `size_bytes` is a Hob extension: the bytes only this checkpoint holds, so deleting it frees
/// about that much. Nil when the pool cannot account space.
public struct CheckpointInfo: Codable, Sendable, Equatable {
    public var id: String
    public var createTime: String
    public var comment: String
    public var history: [String]
    public var isAuto: Bool
    public var sizeBytes: Int64?
    /// The OpenAPI's health: "" when its snapshot is in the pool and can be mounted and restored,
    /// "mount_failed" when it is not.
    public var health: String?
    /// The checkpoint this one was taken on top of (its parent), absent for the first.
    public var sourceID: String?

    public init(
        id: String, createTime: String, comment: String, history: [String], isAuto: Bool, sizeBytes: Int64? = nil,
        health: String? = nil, sourceID: String? = nil
    ) {
        self.id = id
        self.createTime = createTime
        self.comment = comment
        self.history = history
        self.isAuto = isAuto
        self.sizeBytes = sizeBytes
        self.health = health
        self.sourceID = sourceID
    }

    enum CodingKeys: String, CodingKey {
        case id, comment, history, health
        case createTime = "create_time"
        case isAuto = "is_auto"
        case sizeBytes = "size_bytes"
        case sourceID = "source_id"
    }
}

/// `POST …/checkpoint`. Old clients send `?comment=` instead; the server accepts both.
public struct CreateCheckpointRequest: Codable, Sendable, Equatable {
    public var comment: String?
    public init(comment: String? = nil) { self.comment = comment }
}

/// One NDJSON line of a checkpoint or restore stream.
public struct StreamMessage: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        case info, stdout, stderr, error, complete
    }

    public var type: Kind
    public var data: String?
    public var error: String?
    public var time: String?

    public init(type: Kind, data: String? = nil, error: String? = nil, time: String? = nil) {
        self.type = type
        self.data = data
        self.error = error
        self.time = time
    }
}

/// Hob extension to `POST /v1/sprites`: make the new sprite a copy-on-write fork of another
/// sprite's checkpoint, or of its current disk when `checkpoint` is omitted.
public struct ForkSource: Codable, Sendable, Equatable {
    public var sprite: String
    public var checkpoint: String?
    public init(sprite: String, checkpoint: String? = nil) {
        self.sprite = sprite
        self.checkpoint = checkpoint
    }
}
