// One exec session inside the sprite: a process, its I/O descriptors, the clients attached to it
// and a bounded replay buffer so that a client attaching later (or again) sees recent output.
import CHobShim
import Glibc
import HobAgentProtocol

final class Session {
    /// PID inside the sprite; also the session id the API exposes (as Sprites does).
    let pid: pid_t
    let tty: Bool
    let command: String
    let workdir: String
    let createdMs: Int64
    var lastActivityMs: Int64

    /// TTY: the PTY master, used for input and output. Otherwise separate pipes.
    var masterFD: Int32 = -1
    var stdinFD: Int32 = -1
    var stdoutFD: Int32 = -1
    var stderrFD: Int32 = -1

    var pendingInput: [UInt8] = []
    var inputEOFRequested = false

    var clients: [Connection] = []
    var exitCode: Int32?
    var exitedAtMonotonic: Int64 = 0

    private var replay: [(stream: UInt8, bytes: [UInt8])] = []
    private var replayBytes = 0
    static let replayLimit = 256 * 1024

    init(pid: pid_t, tty: Bool, command: String, workdir: String) {
        self.pid = pid
        self.tty = tty
        self.command = command
        self.workdir = workdir
        self.createdMs = nowMs()
        self.lastActivityMs = createdMs
    }

    var id: UInt32 { UInt32(pid) }
    var isRunning: Bool { exitCode == nil }

    var summary: SessionSummary {
        SessionSummary(
            id: id, command: command, workdir: workdir, tty: tty, createdMs: createdMs,
            lastActivityMs: lastActivityMs, isActive: !clients.isEmpty, exited: !isRunning)
    }

    /// Output arrived: remember it for replay and fan it out to every attached client.
    func emit(stream: UInt8, _ bytes: [UInt8]) {
        lastActivityMs = nowMs()
        replay.append((stream, bytes))
        replayBytes += bytes.count
        while replayBytes > Session.replayLimit, replay.count > 1 {
            replayBytes -= replay.removeFirst().bytes.count
        }
        let event: AgentEvent = stream == 2 ? .stderr(bytes) : .stdout(bytes)
        let frame = event.frame()
        for client in clients { client.send(frame) }
    }

    /// Sends the replay buffer to a newly attached client.
    func replay(to client: Connection) {
        for chunk in replay {
            client.send((chunk.stream == 2 ? AgentEvent.stderr(chunk.bytes) : .stdout(chunk.bytes)).frame())
        }
    }

    /// Output must wait while any client is far behind, so a slow reader slows the process
    /// instead of growing our memory without bound.
    var outputPaused: Bool { clients.contains { $0.pendingBytes > 1 << 20 } }

    /// Reads whatever one output descriptor has now. Returns false at EOF (or EIO on a PTY).
    func drain(_ fd: Int32, stream: UInt8, once: Bool) -> Bool {
        readAvailable(fd, once: once) { emit(stream: stream, $0) }
    }

    func writeInput(_ bytes: [UInt8]) {
        guard isRunning else { return }
        lastActivityMs = nowMs()
        pendingInput.append(contentsOf: bytes)
        flushInput()
    }

    var inputFD: Int32 { tty ? masterFD : stdinFD }

    func flushInput() {
        let fd = inputFD
        guard fd >= 0 else {
            pendingInput.removeAll()
            return
        }
        while !pendingInput.isEmpty {
            let n = pendingInput.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                pendingInput.removeFirst(n)
                continue
            }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            // The reader went away: drop input, as a closed pipe would.
            pendingInput.removeAll()
            break
        }
        if pendingInput.isEmpty && inputEOFRequested { closeInput() }
    }

    func requestInputEOF() {
        inputEOFRequested = true
        if pendingInput.isEmpty { closeInput() }
    }

    private func closeInput() {
        // A terminal has no end of input of its own (a user types ^D); only pipes close.
        if tty {
            inputEOFRequested = false
            return
        }
        if stdinFD >= 0 {
            close(stdinFD)
            stdinFD = -1
        }
    }

    func resize(rows: UInt16, cols: UInt16) {
        guard tty, masterFD >= 0 else { return }
        _ = hob_set_winsize(masterFD, rows, cols)
    }

    /// Signals the session's process group (it is a session leader), falling back to the process.
    func signal(_ sig: Int32) {
        guard isRunning else { return }
        if kill(-pid, sig) != 0 { kill(pid, sig) }
    }

    /// The process was reaped: collect what is left in the descriptors, then report the exit.
    func finish(status: Int32) {
        for (fd, stream) in [(masterFD, UInt8(1)), (stdoutFD, 1), (stderrFD, 2)] where fd >= 0 {
            _ = drain(fd, stream: stream, once: false)
        }
        closeDescriptors()
        exitCode = hob_init.exitCode(waitStatus: status).code
        exitedAtMonotonic = monotonicMs()
        lastActivityMs = nowMs()
        deliverExit()
    }

    func deliverExit() {
        guard let code = exitCode, !clients.isEmpty else { return }
        let frame = AgentEvent.exit(code: code).frame()
        for client in clients {
            client.send(frame)
            client.closeAfterFlush = true
        }
        // Delivered: the output is no longer needed, only the fact that the session ended.
        replay.removeAll()
        replayBytes = 0
    }

    func closeDescriptors() {
        for fd in [masterFD, stdinFD, stdoutFD, stderrFD] where fd >= 0 { close(fd) }
        masterFD = -1
        stdinFD = -1
        stdoutFD = -1
        stderrFD = -1
    }
}
