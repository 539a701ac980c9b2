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
    private let shown = Mutex(false)

    init(enabled: Bool = StandardStream.isTerminal(STDERR_FILENO), fd: Int32 = STDERR_FILENO) {
        self.enabled = enabled
        self.fd = fd
    }

    /// Replaces the line with `text`, cut to the terminal's width.
    func show(_ text: String) {
        guard enabled else { return }
        let width = TerminalSize.current().cols
        let fitted = text.count > width - 1 ? String(text.prefix(max(0, width - 2))) + "…" : text
        shown.withLock { shown in
            StandardStream.write(fd, Array(("\r\u{1B}[2K" + fitted).utf8))
            shown = true
        }
    }

    /// Writes output of the command itself: the status line is erased first, under the same lock, so a
    /// redraw can never land in the middle of it (it comes back at the next `show`).
    func write(_ output: Int32, _ bytes: [UInt8]) {
        shown.withLock { shown in
            if shown { StandardStream.write(fd, Array("\r\u{1B}[2K".utf8)) }
            shown = false
            StandardStream.write(output, bytes)
        }
    }

    /// Erases the line, so that ordinary output starts on a clean line.
    func clear() {
        guard enabled else { return }
        shown.withLock { shown in
            if shown { StandardStream.write(fd, Array("\r\u{1B}[2K".utf8)) }
            shown = false
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
