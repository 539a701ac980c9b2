// The status line of long commands: drawn only on a terminal, erased before the command's own output.

@testable import HobCLI
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite("Status line")
struct ProgressLineTests {
    /// Everything written to a pipe by `body`, with the pipe's write end.
    func captured(_ body: (Int32) async throws -> Void) async throws -> String {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw CommandError("pipe failed") }
        try await body(fds[1])
        close(fds[1])
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while case let n = buffer.withUnsafeMutableBytes({ read(fds[0], $0.baseAddress, $0.count) }), n > 0 { bytes += buffer[..<n] }
        close(fds[0])
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test("a slow step shows its time so far; the next output line erases it first")
    func slowStep() async throws {
        let text = try await captured { fd in
            let status = ProgressLine(enabled: true, fd: fd)
            let clock = StepClock()
            clock.started("Restoring checkpoint v1...")
            let ticker = Task { await clock.tick(status) }
            try await Task.sleep(for: .milliseconds(1400))
            clock.started("Starting sprite...")
            status.write(fd, Array("Starting sprite...\n".utf8))
            ticker.cancel()
            await ticker.value
        }
        #expect(text.hasPrefix("\r\u{1B}[2KRestoring checkpoint v1... 1s"), "\(text.debugDescription)")
        #expect(text.hasSuffix("\r\u{1B}[2KStarting sprite...\n"), "\(text.debugDescription)")
    }

    @Test("not on a terminal: only the command's output, nothing else")
    func disabled() async throws {
        let text = try await captured { fd in
            let status = ProgressLine(enabled: false, fd: fd)
            status.show("creating sprites: 1/3 created, 2 under way")
            status.write(fd, Array("w-1\n".utf8))
            status.clear()
        }
        #expect(text == "w-1\n")
    }
}
