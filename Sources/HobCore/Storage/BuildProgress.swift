// A long build's progress, for a person: on a terminal, one bar line redrawn in place with the
// percentage, an ETA and what is happening; anywhere else (journald, a file, CI), a log line at
// each phase and each tenth, since \r and escape codes would only be noise there.
import Foundation
import Glibc
import HobOS
import Logging
import Synchronization

final class BuildProgress: Sendable {
    let title: String
    let logger: Logger
    /// Whether stderr (where the log goes) is a terminal.
    let terminal: Bool
    private let started = ContinuousClock.now
    private let state = Mutex(State())

    private struct State {
        var fraction = 0.0
        var phase = ""
        var detail = ""
        var lastDraw: ContinuousClock.Instant?
        var loggedTenth = 0
        var barShown = false
    }

    init(title: String, logger: Logger, terminal: Bool = isatty(STDERR_FILENO) == 1) {
        self.title = title
        self.logger = logger
        self.terminal = terminal
    }

    /// The whole job's fraction done (never goes back), the phase, and optionally the item at hand.
    func update(_ fraction: Double, phase: String, detail: String? = nil) {
        let elapsed = ContinuousClock.now - started
        state.withLock { state in
            let phaseChanged = phase != state.phase
            state.fraction = max(state.fraction, min(1, fraction))
            state.phase = phase
            if let detail { state.detail = detail } else if phaseChanged { state.detail = "" }
            let eta = Self.eta(elapsed: elapsed, fraction: state.fraction)
            if terminal {
                // Ten redraws a second are plenty; a phase change shows at once.
                let now = ContinuousClock.now
                if !phaseChanged, let last = state.lastDraw, now - last < .milliseconds(100) { return }
                state.lastDraw = now
                state.barShown = true
                // The item at hand says more than the phase it belongs to (and fits in 80 columns).
                let label = state.detail.isEmpty ? state.phase : state.detail
                Self.writeStderr("\r\u{1B}[2K" + Self.bar(title: title, fraction: state.fraction, eta: eta, label: label, width: Self.terminalWidth()))
            } else {
                let tenth = Int(state.fraction * 10)
                guard phaseChanged || tenth > state.loggedTenth else { return }
                state.loggedTenth = max(state.loggedTenth, tenth)
                logger.info("\(title) \(Self.percent(state.fraction)): \(phase)\(eta.map { ", about \(Self.text($0)) left" } ?? "")")
            }
        }
    }

    /// What is happening right now (debootstrap's "Unpacking libc6..."): on the bar; in the log
    /// only at debug level, since there are hundreds.
    func detail(_ text: String) {
        guard terminal else {
            logger.debug("\(title): \(text)")
            return
        }
        let current = state.withLock { state in
            state.detail = text
            return (state.fraction, state.phase)
        }
        update(current.0, phase: current.1, detail: text)
    }

    /// A message that must not be lost in the bar (a warning, an error): printed on its own line.
    func note(_ message: String, level: Logger.Level) {
        state.withLock { state in
            if state.barShown { Self.writeStderr("\r\u{1B}[2K") }
            state.lastDraw = nil
        }
        logger.log(level: level, "\(title): \(message)")
    }

    /// Ends the bar line, so the next log line starts on a line of its own.
    /// Ends the bar: full and "done" after a success; after a failure only erased, so the error
    /// that follows is not preceded by a bar claiming it finished.
    func finish(succeeded: Bool = true) {
        state.withLock { state in
            guard terminal, state.barShown else { return }
            let elapsed = ContinuousClock.now - started
            let last = succeeded ? Self.bar(title: title, fraction: 1, eta: nil, label: "done in \(Self.text(elapsed))", width: Self.terminalWidth()) + "\n" : ""
            Self.writeStderr("\r\u{1B}[2K" + last)
            state.barShown = false
        }
    }

    /// Time left at the pace so far; nil until there is enough to tell (3 s and 2 %).
    static func eta(elapsed: Duration, fraction: Double) -> Duration? {
        guard fraction >= 0.02, fraction < 1, elapsed >= .seconds(3) else { return nil }
        let seconds = Double(elapsed.components.seconds) * (1 - fraction) / fraction
        return .seconds(Int(seconds.rounded(.up)))
    }

    /// `base image  42% [########............] ETA 1m20s  unpacking…`, cut to `width` columns.
    static func bar(title: String, fraction: Double, eta: Duration?, label: String, width: Int) -> String {
        let cells = 24
        let filled = Int((fraction * Double(cells)).rounded(.down))
        let bar = "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: cells - filled) + "]"
        let percent = percent(fraction)
        let paddedPercent = String(repeating: " ", count: max(0, 4 - percent.count)) + percent
        var line = "\(title) \(paddedPercent) \(bar)"
        if let eta { line += " ETA \(text(eta))" }
        if !label.isEmpty { line += "  \(label)" }
        return line.count > width - 1 ? String(line.prefix(max(0, width - 2))) + "…" : line
    }

    static func percent(_ fraction: Double) -> String { "\(Int((fraction * 100).rounded(.down)))%" }

    /// 45s, 3m05s, 1h02m.
    static func text(_ duration: Duration) -> String {
        let seconds = Int(duration.components.seconds)
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3600 { return "\(seconds / 60)m" + String(format: "%02ds", seconds % 60) }
        return "\(seconds / 3600)h" + String(format: "%02dm", seconds / 60 % 60)
    }

    static func terminalWidth() -> Int {
        var size = winsize()
        guard ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 20 else { return 80 }
        return Int(size.ws_col)
    }

    private static func writeStderr(_ text: String) { FileDescriptors.writeAll(STDERR_FILENO, Array(text.utf8)) }
}
