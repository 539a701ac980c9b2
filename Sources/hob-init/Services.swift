// Services: long-running processes hob-init keeps alive inside the sprite, without systemd.
//
// The daemon owns the definitions and sends the whole set (`setServices`) after every boot and
// every change; this supervisor makes the processes match it. Wanted services start once the
// services they need are running; a crash (non-zero exit or a signal) is followed by a restart
// after a backoff that grows from 0.5 s to 30 s and resets once a run lasted a minute; a stop
// sends TERM to the service's process group and KILL after the grace period. Output goes to
// /.sprite/logs/services/<name>.log (on the sprite's disk, rotated at 10 MiB) and to every
// connection following the service.
import CHobShim
import Glibc
import HobAgentProtocol
import HobSpriteEnv

final class Service {
    var spec: ServiceSpec
    var phase: ServiceStatus.Phase
    var pid: pid_t = 0
    var stdoutFD: Int32 = -1
    var stderrFD: Int32 = -1
    var startedAtMs: Int64 = 0
    var startedAtMonotonic: Int64 = 0
    var restartCount: UInt32 = 0
    /// Crashes in a row, for the backoff.
    var failures = 0
    var nextRestartMonotonic: Int64 = 0
    var nextRestartMs: Int64 = 0
    var error = ""
    /// Set while a stop we asked for is under way: KILL at this (monotonic) time.
    var killDeadline: Int64?
    /// The daemon no longer defines it: forget it once its process is gone.
    var removed = false
    var log: ServiceLog

    init(_ spec: ServiceSpec) {
        self.spec = spec
        phase = spec.wanted ? .starting : .stopped
        log = ServiceLog(name: spec.name)
    }

    var status: ServiceStatus {
        ServiceStatus(
            name: spec.name, phase: phase, pid: pid, startedAtMs: pid > 0 ? startedAtMs : 0,
            nextRestartMs: phase == .failed ? nextRestartMs : 0, restartCount: restartCount, error: error)
    }

    func note(_ line: String) { log.append(Array("--- hob: \(line) ---\n".utf8)) }
}

/// A service's log file: appended to, renamed to `<name>.log.1` when it passes the limit.
struct ServiceLog {
    let path: String
    var fd: Int32 = -1
    var size = 0
    static let limit = 10 << 20

    init(name: String) { path = serviceLogPath(name) }

    mutating func append(_ bytes: [UInt8]) {
        if fd < 0 { open() }
        guard fd >= 0 else { return }
        writeAll(fd, bytes)
        size += bytes.count
        if size > Self.limit {
            rename(path, path + ".1")
            close()
        }
    }

    private mutating func open() {
        // The directory is on the sprite's disk, which the sprite may have rearranged.
        mkdir("/.sprite/logs", 0o755)
        mkdir("/.sprite/logs/services", 0o755)
        fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0o644)
        var st = stat()
        size = fd >= 0 && fstat(fd, &st) == 0 ? Int(st.st_size) : 0
    }

    mutating func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }
}

final class Supervisor {
    /// In the daemon's order, which is the order of definition.
    private(set) var services: [Service] = []
    /// Set by a shutdown: nothing starts or restarts any more.
    var shuttingDown = false
    /// Connections following a service, by name: a stream may begin before the service exists
    /// (the daemon follows, then sends the definition).
    private var followers: [String: [Connection]] = [:]

    static let initialBackoffMs: Int64 = 500
    static let maxBackoffMs: Int64 = 30_000
    /// A run this long counts as healthy: the next crash starts the backoff over.
    static let healthyRunMs: Int64 = 60_000

    func service(_ name: String) -> Service? { services.first { $0.spec.name == name } }

    // MARK: - Requests

