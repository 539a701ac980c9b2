// Exec WebSocket and session wire types (SPRITES-API.md §4).

/// First byte of a binary frame in non-TTY mode. TTY frames are raw bytes with no prefix.
public enum StreamID: UInt8, Sendable {
    case stdin = 0x00
    case stdout = 0x01
    case stderr = 0x02
    case exit = 0x03
    case stdinEOF = 0x04
}

/// Query parameters of `GET /v1/sprites/{name}/exec` (WebSocket upgrade).
public struct ExecParameters: Sendable, Equatable {
    public var command: [String]
    public var environment: [String]
    public var directory: String?
    public var tty: Bool
    public var rows: UInt16
    public var cols: UInt16
    public var stdin: Bool

    public init(
        command: [String], environment: [String] = [], directory: String? = nil, tty: Bool = false,
        rows: UInt16 = 24, cols: UInt16 = 80, stdin: Bool = true
    ) {
        self.command = command
        self.environment = environment
        self.directory = directory
        self.tty = tty
        self.rows = rows
        self.cols = cols
        self.stdin = stdin
    }

    /// The query items in the order the Go SDK sends them.
    public var queryItems: [(String, String)] {
        var items: [(String, String)] = command.map { ("cmd", $0) }
        if let first = command.first { items.append(("path", first)) }
        items += environment.map { ("env", $0) }
        if let directory { items.append(("dir", directory)) }
        if tty {
            items.append(("tty", "true"))
            items.append(("rows", String(rows)))
            items.append(("cols", String(cols)))
        }
        items.append(("stdin", stdin ? "true" : "false"))
        return items
    }
}

/// Server → client text frame sent first on every exec or attach. The AsyncAPI `SessionInfoMessage` requires every
/// field; they are optional here because older servers (and Hob before issue 12) sent only `session_id` and `tty`.
public struct SessionInfoMessage: Codable, Sendable, Equatable {
    public var type = "session_info"
    public var sessionID: String
    public var tty: Bool
    /// The command line, arguments joined by spaces.
    public var command: String?
    /// When the session started, Unix seconds.
    public var created: Int64?
    /// The terminal size (TTY sessions; 0 otherwise).
    public var cols: Int?
    public var rows: Int?
    /// True for the connection that started the session, false for an attach.
    public var isOwner: Bool?

    public init(
        sessionID: String, tty: Bool, command: String? = nil, created: Int64? = nil, cols: Int? = nil, rows: Int? = nil,
        isOwner: Bool? = nil
    ) {
        self.sessionID = sessionID
        self.tty = tty
        self.command = command
        self.created = created
        self.cols = cols
        self.rows = rows
        self.isOwner = isOwner
    }

    /// Lenient about the optional fields: a value of an unexpected type (an RFC 3339 `created`, say) is left out
    /// rather than failing the message, which would lose the TTY mode an attach needs.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        sessionID = try c.decode(String.self, forKey: .sessionID)
        tty = try c.decode(Bool.self, forKey: .tty)
        command = try? c.decodeIfPresent(String.self, forKey: .command)
        created = try? c.decodeIfPresent(Int64.self, forKey: .created)
        cols = try? c.decodeIfPresent(Int.self, forKey: .cols)
        rows = try? c.decodeIfPresent(Int.self, forKey: .rows)
        isOwner = try? c.decodeIfPresent(Bool.self, forKey: .isOwner)
    }

    enum CodingKeys: String, CodingKey {
        case type, tty, command, created, cols, rows
        case sessionID = "session_id"
        case isOwner = "is_owner"
    }
}

/// Server → client text frame with the exit status: Go reads `exit_code`, Elixir `code`.
public struct ExitMessage: Codable, Sendable, Equatable {
    public var type = "exit"
    public var exitCode: Int
    public var code: Int

    public init(exitCode: Int) {
        self.exitCode = exitCode
        self.code = exitCode
    }

    enum CodingKeys: String, CodingKey {
        case type, code
        case exitCode = "exit_code"
    }
}

/// Client → server text frames: `resize` (TTY) and `signal`.
public struct ClientControlMessage: Codable, Sendable, Equatable {
    public var type: String
    public var rows: Int?
    public var cols: Int?
    public var signal: String?

    public init(type: String, rows: Int? = nil, cols: Int? = nil, signal: String? = nil) {
        self.type = type
        self.rows = rows
        self.cols = cols
        self.signal = signal
    }

    public static func resize(rows: Int, cols: Int) -> ClientControlMessage {
        ClientControlMessage(type: "resize", rows: rows, cols: cols)
    }

    public static func signal(_ name: String) -> ClientControlMessage {
        ClientControlMessage(type: "signal", signal: name)
    }
}

/// One entry of `GET /v1/sprites/{name}/exec` (plain HTTP). `id` is the PID inside the sprite.
public struct ExecSessionInfo: Codable, Sendable, Equatable {
    public var id: String
    public var command: String
    public var workdir: String
    public var created: String
    public var bytesPerSecond: Double
    public var isActive: Bool
    public var lastActivity: String
    public var tty: Bool

    public init(
        id: String, command: String, workdir: String, created: String, bytesPerSecond: Double, isActive: Bool,
        lastActivity: String, tty: Bool
    ) {
        self.id = id
        self.command = command
        self.workdir = workdir
        self.created = created
        self.bytesPerSecond = bytesPerSecond
        self.isActive = isActive
        self.lastActivity = lastActivity
        self.tty = tty
    }

    enum CodingKeys: String, CodingKey {
        case id, command, workdir, created, tty
        case bytesPerSecond = "bytes_per_second"
        case isActive = "is_active"
        case lastActivity = "last_activity"
    }
}

public struct ExecSessionList: Codable, Sendable, Equatable {
    public var sessions: [ExecSessionInfo]
    public init(sessions: [ExecSessionInfo]) { self.sessions = sessions }
}

/// Signal names the API accepts, with their Linux numbers.
public enum SignalName {
    public static let numbers: [String: Int32] = [
        "HUP": 1, "INT": 2, "QUIT": 3, "KILL": 9, "USR1": 10, "USR2": 12, "TERM": 15, "CONT": 18, "STOP": 19,
        "WINCH": 28,
    ]

    /// Accepts `TERM`, `SIGTERM` or a number.
    public static func number(_ name: String) -> Int32? {
        let upper = name.uppercased()
        let bare = upper.hasPrefix("SIG") ? String(upper.dropFirst(3)) : upper
        if let n = numbers[bare] { return n }
        if let n = Int32(name), n > 0, n < 65 { return n }
        return nil
    }
}

/// The version the daemon reports in `Sprite-Version` on every response.
public let spriteAPIVersion = "0.0.1"
