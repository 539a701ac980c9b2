// Signal handling for the CLI. Dispatch signal sources are not used: on Linux a DispatchSourceSignal only sees a
// signal that every thread blocks (it reads a signalfd), and with SIG_IGN the kernel discards the signal first —
// both were tried. Instead a plain handler writes the signal number to a self-pipe, and one dispatch thread reads
// the pipe and runs the Swift handlers, outside signal context.

import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs `handler` for each listed signal until cancelled; the previous disposition then comes back (SIG_DFL).
final class SignalTrap: Sendable {
    private let signals: [Int32]

    init(_ signals: [Int32], handler: @escaping @Sendable (Int32) -> Void) {
        self.signals = signals
        SignalPipe.shared.register(signals, handler)
    }

    func cancel() {
        SignalPipe.shared.unregister(signals)
    }

    deinit {
        cancel()
    }
}

/// The write end of the self-pipe, read by the C-convention handler. Set once before any handler is installed.
nonisolated(unsafe) private var signalPipeWriteFD: Int32 = -1

private func forwardSignal(_ signal: Int32) {
    let saved = errno
    var byte = UInt8(truncatingIfNeeded: signal)
    _ = write(signalPipeWriteFD, &byte, 1)
    errno = saved
}

private final class SignalPipe: Sendable {
    static let shared = SignalPipe()

    private let handlers = Mutex<[Int32: @Sendable (Int32) -> Void]>([:])
    private let readFD: Int32

    private init() {
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) == 0 {
            for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            // Never block in signal context: a full pipe just drops the extra signal.
            _ = fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK)
        }
        readFD = fds[0]
        signalPipeWriteFD = fds[1]
        DispatchQueue(label: "hob.signals").async { self.dispatchSignals() }
    }

    /// Runs forever on its own queue: one byte per delivered signal.
    private func dispatchSignals() {
        guard readFD >= 0 else { return }
        var byte: UInt8 = 0
        while true {
            let n = read(readFD, &byte, 1)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            let signal = Int32(byte)
            if let handler = handlers.withLock({ $0[signal] }) { handler(signal) }
        }
    }

    func register(_ signals: [Int32], _ handler: @escaping @Sendable (Int32) -> Void) {
        handlers.withLock { table in
            for signal in signals { table[signal] = handler }
        }
        for sig in signals { _ = signal(sig, forwardSignal) }
    }

    func unregister(_ signals: [Int32]) {
        for sig in signals { _ = signal(sig, SIG_DFL) }
        handlers.withLock { table in
            for signal in signals { table[signal] = nil }
        }
    }
}