    func apply(_ specs: [ServiceSpec]) {
        let names = Set(specs.map(\.name))
        for s in services where !names.contains(s.spec.name) {
            s.removed = true
            stop(s, graceMs: s.spec.stopGraceMs)
        }
        for spec in specs {
            guard let s = service(spec.name) else {
                let s = Service(spec)
                services.append(s)
                continue
            }
            let old = s.spec
            s.spec = spec
            s.removed = false
            if !spec.wanted {
                stop(s, graceMs: spec.stopGraceMs)
                continue
            }
            if s.pid > 0 {
                // A new definition restarts it: the exit handler starts it again since it is wanted.
                if spec.runsDifferently(from: old) || s.phase == .stopping { stop(s, graceMs: old.stopGraceMs) }
            } else if s.phase == .stopped || spec.startNow {
                // Wanted again, or an explicit start: at once, with a fresh backoff.
                s.phase = .starting
                s.failures = 0
                s.error = ""
            }
        }
        services.removeAll { $0.removed && $0.pid == 0 }
        tick()
    }

    func signal(_ name: String, _ sig: Int32) -> AgentEvent {
        guard let s = service(name), !s.removed else { return .error(.notFound, "service \(name) not found") }
        guard s.pid > 0 else { return .gone }
        if kill(-s.pid, sig) != 0 { kill(s.pid, sig) }
        return .ok
    }

    func follow(_ name: String, _ c: Connection) {
        c.followedService = name
        followers[name, default: []].append(c)
        c.send(AgentEvent.ok.frame())
    }

    func unfollow(_ c: Connection) {
        guard let name = c.followedService else { return }
        followers[name]?.removeAll { $0 === c }
        if followers[name]?.isEmpty == true { followers[name] = nil }
        c.followedService = nil
    }

    /// Sends an event to every follower. Output is dropped for a follower that is far behind,
    /// rather than stalling the service: the log file keeps everything.
    private func emit(_ s: Service, _ kind: ServiceEvent.Kind, _ data: [UInt8] = [], exitCode: Int32 = 0) {
        guard let list = followers[s.spec.name], !list.isEmpty else { return }
        let frame = AgentEvent.serviceEvent(ServiceEvent(kind: kind, data: data, exitCode: exitCode, timestampMs: nowMs())).frame()
        let isOutput = kind == .stdout || kind == .stderr
        for f in list where !(isOutput && f.pendingBytes > 1 << 20) { f.send(frame) }
    }

    // MARK: - The loop

    /// Starts what may start and kills what overstayed its stop. Called after every poll.
    func tick() {
        let now = monotonicMs()
        for s in services where s.pid > 0 {
            if let deadline = s.killDeadline, now >= deadline {
                if kill(-s.pid, SIGKILL) != 0 { kill(s.pid, SIGKILL) }
                s.killDeadline = nil
            }
        }
        guard !shuttingDown else { return }
        // Starting one service can release the ones that need it: go round until nothing moves.
        var progress = true
        while progress {
            progress = false
            for s in services where s.spec.wanted && !s.removed && s.pid == 0 {
                switch s.phase {
                case .starting: break
                case .failed where now >= s.nextRestartMonotonic: break
                default: continue
                }
                if let waiting = unmetNeed(of: s) {
                    s.phase = .starting
                    s.error = "waiting for \(waiting)"
                    continue
                }
                start(s)
                progress = true
            }
        }
    }

    /// The first service `s` needs that should run but does not yet.
    private func unmetNeed(of s: Service) -> String? {
        for need in s.spec.needs {
            guard let n = service(need), n.spec.wanted, !n.removed else { continue }
            if n.phase != .running { return need }
        }
        return nil
    }

    /// The next time `tick` has something to do, for the poll timeout.
    func nextDeadline() -> Int64? {
        var deadlines: [Int64] = services.compactMap(\.killDeadline)
        if !shuttingDown {
            deadlines += services.filter { $0.phase == .failed && $0.spec.wanted && $0.pid == 0 }.map(\.nextRestartMonotonic)
        }
        return deadlines.min()
    }

    // MARK: - Processes

