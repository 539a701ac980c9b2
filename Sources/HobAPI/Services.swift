// Wire types of services (SPRITES-API.md §8), on the public API and the in-sprite socket.

/// `PUT …/services/{name}`. `env` and `dir` are accepted on both APIs (sprites-py sends them on
/// the public one too).
public struct ServiceRequest: Codable, Sendable, Equatable {
    public var cmd: String?
    public var args: [String]?
    public var needs: [String]?
    public var httpPort: Int?
    public var env: [String: String]?
    public var dir: String?

    public init(
        cmd: String, args: [String]? = nil, needs: [String]? = nil, httpPort: Int? = nil, env: [String: String]? = nil,
        dir: String? = nil
    ) {
        self.cmd = cmd
        self.args = args
        self.needs = needs
        self.httpPort = httpPort
        self.env = env
        self.dir = dir
    }

    enum CodingKeys: String, CodingKey {
        case cmd, args, needs, env, dir
        case httpPort = "http_port"
    }
}

/// A service's runtime state.
public struct ServiceState: Codable, Sendable, Equatable {
    public var name: String
    /// `stopped`, `starting`, `running`, `stopping` or `failed`.
    public var status: String
    public var pid: Int?
    public var startedAt: String?
    public var error: String?
    public var restartCount: Int
    public var nextRestartAt: String?

    public init(
        name: String, status: String, pid: Int? = nil, startedAt: String? = nil, error: String? = nil, restartCount: Int = 0,
        nextRestartAt: String? = nil
    ) {
        self.name = name
        self.status = status
        self.pid = pid
        self.startedAt = startedAt
        self.error = error
        self.restartCount = restartCount
        self.nextRestartAt = nextRestartAt
    }

    enum CodingKeys: String, CodingKey {
        case name, status, pid, error
        case startedAt = "started_at"
        case restartCount = "restart_count"
        case nextRestartAt = "next_restart_at"
    }
}

/// A service definition with its state (`GET …/services[/{name}]`).
public struct ServiceInfo: Codable, Sendable, Equatable {
    public var name: String
    public var cmd: String
    public var args: [String]
    public var needs: [String]
    public var httpPort: Int?
    public var env: [String: String]
    public var dir: String?
    public var state: ServiceState

    public init(
        name: String, cmd: String, args: [String], needs: [String], httpPort: Int?, env: [String: String], dir: String?,
        state: ServiceState
    ) {
        self.name = name
        self.cmd = cmd
        self.args = args
        self.needs = needs
        self.httpPort = httpPort
        self.env = env
        self.dir = dir
        self.state = state
    }

    enum CodingKeys: String, CodingKey {
        case name, cmd, args, needs, env, dir, state
        case httpPort = "http_port"
    }
}

/// One NDJSON line of a create, start or stop stream.
public struct ServiceLogLine: Codable, Sendable, Equatable {
    /// `started`, `stdout`, `stderr`, `exit`, `stopping`, `stopped`, `error` or `complete`.
    public var type: String
    public var data: String?
    public var exitCode: Int?
    /// Milliseconds since the epoch.
    public var timestamp: Int64
    public var logFiles: [String: String]?

    public init(type: String, data: String? = nil, exitCode: Int? = nil, timestamp: Int64, logFiles: [String: String]? = nil) {
        self.type = type
        self.data = data
        self.exitCode = exitCode
        self.timestamp = timestamp
        self.logFiles = logFiles
    }

    enum CodingKeys: String, CodingKey {
        case type, data, timestamp
        case exitCode = "exit_code"
        case logFiles = "log_files"
    }
}

/// `POST …/services/signal`.
public struct ServiceSignalRequest: Codable, Sendable, Equatable {
    public var name: String?
    public var signal: String?

    public init(name: String, signal: String) {
        self.name = name
        self.signal = signal
    }
}
