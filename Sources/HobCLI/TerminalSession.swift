// The local end of an exec, console or attach session: copies output to fds 1 and 2 as it arrives, feeds stdin
// to the sprite, and, in TTY mode with a terminal, runs the terminal raw, follows window resizes and detaches on
// Ctrl+\. Whatever happens (exit, detach, dropped connection, SIGINT/SIGTERM/SIGHUP) the terminal is restored.

import HobAPI
import HobClient
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What to do with local stdin when the session is not a TTY. (In TTY mode stdin is always forwarded raw.)
enum StdinPolicy: Sendable {
    /// Forward it and send EOF at its end (stdin is a pipe or file).
    case stream
    /// Send EOF right away (stdin is a terminal and the command was not started with a TTY).
    case closeImmediately
    /// Leave the remote stdin alone (attaching to a running non-TTY session).
    case leaveAlone
}

enum SessionOutcome: Equatable {
    case exited(Int)
    case detached(sessionID: String?)
    /// The connection ended without an exit status; the close code and reason if the server sent them.
    case lost(closeCode: Int?, reason: String?)
    /// Local stdout went away (EPIPE), as with `hob exec … | head`.
    case outputClosed
}

struct TerminalSession {
    /// Ctrl+\ detaches from a TTY session and leaves it running (as in the Sprites CLI).
    static let detachKey: UInt8 = 0x1c

    var sprite: String
    /// Known up front for exec and console; nil for attach, where `session_info` tells.
    var tty: Bool?
    var nonTTYStdin: StdinPolicy
    /// Send the local window size once the session starts (attach: the PTY may have another size).
    var resizeOnStart = false
    /// Non-TTY: Ctrl-C signals the remote command (exec). When false it detaches instead (attach), leaving the
    /// session running.
    var forwardInterrupts = true

    func run(_ connection: ExecConnection) async -> SessionOutcome {
        let flags = SessionFlags()
        var local: LocalEnd?
        defer { local?.stop() }
        if let tty { local = LocalEnd.start(tty: tty, session: self, connection: connection, flags: flags) }

        var exitCode: Int?
        var closeCode: Int?
        var outputClosed = false
        for await event in connection.events {
            switch event {
            case .sessionInfo(let info):
                if local == nil {
                    local = LocalEnd.start(tty: info.tty, session: self, connection: connection, flags: flags)
                }
            case .stdout(let bytes):
                if !outputClosed && !StandardStream.write(STDOUT_FILENO, bytes) {
                    outputClosed = true
                    Task { await connection.close() }
                }
            case .stderr(let bytes):
                StandardStream.write(STDERR_FILENO, bytes)
            case .exit(let code):
                exitCode = code
                // The server closes right after the exit frames; don't wait on one that doesn't.
                Task {
                    try? await Task.sleep(for: .seconds(2))
                    await connection.close()
                }
            case .closed(let code):
                closeCode = code
            }
        }
        if let exitCode { return .exited(exitCode) }
        if flags.detached { return .detached(sessionID: connection.sessionInfo?.sessionID) }
        if outputClosed { return .outputClosed }
        return .lost(closeCode: closeCode, reason: connection.closeReason)
    }
}

/// Turns a session's outcome into the process's: the remote exit status, or a message and 255.
enum SessionExit {
    /// `tty`: the session ran in a terminal, so messages start on a fresh line.
    static func status(for outcome: SessionOutcome, sprite: String, tty: Bool) -> Int32 {
        let newline = tty ? "\n" : ""
        switch outcome {
        case .exited(let code):
            return (0...255).contains(code) ? Int32(code) : 255
        case .detached(let id):
            let session = id ?? "ID"
            StandardStream.printError(
                "\(newline)Detached from session \(session) on \(sprite); it is still running.\n"
                    + "Reattach with: hob sessions attach \(sprite) \(session)")
            return 0
        case .lost(let code, let reason):
            let detail = code.map { " (close code \($0))" } ?? ""
            if let reason, code != 1000 {
                StandardStream.printError("\(newline)hob: \(reason)\(detail)")
            } else {
                StandardStream.printError(
                    "\(newline)hob: the connection to sprite \(sprite) closed without an exit status\(detail)")
            }
            return 255
        case .outputClosed:
            return 128 + SIGPIPE
        }
    }
}

