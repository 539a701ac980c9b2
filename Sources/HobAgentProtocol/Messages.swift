// Messages of the daemon ⇄ hob-init protocol (framing in Wire.swift).

/// What the daemon asks hob-init to run.
public struct ExecRequest: Sendable, Equatable {
    public var argv: [String]
    /// The complete environment, `KEY=VALUE`; the daemon merges defaults, sprite and request values.
    public var environment: [String]
    /// Working directory; empty means the sprite's default.
    public var directory: String
    public var tty: Bool
    public var rows: UInt16
    public var cols: UInt16
    /// False when the client will send no input: the process gets /dev/null as stdin.
    public var stdin: Bool

    public init(
        argv: [String], environment: [String], directory: String = "", tty: Bool = false,
        rows: UInt16 = 24, cols: UInt16 = 80, stdin: Bool = true
    ) {
        self.argv = argv
        self.environment = environment
        self.directory = directory
        self.tty = tty
        self.rows = rows
        self.cols = cols
        self.stdin = stdin
    }
}

/// One exec session as hob-init reports it. `id` is the PID inside the sprite.
public struct SessionSummary: Sendable, Equatable {
    public var id: UInt32
    public var command: String
    public var workdir: String
    public var tty: Bool
    public var createdMs: Int64
    public var lastActivityMs: Int64
    /// A client is attached.
    public var isActive: Bool
    /// The process has exited; its output stays replayable for a while.
    public var exited: Bool

    public init(
        id: UInt32, command: String, workdir: String, tty: Bool, createdMs: Int64, lastActivityMs: Int64,
        isActive: Bool, exited: Bool
    ) {
        self.id = id
        self.command = command
        self.workdir = workdir
        self.tty = tty
        self.createdMs = createdMs
        self.lastActivityMs = lastActivityMs
        self.isActive = isActive
        self.exited = exited
    }
}

/// How hob-init sets the sprite up at boot (sent once over the control socket).
public struct BootConfig: Sendable, Equatable {
    public var hostname: String
    /// IPv4 address of eth0; empty for no network.
    public var address: String
    public var prefixLength: UInt8
    public var gateway: String
    public var nameservers: [String]
    /// Device nodes for /dev, and the capability set and filter of the processes hob-init starts.
    public var privileges: SpritePrivileges

    public init(
        hostname: String, address: String, prefixLength: UInt8, gateway: String, nameservers: [String],
        privileges: SpritePrivileges = .standard
    ) {
        self.hostname = hostname
        self.address = address
        self.prefixLength = prefixLength
        self.gateway = gateway
        self.nameservers = nameservers
        self.privileges = privileges
    }

    public func encoded() -> [UInt8] {
        var w = WireWriter()
        w.string(hostname)
        w.string(address)
        w.u8(prefixLength)
        w.string(gateway)
        w.strings(nameservers)
        privileges.encode(&w)
        return w.bytes
    }

    public init(decoding bytes: [UInt8]) throws(WireError) {
        var r = WireReader(bytes)
        hostname = try r.string()
        address = try r.string()
        prefixLength = try r.u8()
        gateway = try r.string()
        nameservers = try r.strings()
        privileges = try SpritePrivileges(&r)
    }
}

/// Daemon → hob-init.
public enum AgentRequest: Sendable, Equatable {
    case exec(ExecRequest)
    case attach(sessionID: UInt32)
    case stdin([UInt8])
    case stdinEOF
    case resize(rows: UInt16, cols: UInt16)
    case signal(Int32)
    case listSessions
    case kill(sessionID: UInt32, signal: Int32)
    case ping
    /// Terminate every process (TERM, then KILL after the grace period) and exit.
    case shutdown(graceMs: UInt32)
    /// Make /.sprite/checkpoints hold exactly these checkpoints. The frame travels with exactly
    /// `names.count` descriptors (SCM_RIGHTS), in the same order: detached, idmapped, read-only
    /// mounts of the checkpoints. Entries not named are unmounted; names already mounted are kept.
    case mountCheckpoints(names: [String])
    /// Supervise exactly these services (Services.swift): start the wanted ones in `needs`
    /// order, stop the rest, restart running ones whose definition changed, forget removed ones.
    case setServices([ServiceSpec])
    /// Turn this connection into a feed of the service's events (`serviceEvent`).
    case followService(String)
    case listServices
    /// Signal a running service's process group: `ok`, `gone` (not running) or a notFound error.
    case signalService(String, Int32)
    /// The privileges of processes started from now on (running ones keep theirs: a seccomp
    /// filter and a bounding set can only shrink).
    case setPrivileges(SpritePrivileges)
    /// The first frame of every connection to an agent that requires a token (gvisor mode, where
    /// the agent listens on TCP inside the sprite's network): answered with `ok`, or the
    /// connection is closed. Agents without a token never see it. See AgentToken.swift.
    case hello(token: String)

