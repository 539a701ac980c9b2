// Service messages of the daemon ⇄ hob-init protocol. The daemon owns the definitions (they live
// in its database, so a sticky stop survives a cold boot); hob-init supervises the processes.

/// One service as the daemon wants it: what to run and whether it should be running.
public struct ServiceSpec: Sendable, Equatable {
    public var name: String
    /// `cmd` followed by `args`.
    public var argv: [String]
    /// The complete environment, `KEY=VALUE`.
    public var environment: [String]
    /// Working directory; empty means `/`.
    public var directory: String
    /// Services that must be running before this one starts.
    public var needs: [String]
    /// False after a stop: hob-init stops it (TERM, then KILL after `stopGraceMs`) and leaves it.
    public var wanted: Bool
    public var stopGraceMs: UInt32
    /// Set in the one request that answers an explicit start: a service waiting out its restart
    /// backoff, or one that finished on its own, starts at once.
    public var startNow: Bool

    public init(
        name: String, argv: [String], environment: [String], directory: String = "", needs: [String] = [],
        wanted: Bool = true, stopGraceMs: UInt32 = 10_000, startNow: Bool = false
    ) {
        self.name = name
        self.argv = argv
        self.environment = environment
        self.directory = directory
        self.needs = needs
        self.wanted = wanted
        self.stopGraceMs = stopGraceMs
        self.startNow = startNow
    }

    /// Whether a running process must be restarted to take `other`'s definition.
    public func runsDifferently(from other: ServiceSpec) -> Bool {
        argv != other.argv || environment != other.environment || directory != other.directory
    }

    func encode(_ w: inout WireWriter) {
        w.string(name)
        w.strings(argv)
        w.strings(environment)
        w.string(directory)
        w.strings(needs)
        w.bool(wanted)
        w.u32(stopGraceMs)
        w.bool(startNow)
    }

    init(_ r: inout WireReader) throws(WireError) {
        name = try r.string()
        argv = try r.strings()
        environment = try r.strings()
        directory = try r.string()
        needs = try r.strings()
        wanted = try r.bool()
        stopGraceMs = try r.u32()
        startNow = try r.bool()
    }
}

/// Where a service's output is kept inside the sprite.
public func serviceLogPath(_ name: String) -> String { "/.sprite/logs/services/\(name).log" }

/// Why `name` cannot name a service, nil when it can. It becomes a file name under
/// /.sprite/logs/services, so both sides check it.
public func serviceNameProblem(_ name: String) -> String? {
    let bytes = Array(name.utf8)
    if bytes.isEmpty { return "service name is empty" }
    if bytes.count > 64 { return "service name is longer than 64 characters" }
    let ok = bytes.allSatisfy { b in
        (b >= 0x61 && b <= 0x7a) || (b >= 0x41 && b <= 0x5a) || (b >= 0x30 && b <= 0x39) || b == 0x2d || b == 0x5f || b == 0x2e
    }
    if !ok || bytes[0] == 0x2e || bytes[0] == 0x2d {
        return "service name must be letters, digits, '-', '_' or '.', not starting with '.' or '-'"
    }
    return nil
}

/// A service's state as hob-init sees it.
public struct ServiceStatus: Sendable, Equatable {
    public enum Phase: UInt8, Sendable {
        /// Not wanted and not running (a sticky stop, or it exited with status 0).
        case stopped = 1
        /// Wanted, waiting for the services it needs.
        case starting
        case running
        /// Signalled to stop, not yet exited.
        case stopping
        /// Exited unexpectedly; it is restarted at `nextRestartMs`.
        case failed

        public var name: String {
            switch self {
            case .stopped: "stopped"
            case .starting: "starting"
            case .running: "running"
            case .stopping: "stopping"
            case .failed: "failed"
            }
        }
    }

    public var name: String
    public var phase: Phase
    /// PID inside the sprite; 0 when there is no process.
    public var pid: Int32
    /// Wall clock, milliseconds since the epoch; 0 when unknown or not applicable.
    public var startedAtMs: Int64
    public var nextRestartMs: Int64
    public var restartCount: UInt32
    /// Why it is not running as wanted (last exit, spawn failure, the need it waits for).
    public var error: String

    public init(
        name: String, phase: Phase, pid: Int32 = 0, startedAtMs: Int64 = 0, nextRestartMs: Int64 = 0,
        restartCount: UInt32 = 0, error: String = ""
    ) {
        self.name = name
        self.phase = phase
        self.pid = pid
        self.startedAtMs = startedAtMs
        self.nextRestartMs = nextRestartMs
        self.restartCount = restartCount
        self.error = error
    }

    func encode(_ w: inout WireWriter) {
        w.string(name)
        w.u8(phase.rawValue)
        w.i32(pid)
        w.i64(startedAtMs)
        w.i64(nextRestartMs)
        w.u32(restartCount)
        w.string(error)
    }

    init(_ r: inout WireReader) throws(WireError) {
        name = try r.string()
        guard let p = Phase(rawValue: try r.u8()) else { throw WireError("unknown service phase") }
        phase = p
        pid = try r.i32()
        startedAtMs = try r.i64()
        nextRestartMs = try r.i64()
        restartCount = try r.u32()
        error = try r.string()
    }
}

/// Something that happened to a followed service (the NDJSON lines of the Sprites API).
public struct ServiceEvent: Sendable, Equatable {
    public enum Kind: UInt8, Sendable {
        case started = 1, stdout, stderr, exit, stopping, stopped, error

        public var name: String {
            switch self {
            case .started: "started"
            case .stdout: "stdout"
            case .stderr: "stderr"
            case .exit: "exit"
            case .stopping: "stopping"
            case .stopped: "stopped"
            case .error: "error"
            }
        }
    }

    public var kind: Kind
    public var data: [UInt8]
    /// For `exit`: the exit status, or 128 + signal.
    public var exitCode: Int32
    public var timestampMs: Int64

    public init(kind: Kind, data: [UInt8] = [], exitCode: Int32 = 0, timestampMs: Int64) {
        self.kind = kind
        self.data = data
        self.exitCode = exitCode
        self.timestampMs = timestampMs
    }

    func encode(_ w: inout WireWriter) {
        w.u8(kind.rawValue)
        w.data(data)
        w.i32(exitCode)
        w.i64(timestampMs)
    }

    init(_ r: inout WireReader) throws(WireError) {
        guard let k = Kind(rawValue: try r.u8()) else { throw WireError("unknown service event") }
        kind = k
        data = try r.data()
        exitCode = try r.i32()
        timestampMs = try r.i64()
    }
}

/// Most services one sprite may define.
public let maxServices = 64
