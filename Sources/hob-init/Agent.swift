// Stage two of hob-init: PID 1 of the sprite.
//
// A single-threaded poll loop over the agent socket (fd 4, bound by the daemon on the host), the
// daemon's connections, every session's descriptors and a signalfd. It reaps every process in the
// sprite (orphans land on PID 1), runs what the daemon asks, and keeps sessions alive while no
// client is attached, so a console survives its client going away and the daemon restarting.
import CHobShim
import Glibc
import HobAgentProtocol
import HobSpriteEnv

/// One daemon connection: either bound to a session or a series of control requests.
final class Connection {
    let fd: Int32
    var decoder = FrameDecoder()
    /// Descriptors received with the bytes (SCM_RIGHTS), in arrival order; requests that carry
    /// some (mountCheckpoints) take them from the front. Whatever is left is closed on drop.
    var receivedFDs: [Int32] = []
    var outbox: [UInt8] = []
    var outboxOffset = 0
    weak var session: Session?
    /// Set by `followService`: the connection is a feed of that service's events.
    var followedService: String?
    var closeAfterFlush = false
    var closed = false
    /// False until the connection's first frame was a `hello` with the agent's token; always
    /// true when the agent has no token (namespace runtime: only the daemon reaches the socket).
    var authenticated: Bool
    /// Bytes read before authentication: a hello is small, so a peer that sends more without
    /// one is cut off instead of buffered.
    var bytesBeforeHello = 0
    /// When it was accepted (monotonic ms): one that has not said hello within
    /// `Agent.helloDeadlineMs` is closed, so idle strangers cannot pile up descriptors in PID 1.
    let acceptedAtMs = monotonicMs()

    /// More queued descriptors than any request can use: the peer is not the daemon we know.
    static let maxQueuedFDs = AgentRequest.maxCheckpointMounts

    init(fd: Int32, authenticated: Bool) {
        self.fd = fd
        self.authenticated = authenticated
    }

    /// The first `count` queued descriptors (fewer if fewer arrived); the caller owns them.
    func takeFDs(_ count: Int) -> [Int32] {
        let taken = Array(receivedFDs.prefix(count))
        receivedFDs.removeFirst(taken.count)
        return taken
    }

    var pendingBytes: Int { outbox.count - outboxOffset }

    func send(_ frame: [UInt8]) {
        guard !closed else { return }
        outbox.append(contentsOf: frame)
        flush()
    }

    func flush() {
        while outboxOffset < outbox.count {
            let n = outbox[outboxOffset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 {
                outboxOffset += n
                continue
            }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { break }
            closed = true
            return
        }
        if outboxOffset == outbox.count {
            outbox.removeAll(keepingCapacity: true)
            outboxOffset = 0
        } else if outboxOffset > 1 << 20 {
            outbox.removeFirst(outboxOffset)
            outboxOffset = 0
        }
    }
}

final class Agent {
    static let listenFD: Int32 = 4
    let signalFD: Int32
    var connections: [Connection] = []
    var sessions: [pid_t: Session] = [:]
    let supervisor = Supervisor()
    var shutdownDeadline: Int64?
    /// The secret every connection must present first (gvisor mode), nil for none.
    let token: String?
    /// PID 1 of its sprite. Otherwise (gvisor mode started by hand or by a test) "every process"
    /// means only the agent's own sessions and services: kill(-1) would reach the whole host.
    let isInit = getpid() == 1

    /// Exited sessions are kept this long for a late attach or kill.
    static let exitedRetentionMs: Int64 = 5 * 60 * 1000

    /// Throws when the privileges cannot be set up: nothing may run unconfined, so the caller
    /// fails the boot.
    init(privileges: SpritePrivileges, token: String? = nil) throws(SysError) {
        try Sandbox.apply(privileges)
        self.token = token
        signal(SIGPIPE, SIG_IGN)
        signalFD = try check("signalfd") { hob_signalfd_init() }
        setNonBlocking(Agent.listenFD)
        setCloseOnExec(Agent.listenFD)
    }

    /// Serves forever. `ready` runs once, before the first request: how the agent tells whoever
    /// started it that it is up (the namespace boot's control socket; nothing in gvisor mode).
    func run(ready: () -> Void) -> Never {
        ready()
        while true {
            pollOnce()
            housekeeping()
        }
    }

