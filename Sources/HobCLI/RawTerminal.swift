// Raw mode for interactive sessions and the local window size. Raw mode passes every key (Ctrl-C included, as
// byte 0x03) to the sprite. The saved attributes are restored by `restore()`, by deinit, and by the signal
// handlers that `TerminalSession` installs, so the user's shell is never left in raw mode.

import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public final class RawTerminal: Sendable {
    public let fd: Int32
    private let original: termios
    private let isRaw = Mutex(true)

    /// Puts `fd` into raw mode; nil when it is not a terminal (CI, pipes) or its attributes cannot be changed.
    public init?(fd: Int32 = STDIN_FILENO) {
        guard isatty(fd) == 1 else { return nil }
        var attributes = termios()
        guard tcgetattr(fd, &attributes) == 0 else { return nil }
        var raw = attributes
        cfmakeraw(&raw)
        guard tcsetattr(fd, TCSANOW, &raw) == 0 else { return nil }
        self.fd = fd
        self.original = attributes
    }

    /// Restores the saved attributes; later calls do nothing.
    public func restore() {
        guard isRaw.withLock({ wasRaw in defer { wasRaw = false }; return wasRaw }) else { return }
        var attributes = original
        _ = tcsetattr(fd, TCSANOW, &attributes)
    }

    deinit {
        restore()
    }
}

public struct TerminalSize: Sendable, Equatable {
    public var rows: Int
    public var cols: Int

    public init(rows: Int, cols: Int) {
        self.rows = rows
        self.cols = cols
    }

    public static let fallback = TerminalSize(rows: 24, cols: 80)

    /// The window size of the first of stdout, stdin, stderr that is a terminal (TIOCGWINSZ), else 24×80.
    public static func current() -> TerminalSize {
        for fd in [STDOUT_FILENO, STDIN_FILENO, STDERR_FILENO] {
            var size = winsize()
            if ioctl(fd, UInt(TIOCGWINSZ), &size) == 0, size.ws_row > 0, size.ws_col > 0 {
                return TerminalSize(rows: Int(size.ws_row), cols: Int(size.ws_col))
            }
        }
        return fallback
    }
}