    /// Most checkpoints one `mountCheckpoints` request may carry (the daemon mounts the last five).
    public static let maxCheckpointMounts = 64

    /// Wire numbers are fixed: a daemon may talk to an older hob-init it adopted after a restart.
    /// New kinds are appended.
    private enum Kind: UInt8 {
        case exec = 1, attach, stdin, stdinEOF, resize, signal, listSessions, kill, ping, shutdown
        case mountCheckpoints
        case setServices, followService, listServices, signalService
        case setPrivileges
        case hello
    }

    /// How many descriptors travel with this request's frame.
    public var descriptorCount: Int {
        if case .mountCheckpoints(let names) = self { return names.count }
        return 0
    }

    public func frame() -> [UInt8] {
        var w = WireWriter()
        let kind: Kind
        switch self {
        case .exec(let r):
            kind = .exec
            w.strings(r.argv)
            w.strings(r.environment)
            w.string(r.directory)
            w.bool(r.tty)
            w.u16(r.rows)
            w.u16(r.cols)
            w.bool(r.stdin)
        case .attach(let id):
            kind = .attach
            w.u32(id)
        case .stdin(let data):
            kind = .stdin
            w.data(data)
        case .stdinEOF:
            kind = .stdinEOF
        case .resize(let rows, let cols):
            kind = .resize
            w.u16(rows)
            w.u16(cols)
        case .signal(let sig):
            kind = .signal
            w.i32(sig)
        case .listSessions:
            kind = .listSessions
        case .kill(let id, let sig):
            kind = .kill
            w.u32(id)
            w.i32(sig)
        case .ping:
            kind = .ping
        case .shutdown(let grace):
            kind = .shutdown
            w.u32(grace)
        case .mountCheckpoints(let names):
            kind = .mountCheckpoints
            w.strings(names)
        case .setServices(let specs):
            kind = .setServices
            w.u32(UInt32(specs.count))
            for spec in specs { spec.encode(&w) }
        case .followService(let name):
            kind = .followService
            w.string(name)
        case .listServices:
            kind = .listServices
        case .signalService(let name, let sig):
            kind = .signalService
            w.string(name)
            w.i32(sig)
        case .setPrivileges(let privileges):
            kind = .setPrivileges
            privileges.encode(&w)
        case .hello(let token):
            kind = .hello
            w.string(token)
        }
        return encodeFrame(kind: kind.rawValue, payload: w.bytes)
    }

    public init(kind: UInt8, payload: [UInt8]) throws(WireError) {
        guard let k = Kind(rawValue: kind) else { throw WireError("unknown request kind \(kind)") }
        var r = WireReader(payload)
        switch k {
        case .exec:
            let argv = try r.strings()
            let env = try r.strings()
            let dir = try r.string()
            let tty = try r.bool()
            let rows = try r.u16()
            let cols = try r.u16()
            let stdin = try r.bool()
            self = .exec(ExecRequest(argv: argv, environment: env, directory: dir, tty: tty, rows: rows, cols: cols, stdin: stdin))
        case .attach: self = .attach(sessionID: try r.u32())
        case .stdin: self = .stdin(try r.data())
        case .stdinEOF: self = .stdinEOF
        case .resize:
            let rows = try r.u16()
            self = .resize(rows: rows, cols: try r.u16())
        case .signal: self = .signal(try r.i32())
        case .listSessions: self = .listSessions
        case .kill:
            let id = try r.u32()
            self = .kill(sessionID: id, signal: try r.i32())
        case .ping: self = .ping
        case .shutdown: self = .shutdown(graceMs: try r.u32())
        case .mountCheckpoints:
            let names = try r.strings()
            guard names.count <= Self.maxCheckpointMounts else { throw WireError("too many checkpoints (\(names.count))") }
            self = .mountCheckpoints(names: names)
        case .setServices:
            let n = Int(try r.u32())
            guard n <= maxServices else { throw WireError("too many services (\(n))") }
            var specs: [ServiceSpec] = []
            for _ in 0..<n { specs.append(try ServiceSpec(&r)) }
            self = .setServices(specs)
        case .followService: self = .followService(try r.string())
        case .listServices: self = .listServices
        case .signalService:
            let name = try r.string()
            self = .signalService(name, try r.i32())
        case .setPrivileges: self = .setPrivileges(try SpritePrivileges(&r))
        case .hello:
            let token = try r.string()
            guard token.utf8.count <= AgentToken.maxLength else { throw WireError("token longer than \(AgentToken.maxLength) bytes") }
            self = .hello(token: token)
        }
        guard r.isAtEnd else { throw WireError("trailing bytes in request") }
    }
}