final class SessionFlags: Sendable {
    private struct State {
        var detached = false
        var interrupts = 0
    }

    private let state = Mutex(State())

    var detached: Bool { state.withLock { $0.detached } }
    func markDetached() { state.withLock { $0.detached = true } }

    /// Counts forwarded interrupts; returns the new count.
    func interrupted() -> Int { state.withLock { s in s.interrupts += 1; return s.interrupts } }
}

/// The local side once the TTY mode is known: raw mode, signal traps and the stdin pump.
final class LocalEnd {
    private let terminal: RawTerminal?
    private var traps: [SignalTrap]

    private init(terminal: RawTerminal?, traps: [SignalTrap]) {
        self.terminal = terminal
        self.traps = traps
    }

    static func start(tty: Bool, session: TerminalSession, connection: ExecConnection, flags: SessionFlags)
        -> LocalEnd
    {
        let stdinIsTerminal = StandardStream.isTerminal(STDIN_FILENO)
        if tty {
            guard stdinIsTerminal else {
                if case .stream = session.nonTTYStdin {
                    Task { await pumpStdin(connection, tty: true, detachKey: nil, flags: flags) }
                }
                return LocalEnd(terminal: nil, traps: [])
            }
            let terminal = RawTerminal(fd: STDIN_FILENO)
            // In raw mode the keyboard sends no signals; these come from outside (kill, a closed terminal).
            let terminate = SignalTrap([SIGINT, SIGTERM, SIGHUP, SIGQUIT]) { signal in
                terminal?.restore()
                exit(128 + signal)
            }
            let resize = SignalTrap([SIGWINCH]) { _ in
                let size = TerminalSize.current()
                Task { try? await connection.resize(rows: size.rows, cols: size.cols) }
            }
            if session.resizeOnStart {
                let size = TerminalSize.current()
                Task { try? await connection.resize(rows: size.rows, cols: size.cols) }
            }
            Task { await pumpStdin(connection, tty: true, detachKey: TerminalSession.detachKey, flags: flags) }
            return LocalEnd(terminal: terminal, traps: [terminate, resize])
        }

        switch session.nonTTYStdin {
        case .stream: Task { await pumpStdin(connection, tty: false, detachKey: nil, flags: flags) }
        case .closeImmediately: Task { try? await connection.sendEOF() }
        case .leaveAlone: break
        }
        // Ctrl-C is forwarded to the remote command once (or detaches an attach); a second one gives up locally.
        let forwardInterrupts = session.forwardInterrupts
        let interrupt = SignalTrap([SIGINT, SIGTERM, SIGHUP]) { signal in
            guard flags.interrupted() == 1 else { exit(128 + signal) }
            guard forwardInterrupts else {
                flags.markDetached()
                Task { await connection.close() }
                return
            }
            let name = signal == SIGINT ? "INT" : signal == SIGTERM ? "TERM" : "HUP"
            Task { try? await connection.signal(name) }
        }
        return LocalEnd(terminal: nil, traps: [interrupt])
    }

    /// Restores the terminal and the default signal dispositions. Safe to call twice.
    func stop() {
        terminal?.restore()
        for trap in traps { trap.cancel() }
        traps = []
    }

    private static func pumpStdin(_ connection: ExecConnection, tty: Bool, detachKey: UInt8?, flags: SessionFlags)
        async
    {
        while true {
            switch await StandardStream.read(STDIN_FILENO) {
            case .data(let bytes):
                if let detachKey, let index = bytes.firstIndex(of: detachKey) {
                    try? await connection.sendStdin(Array(bytes[..<index]))
                    flags.markDetached()
                    await connection.close()
                    return
                }
                do { try await connection.sendStdin(bytes) } catch { return }
            case .endOfFile, .failed:
                if !tty { try? await connection.sendEOF() }
                return
            }
        }
    }
}
