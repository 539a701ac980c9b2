// One status line redrawn in place on stderr while something long runs (creating N sprites, a
// checkpoint or restore stream): "creating 3/10 …", "Restoring checkpoint v1... 4s". Only on a
// terminal; elsewhere the command's plain output lines are the progress and this stays silent.

import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

final class ProgressLine: Sendable {
    let enabled: Bool
    /// Where the line is drawn: stderr, except in tests.
    let fd: Int32
    private let state = Mutex(State())

    private struct State {
        var shown = false
        /// After `finish()`: a redraw that was already on its way draws nothing.
        var closed = false
    }

    init(enabled: Bool = StandardStream.isTerminal(STDERR_FILENO), fd: Int32 = STDERR_FILENO) {
        self.enabled = enabled
        self.fd = fd
    }

    /// Replaces the line with `text`, cut to the terminal's width.
    func show(_ text: String) {
        guard enabled else { return }
        let width = TerminalSize.current().cols
        let fitted = text.count > width - 1 ? String(text.prefix(max(0, width - 2))) + "…" : text
        state.withLock { state in
            guard !state.closed else { return }
            StandardStream.write(fd, Array(("\r\u{1B}[2K" + fitted).utf8))
            state.shown = true
        }
    }

    /// Writes output of the command itself: the status line is erased first, under the same lock, so a
    /// redraw can never land in the middle of it (it comes back at the next `show`).
    func write(_ output: Int32, _ bytes: [UInt8]) {
        state.withLock { state in
            if state.shown { StandardStream.write(fd, Array("\r\u{1B}[2K".utf8)) }
            state.shown = false
            StandardStream.write(output, bytes)
        }
    }

    /// Erases the line, so that ordinary output starts on a clean line (the next `show` draws it again).
    func clear() { erase(closing: false) }

    /// Erases the line for good: a redraw still on its way (a ticker's) draws nothing after it.
    func finish() { erase(closing: true) }

    private func erase(closing: Bool) {
        guard enabled else { return }
        state.withLock { state in
            if state.shown { StandardStream.write(fd, Array("\r\u{1B}[2K".utf8)) }
            state.shown = false
            if closing { state.closed = true }
        }
    }

    /// Seconds as people read them: 4s, 2m05s.
    static func elapsed(_ duration: Duration) -> String {
        let seconds = Int(duration.components.seconds)
        if seconds < 60 { return "\(seconds)s" }
        let rest = seconds % 60
        return "\(seconds / 60)m\(rest < 10 ? "0" : "")\(rest)s"
    }
}