    private func start(_ s: Service) {
        var out: [Int32] = [-1, -1]
        var err: [Int32] = [-1, -1]
        let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { if devNull >= 0 { close(devNull) } }
        guard devNull >= 0, hob_pipe2(&out, O_CLOEXEC) == 0, hob_pipe2(&err, O_CLOEXEC) == 0 else {
            for fd in out + err where fd >= 0 { close(fd) }
            return failed(s, SpawnFailure(step: "pipe", errno: errno, notFound: false).message)
        }
        let dir = s.spec.directory.isEmpty ? "/" : s.spec.directory
        let spawned = spawnProcess(
            argv: s.spec.argv, environment: s.spec.environment, directory: dir, stdin: devNull, stdout: out[1], stderr: err[1])
        close(out[1])
        close(err[1])
        switch spawned {
        case .failure(let failure):
            close(out[0])
            close(err[0])
            failed(s, failure.message)
        case .success(let pid):
            s.pid = pid
            s.stdoutFD = out[0]
            s.stderrFD = err[0]
            setNonBlocking(out[0])
            setNonBlocking(err[0])
            s.phase = .running
            s.error = ""
            s.startedAtMs = nowMs()
            s.startedAtMonotonic = monotonicMs()
            s.note("started \(s.spec.argv.joined(separator: " ")) (pid \(pid))")
            emit(s, .started, Array("pid \(pid)".utf8))
        }
    }

    /// It could not start, or it crashed: try again after the backoff.
    private func failed(_ s: Service, _ why: String) {
        s.failures += 1
        let delay = min(Self.maxBackoffMs, Self.initialBackoffMs << min(s.failures - 1, 16))
        s.phase = .failed
        s.error = why
        s.nextRestartMonotonic = monotonicMs() + delay
        s.nextRestartMs = nowMs() + delay
        s.note("\(why); restarting in \(delay) ms")
        emit(s, .error, Array(why.utf8))
    }

    private func stop(_ s: Service, graceMs: UInt32) {
        guard s.pid > 0 else {
            if s.phase != .stopped {
                s.phase = .stopped
                s.error = ""
                emit(s, .stopped)
            }
            return
        }
        guard s.phase != .stopping else { return }
        s.phase = .stopping
        s.killDeadline = monotonicMs() + Int64(graceMs)
        s.note("stopping (pid \(s.pid))")
        emit(s, .stopping)
        if kill(-s.pid, SIGTERM) != 0 { kill(s.pid, SIGTERM) }
    }

    /// Reads what one output pipe has now, into the log and to the followers. False at EOF.
    func drain(_ s: Service, _ fd: Int32, stream: ServiceEvent.Kind, once: Bool) -> Bool {
        readAvailable(fd, once: once) { bytes in
            s.log.append(bytes)
            emit(s, stream, bytes)
        }
    }

    func closeOutput(_ s: Service, _ fd: Int32) {
        close(fd)
        if s.stdoutFD == fd { s.stdoutFD = -1 }
        if s.stderrFD == fd { s.stderrFD = -1 }
    }

    /// A process was reaped; true if it was a service's.
    func reaped(_ pid: pid_t, status: Int32) -> Bool {
        guard let s = services.first(where: { $0.pid == pid }) else { return false }
        for (fd, stream) in [(s.stdoutFD, ServiceEvent.Kind.stdout), (s.stderrFD, .stderr)] where fd >= 0 {
            _ = drain(s, fd, stream: stream, once: false)
            closeOutput(s, fd)
        }
        let (code, signal) = exitCode(waitStatus: status)
        let ranMs = monotonicMs() - s.startedAtMonotonic
        s.pid = 0
        s.killDeadline = nil
        emit(s, .exit, exitCode: code)
        let how = signal.map { "killed by signal \($0)" } ?? "exited with status \(code)"
        if s.phase == .stopping || !s.spec.wanted || s.removed || shuttingDown {
            s.note("stopped (\(how))")
            s.phase = s.spec.wanted && !s.removed && !shuttingDown ? .starting : .stopped
            emit(s, .stopped)
            if s.removed {
                s.log.close()
                services.removeAll { $0 === s }
            }
        } else if code == 0 && signal == nil {
            // Finished on its own: not a crash, so not restarted until the next start or boot.
            s.note(how)
            s.phase = .stopped
            s.error = how
            emit(s, .stopped)
        } else {
            if ranMs >= Self.healthyRunMs { s.failures = 0 }
            s.restartCount += 1
            failed(s, how)
        }
        tick()
        return true
    }
}