/// Why `name` cannot be a directory under /.sprite/checkpoints, nil when it can. Both sides check:
/// the daemon before it sends, hob-init before it touches the filesystem.
public func checkpointMountNameProblem(_ name: String) -> String? {
    let bytes = name.utf8
    if bytes.isEmpty { return "empty checkpoint name" }
    if bytes.count > 64 { return "checkpoint name longer than 64 bytes" }
    if name == "." || name == ".." { return "checkpoint name \"\(name)\" is reserved" }
    if bytes.contains(UInt8(ascii: "/")) || bytes.contains(0) { return "checkpoint name contains '/' or NUL" }
    return nil
}

/// Why hob-init refused a request.
public enum AgentErrorKind: UInt8, Sendable, Equatable {
    case notFound = 1
    case invalid = 2
    case failed = 3
}

/// hob-init → daemon.
public enum AgentEvent: Sendable, Equatable {
    /// The session exists (new or attached); output follows. For attach, replayed output comes first.
    case started(sessionID: UInt32, tty: Bool)
    case stdout([UInt8])
    case stderr([UInt8])
    /// The process ended; `code` is its exit status, or 128 + signal.
    case exit(code: Int32)
    case error(AgentErrorKind, String)
    case sessions([SessionSummary])
    case ok
    /// The targeted session has already exited.
    case gone
    case pong
    case services([ServiceStatus])
    case serviceEvent(ServiceEvent)

    private enum Kind: UInt8 {
        case started = 0x81, stdout, stderr, exit, error, sessions, ok, gone, pong
        case services, serviceEvent
    }

    public func frame() -> [UInt8] {
        var w = WireWriter()
        let kind: Kind
        switch self {
        case .started(let id, let tty):
            kind = .started
            w.u32(id)
            w.bool(tty)
        case .stdout(let d):
            kind = .stdout
            w.data(d)
        case .stderr(let d):
            kind = .stderr
            w.data(d)
        case .exit(let code):
            kind = .exit
            w.i32(code)
        case .error(let k, let message):
            kind = .error
            w.u8(k.rawValue)
            w.string(message)
        case .sessions(let list):
            kind = .sessions
            w.u32(UInt32(list.count))
            for s in list {
                w.u32(s.id)
                w.string(s.command)
                w.string(s.workdir)
                w.bool(s.tty)
                w.i64(s.createdMs)
                w.i64(s.lastActivityMs)
                w.bool(s.isActive)
                w.bool(s.exited)
            }
        case .ok: kind = .ok
        case .gone: kind = .gone
        case .pong: kind = .pong
        case .services(let list):
            kind = .services
            w.u32(UInt32(list.count))
            for status in list { status.encode(&w) }
        case .serviceEvent(let event):
            kind = .serviceEvent
            event.encode(&w)
        }
        return encodeFrame(kind: kind.rawValue, payload: w.bytes)
    }

    public init(kind: UInt8, payload: [UInt8]) throws(WireError) {
        guard let k = Kind(rawValue: kind) else { throw WireError("unknown event kind \(kind)") }
        var r = WireReader(payload)
        switch k {
        case .started:
            let id = try r.u32()
            self = .started(sessionID: id, tty: try r.bool())
        case .stdout: self = .stdout(try r.data())
        case .stderr: self = .stderr(try r.data())
        case .exit: self = .exit(code: try r.i32())
        case .error:
            guard let ek = AgentErrorKind(rawValue: try r.u8()) else { throw WireError("unknown error kind") }
            self = .error(ek, try r.string())
        case .sessions:
            let n = Int(try r.u32())
            guard n <= 65536 else { throw WireError("too many sessions") }
            var list: [SessionSummary] = []
            for _ in 0..<n {
                let id = try r.u32()
                let command = try r.string()
                let workdir = try r.string()
                let tty = try r.bool()
                let created = try r.i64()
                let last = try r.i64()
                let active = try r.bool()
                let exited = try r.bool()
                list.append(
                    SessionSummary(
                        id: id, command: command, workdir: workdir, tty: tty, createdMs: created, lastActivityMs: last,
                        isActive: active, exited: exited))
            }
            self = .sessions(list)
        case .ok: self = .ok
        case .gone: self = .gone
        case .pong: self = .pong
        case .services:
            let n = Int(try r.u32())
            guard n <= maxServices else { throw WireError("too many services") }
            var list: [ServiceStatus] = []
            for _ in 0..<n { list.append(try ServiceStatus(&r)) }
            self = .services(list)
        case .serviceEvent: self = .serviceEvent(try ServiceEvent(&r))
        }
        guard r.isAtEnd else { throw WireError("trailing bytes in event") }
    }
}
