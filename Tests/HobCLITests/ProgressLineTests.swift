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

    @Test("the status line is erased before the command's next output line")
    func erasedBeforeOutput() async throws {
        let text = try await captured { fd in
            let status = ProgressLine(enabled: true, fd: fd)
            status.show("Restoring checkpoint v1... 3s")
            status.write(fd, Array("Starting sprite...\n".utf8))
            status.clear()
        }
        #expect(text == "\r\u{1B}[2KRestoring checkpoint v1... 3s\r\u{1B}[2KStarting sprite...\n", "\(text.debugDescription)")
    }

    @Test("after finish, a late redraw (a ticker already past its sleep) draws nothing; clear lets the next show draw")
    func finishIsFinal() async throws {
        let text = try await captured { fd in
            let status = ProgressLine(enabled: true, fd: fd)
            status.show("a")
            status.clear()
            status.show("b")
            status.finish()
            status.show("late")
        }
        #expect(text == "\r\u{1B}[2Ka\r\u{1B}[2K\r\u{1B}[2Kb\r\u{1B}[2K", "\(text.debugDescription)")
    }

    @Test("a step shows its time so far once it has taken over a second")
    func slowStep() {
        let clock = StepClock()
        #expect(clock.statusText(at: .now + .seconds(5)) == nil)
        clock.started("Restoring checkpoint v1...")
        #expect(clock.statusText(at: .now) == nil)
        #expect(clock.statusText(at: .now + .seconds(3)) == "Restoring checkpoint v1... 3s")
        clock.started("")
        #expect(clock.statusText(at: .now + .seconds(3)) == nil)
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
