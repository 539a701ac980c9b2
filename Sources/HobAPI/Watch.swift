// Messages of the watch WebSockets (AsyncAPI channels `ports/watch` and `fs/watch`) and the exec
// WebSocket's port notifications.

/// `{"type":"port_opened"|"port_closed","port":3000,"address":"0.0.0.0","pid":1847}`.
public struct PortNotificationMessage: Codable, Sendable, Equatable {
    public var type: String
    public var port: Int
    /// The address the port is bound to.
    public var address: String
    /// The listening process, as the sprite numbers it (0 if none of its processes holds it).
    public var pid: Int

    public static let opened = "port_opened"
    public static let closed = "port_closed"

    public init(type: String, port: Int, address: String, pid: Int) {
        self.type = type
        self.port = port
        self.address = address
        self.pid = pid
    }
}

/// The first message of `ports/watch`: every port listened on when the watch began.
public struct PortListMessage: Codable, Sendable, Equatable {
    public var type = "port_list"
    public var ports: [PortNotificationMessage]

    public init(ports: [PortNotificationMessage]) { self.ports = ports }
}

/// What an `fs/watch` client sends: `{"type":"subscribe","paths":["/app"],"recursive":true,
/// "workingDir":"/"}` (also `"watch"`), or `{"type":"unsubscribe","paths":[…]}`.
public struct FsWatchRequest: Codable, Sendable, Equatable {
    public var type: String
    public var paths: [String]?
    /// A single path, for clients that send one.
    public var path: String?
    public var recursive: Bool?
    public var workingDir: String?
}

/// What `fs/watch` sends. `event` for a change: `path`, `event` (create, modify, delete, rename,
/// chmod), `timestamp` (RFC 3339), `size`, `isDir`; `subscribed` / `unsubscribed` (`paths`) to
/// acknowledge a request; `error` (`message`, and `path` when one path failed).
public struct FsWatchMessage: Codable, Sendable, Equatable {
    public var type: String
    public var path: String?
    public var paths: [String]?
    public var event: String?
    public var timestamp: String?
    public var size: Int64?
    public var isDir: Bool?
    public var message: String?

    public init(
        type: String, path: String? = nil, paths: [String]? = nil, event: String? = nil, timestamp: String? = nil, size: Int64? = nil,
        isDir: Bool? = nil, message: String? = nil
    ) {
        self.type = type
        self.path = path
        self.paths = paths
        self.event = event
        self.timestamp = timestamp
        self.size = size
        self.isDir = isDir
        self.message = message
    }
}