    // MARK: - Event loop

    private enum Source {
        case signals
        case listener
        case connection(Connection)
        case output(Session, Int32, UInt8)
        case input(Session)
        case serviceOutput(Service, Int32, ServiceEvent.Kind)
    }

    private func pollOnce() {
        var fds: [pollfd] = []
        var sources: [Source] = []
        func watch(_ fd: Int32, _ events: Int32, _ source: Source) {
            fds.append(pollfd(fd: fd, events: Int16(events), revents: 0))
            sources.append(source)
        }
        watch(signalFD, POLLIN, .signals)
        if shutdownDeadline == nil { watch(Agent.listenFD, POLLIN, .listener) }
        for c in connections where !c.closed {
            watch(c.fd, POLLIN | (c.pendingBytes > 0 ? POLLOUT : 0), .connection(c))
        }
        for s in sessions.values where s.isRunning {
            if !s.outputPaused {
                for (fd, stream) in [(s.masterFD, UInt8(1)), (s.stdoutFD, 1), (s.stderrFD, 2)] where fd >= 0 {
                    watch(fd, POLLIN, .output(s, fd, stream))
                }
            }
            if !s.pendingInput.isEmpty && s.inputFD >= 0 { watch(s.inputFD, POLLOUT, .input(s)) }
        }
        for s in supervisor.services {
            for (fd, stream) in [(s.stdoutFD, ServiceEvent.Kind.stdout), (s.stderrFD, .stderr)] where fd >= 0 {
                watch(fd, POLLIN, .serviceOutput(s, fd, stream))
            }
        }

        let n = fds.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), nextTimeoutMs()) }
        guard n > 0 else { return }
        for (i, p) in fds.enumerated() where p.revents != 0 {
            switch sources[i] {
            case .signals: handleSignals()
            case .listener: acceptConnections()
            case .connection(let c): service(c, revents: Int32(p.revents))
            case .output(let s, let fd, let stream):
                if s.isRunning && !s.drain(fd, stream: stream, once: true) { closeOutput(s, fd) }
            case .input(let s): s.flushInput()
            case .serviceOutput(let s, let fd, let stream):
                if s.stdoutFD == fd || s.stderrFD == fd, !supervisor.drain(s, fd, stream: stream, once: true) {
                    supervisor.closeOutput(s, fd)
                }
            }
        }
        dropClosedConnections()
    }

    private func dropClosedConnections() {
        connections.removeAll { c in
            if c.closed { drop(c) }
            return c.closed
        }
    }

    private func closeOutput(_ s: Session, _ fd: Int32) {
        // EOF on one stream; the process may still run. For a PTY, EIO means every slave closed.
        close(fd)
        if s.masterFD == fd { s.masterFD = -1 }
        if s.stdoutFD == fd { s.stdoutFD = -1 }
        if s.stderrFD == fd { s.stderrFD = -1 }
    }

    /// Sleep until the next deadline, or forever: an idle sprite's PID 1 must cost no CPU.
    private func nextTimeoutMs() -> Int32 {
        var deadlines: [Int64] = sessions.values.filter { !$0.isRunning }.map { $0.exitedAtMonotonic + Agent.exitedRetentionMs }
        if let shutdownDeadline { deadlines.append(min(shutdownDeadline, monotonicMs() + 50)) }
        if let next = supervisor.nextDeadline() { deadlines.append(next) }
        for c in connections where !c.authenticated { deadlines.append(c.acceptedAtMs + Agent.helloDeadlineMs) }
        guard let next = deadlines.min() else { return -1 }
        return Int32(clamping: max(0, next - monotonicMs() + 1))
    }

    private func housekeeping() {
        supervisor.tick()
        let now = monotonicMs()
        for c in connections where !c.authenticated && now - c.acceptedAtMs >= Agent.helloDeadlineMs { c.closed = true }
        dropClosedConnections()
        for (pid, s) in sessions where !s.isRunning {
            // Kept (without output once delivered) so a late kill reports "gone" rather than "unknown".
            if s.clients.isEmpty && now - s.exitedAtMonotonic > Agent.exitedRetentionMs { sessions[pid] = nil }
        }
        if let deadline = shutdownDeadline {
            let anyLeft = isInit ? kill(-1, 0) == 0 : !ownProcessGroups.isEmpty
            if !anyLeft || now >= deadline {
                signalEverything(SIGKILL)
                exit(0)
            }
        }
    }

    // MARK: - Signals and reaping

    private func handleSignals() {
        while true {
            let sig = hob_signalfd_read(signalFD)
            if sig == 0 { break }
            if sig == SIGCHLD { reap() } else if sig == SIGTERM || sig == SIGINT { beginShutdown(graceMs: 5000) }
        }
    }

    private func reap() {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid <= 0 { break }
            if supervisor.reaped(pid, status: status) { continue }
            if let s = sessions[pid], s.isRunning { s.finish(status: status) }
        }
    }

    private func beginShutdown(graceMs: UInt32) {
        guard shutdownDeadline == nil else { return }
        shutdownDeadline = monotonicMs() + Int64(graceMs)
        supervisor.shuttingDown = true
        signalEverything(SIGTERM)
    }

    /// Signals every process of the sprite; see `isInit`.
    private func signalEverything(_ sig: Int32) {
        if isInit {
            kill(-1, sig)
        } else {
            for group in ownProcessGroups { kill(-group, sig) }
        }
    }

    /// The process groups of running sessions and services (each leads its own: new_session).
    private var ownProcessGroups: [pid_t] {
        sessions.values.filter(\.isRunning).map(\.pid) + supervisor.services.compactMap { $0.pid > 0 ? $0.pid : nil }
    }

    // MARK: - Connections

    private func acceptConnections() {
        while true {
            let fd = hob_accept(Agent.listenFD)
            if fd < 0 { break }
            connections.append(Connection(fd: fd, authenticated: token == nil))
        }
    }

    /// One read buffer for every connection: the loop is single-threaded and handles a read's
    /// bytes before the next read.
    private var readBuffer = [UInt8](repeating: 0, count: 65536)
    /// Room for the descriptors of one recvmsg (hob_recv_fds closes any beyond 8).
    private var fdBuffer = [Int32](repeating: -1, count: 8)

    private func service(_ c: Connection, revents: Int32) {
        if revents & POLLOUT != 0 { c.flush() }
        if revents & (POLLIN | POLLHUP | POLLERR) != 0 {
            // recvmsg rather than read: a request may carry descriptors (SCM_RIGHTS).
            var nfds: Int32 = 0
            let n = readBuffer.withUnsafeMutableBytes { raw in
                fdBuffer.withUnsafeMutableBufferPointer {
                    hob_recv_fds(c.fd, raw.baseAddress, raw.count, $0.baseAddress, Int32($0.count), &nfds)
                }
            }
            let readErrno = errno
            c.receivedFDs.append(contentsOf: fdBuffer[0..<Int(nfds)])
            if c.receivedFDs.count > Connection.maxQueuedFDs {
                c.send(AgentEvent.error(.invalid, "protocol error: more than \(Connection.maxQueuedFDs) descriptors queued").frame())
                c.closeAfterFlush = true
            } else if n > 0 {
                if !c.authenticated { c.bytesBeforeHello += n }
                c.decoder.append(readBuffer[0..<n])
                do {
                    while let frame = try c.decoder.next() {
                        let request = try AgentRequest(kind: frame.kind, payload: frame.payload)
                        if c.authenticated {
                            handle(request, on: c)
                            continue
                        }
                        authenticate(c, with: request)
                        if c.closed { break }
                    }
                    if !c.authenticated && c.bytesBeforeHello > Agent.maxBytesBeforeHello { c.closed = true }
                } catch {
                    // Before authentication nobody is told anything, not even what was wrong.
                    if c.authenticated { c.send(AgentEvent.error(.invalid, "protocol error: \(error)").frame()) }
                    c.closeAfterFlush = true
                    if !c.authenticated { c.closed = true }
                }
            } else if n == 0 || (readErrno != EAGAIN && readErrno != EINTR) {
                c.closed = true
            }
        }
        if c.closeAfterFlush && c.pendingBytes == 0 { c.closed = true }
    }

    /// More than a hello with the longest token takes, with room to spare.
    static let maxBytesBeforeHello = 4096
    /// How long a connection may stay open without its hello (the daemon sends it at once).
    static let helloDeadlineMs: Int64 = 5000

    /// The first frame of a connection when the agent has a token: the right `hello` makes it the
    /// daemon's; anything else closes it unanswered, before any request is looked at.
    private func authenticate(_ c: Connection, with request: AgentRequest) {
        guard let token, case .hello(let offered) = request, AgentToken.matches(offered, token) else {
            c.closed = true
            return
        }
        c.authenticated = true
        c.send(AgentEvent.ok.frame())
    }

    private func drop(_ c: Connection) {
        close(c.fd)
        for fd in c.takeFDs(c.receivedFDs.count) { close(fd) }
        supervisor.unfollow(c)
        guard let s = c.session else { return }
        s.clients.removeAll { $0 === c }
        // A pipe session without clients gets EOF on stdin; a terminal session waits for the next attach.
        if s.clients.isEmpty && s.isRunning && !s.tty { s.requestInputEOF() }
    }

    private func handle(_ request: AgentRequest, on c: Connection) {
        switch request {
        case .exec(let r):
            guard c.session == nil else { return c.send(AgentEvent.error(.invalid, "connection already has a session").frame()) }
            start(r, for: c)
        case .attach(let id):
            guard c.session == nil else { return c.send(AgentEvent.error(.invalid, "connection already has a session").frame()) }
            guard let s = sessions[pid_t(bitPattern: id)] else {
                c.send(AgentEvent.error(.notFound, "session \(id) not found").frame())
                c.closeAfterFlush = true
                return
            }
            c.session = s
            s.clients.append(c)
            c.send(AgentEvent.started(sessionID: s.id, tty: s.tty).frame())
            s.replay(to: c)
            if !s.isRunning { s.deliverExit() }
        case .stdin(let bytes): c.session?.writeInput(bytes)
        case .stdinEOF: c.session?.requestInputEOF()
        case .resize(let rows, let cols): c.session?.resize(rows: rows, cols: cols)
        case .signal(let sig): c.session?.signal(sig)
        case .listSessions:
            let list = sessions.values.sorted { $0.createdMs < $1.createdMs }.map(\.summary)
            c.send(AgentEvent.sessions(list).frame())
        case .kill(let id, let sig):
            guard let s = sessions[pid_t(bitPattern: id)] else {
                return c.send(AgentEvent.error(.notFound, "session \(id) not found").frame())
            }
            if s.isRunning {
                s.signal(sig)
                c.send(AgentEvent.ok.frame())
            } else {
                c.send(AgentEvent.gone.frame())
            }
        case .ping: c.send(AgentEvent.pong.frame())
        case .shutdown(let grace):
            c.send(AgentEvent.ok.frame())
            beginShutdown(graceMs: grace)
        case .mountCheckpoints(let names):
            // The descriptors came with this frame's bytes, so they are all queued by now.
            let fds = c.takeFDs(names.count)
            defer { for fd in fds { close(fd) } }
            do {
                try Checkpoints.mount(names, fds: fds)
                c.send(AgentEvent.ok.frame())
            } catch let error as Checkpoints.InvalidRequest {
                c.send(AgentEvent.error(.invalid, "mount checkpoints: \(error)").frame())
            } catch {
                c.send(AgentEvent.error(.failed, "mount checkpoints: \(error)").frame())
            }
        case .setServices(let specs):
            if let problem = specs.lazy.compactMap({ serviceNameProblem($0.name) }).first {
                return c.send(AgentEvent.error(.invalid, problem).frame())
            }
            supervisor.apply(specs)
            c.send(AgentEvent.ok.frame())
        case .followService(let name):
            guard c.session == nil, c.followedService == nil else {
                return c.send(AgentEvent.error(.invalid, "connection is already in use").frame())
            }
            supervisor.follow(name, c)
        case .listServices:
            c.send(AgentEvent.services(supervisor.services.filter { !$0.removed }.map(\.status)).frame())
        case .signalService(let name, let sig):
            c.send(supervisor.signal(name, sig).frame())
        case .hello:
            // Only ever the first frame; later, or to an agent without a token, it is a mistake.
            c.send(AgentEvent.error(.invalid, "unexpected hello").frame())
        case .setPrivileges(let privileges):
            do {
                try Sandbox.apply(privileges)
                c.send(AgentEvent.ok.frame())
            } catch {
                c.send(AgentEvent.error(.failed, "privileges: \(error)").frame())
            }
        }
    }

    // MARK: - Starting processes

    private func start(_ r: ExecRequest, for c: Connection) {
        guard !r.argv.isEmpty, !r.argv[0].isEmpty else {
            c.send(AgentEvent.error(.invalid, "empty command").frame())
            c.closeAfterFlush = true
            return
        }
        let dir = r.directory.isEmpty ? "/" : r.directory

        var master: Int32 = -1
        var childIn: Int32 = -1
        var childOut: Int32 = -1
        var childErr: Int32 = -1
        var ours: (stdin: Int32, stdout: Int32, stderr: Int32) = (-1, -1, -1)
        var toCloseInParent: [Int32] = []

        if r.tty {
            var slave: Int32 = -1
            var ws = winsize(ws_row: r.rows == 0 ? 24 : r.rows, ws_col: r.cols == 0 ? 80 : r.cols, ws_xpixel: 0, ws_ypixel: 0)
            guard openpty(&master, &slave, nil, nil, &ws) == 0 else {
                return startFailed(c, r, SpawnFailure(step: "openpty", errno: errno, notFound: false))
            }
            setCloseOnExec(master)
            setNonBlocking(master)
            childIn = slave
            childOut = slave
            childErr = slave
            toCloseInParent = [slave]
        } else {
            if r.stdin {
                var p: [Int32] = [-1, -1]
                guard hob_pipe2(&p, O_CLOEXEC) == 0 else {
                    return startFailed(c, r, SpawnFailure(step: "pipe", errno: errno, notFound: false))
                }
                childIn = p[0]
                ours.stdin = p[1]
                toCloseInParent.append(p[0])
            } else {
                childIn = open("/dev/null", O_RDONLY | O_CLOEXEC)
                toCloseInParent.append(childIn)
            }
            var o: [Int32] = [-1, -1]
            var e: [Int32] = [-1, -1]
            guard hob_pipe2(&o, O_CLOEXEC) == 0, hob_pipe2(&e, O_CLOEXEC) == 0 else {
                for fd in toCloseInParent + [ours.stdin, o[0], o[1]] where fd >= 0 { close(fd) }
                return startFailed(c, r, SpawnFailure(step: "pipe", errno: errno, notFound: false))
            }
            childOut = o[1]
            childErr = e[1]
            ours.stdout = o[0]
            ours.stderr = e[0]
            toCloseInParent += [o[1], e[1]]
        }

        let spawned = spawnProcess(
            argv: r.argv, environment: r.environment, directory: dir, stdin: childIn, stdout: childOut, stderr: childErr,
            controllingTTY: r.tty)
        for fd in toCloseInParent { close(fd) }
        let pid: pid_t
        switch spawned {
        case .success(let p): pid = p
        case .failure(let failure):
            for fd in [master, ours.stdin, ours.stdout, ours.stderr] where fd >= 0 { close(fd) }
            return startFailed(c, r, failure)
        }

        let s = Session(pid: pid, tty: r.tty, command: r.argv.joined(separator: " "), workdir: dir)
        s.masterFD = master
        s.stdinFD = ours.stdin
        s.stdoutFD = ours.stdout
        s.stderrFD = ours.stderr
        for fd in [ours.stdin, ours.stdout, ours.stderr] where fd >= 0 { setNonBlocking(fd) }
        sessions[pid] = s
        c.session = s
        s.clients.append(c)
        c.send(AgentEvent.started(sessionID: s.id, tty: s.tty).frame())
    }

    /// A command that cannot start behaves like a shell's: a message on stderr and 127 (not found)
    /// or 126 (found but not runnable).
    private func startFailed(_ c: Connection, _ r: ExecRequest, _ failure: SpawnFailure) {
        let message = failure.message + (r.tty ? "\r\n" : "\n")
        c.send(AgentEvent.started(sessionID: 0, tty: r.tty).frame())
        c.send(AgentEvent.stderr(Array(message.utf8)).frame())
        c.send(AgentEvent.exit(code: failure.notFound ? 127 : 126).frame())
        c.closeAfterFlush = true
    }
}
