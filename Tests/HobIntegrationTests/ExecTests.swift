// `hob exec` as a user sees it: streams, exit status, stdin, environment, directory, terminal.
// One test drives the exec WebSocket directly, to repeat a start failure quickly.
import Foundation
import Testing

extension HobIntegration {
    @Suite("Exec", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct ExecTests {
        @Test("stdout and stderr arrive on their own streams")
        func streamsStaySeparate() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let result = try await daemon.cli("exec", name, "--", "sh", "-c", "echo to-stdout; echo to-stderr >&2")
                #expect(result.succeeded, "\(result)")
                #expect(result.stdout == "to-stdout\n", "\(result)")
                #expect(result.stderr.contains("to-stderr"), "\(result)")
                #expect(!result.stderr.contains("to-stdout"), "\(result)")
            }
        }

        @Test("hob exits with the command's exit status")
        func exitStatusPropagates() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let result = try await daemon.cli("exec", name, "--", "sh", "-c", "exit 7")
                #expect(result.status == 7, "\(result)")
            }
        }

        @Test("piped stdin reaches the command, all of it")
        func stdinIsPiped() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let input = Data((0..<100_000).map { UInt8(truncatingIfNeeded: $0 % 251) })
                let result = try await daemon.cli("exec", name, "--", "wc", "-c", stdin: input)
                #expect(result.succeeded, "\(result)")
                #expect(result.stdout.trimmed == "100000", "\(result)")
            }
        }

        @Test("--env sets environment variables")
        func environment() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let result = try await daemon.cli("exec", name, "--env", "GREETING=hello world", "--", "sh", "-c", "echo \"$GREETING\"")
                #expect(result.succeeded, "\(result)")
                #expect(result.stdout == "hello world\n", "\(result)")
            }
        }

        @Test("--dir sets the working directory")
        func workingDirectory() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let result = try await daemon.cli("exec", name, "--dir", "/usr/share", "--", "pwd")
                #expect(result.succeeded, "\(result)")
                #expect(result.stdout == "/usr/share\n", "\(result)")
            }
        }

        @Test("-t gives the command a terminal")
        func terminal() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let result = try await daemon.cli("exec", name, "-t", "--", "tty")
                #expect(result.succeeded, "\(result)")
                #expect(result.stdout.trimmed.hasPrefix("/dev/pts/"), "\(result)")
            }
        }

        @Test("a command that does not exist exits 127")
        func commandNotFound() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let command = "no-such-command-\(TestEnvironment.randomName(4))"
                let result = try await daemon.cli("exec", name, "--", command)
                #expect(result.status == 127, "\(result)")
                #expect(result.stderr.contains(command), "the error names the command: \(result)")
            }
        }

        @Test("a command that cannot start reports 127 and closes normally, however soon stdin ends")
        func commandNotFoundWhateverTheStdinTiming() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                // The stdin-EOF frame (what `hob exec </dev/null` sends) arrives 0–3 ms after the upgrade,
                // sweeping the moment the agent reports the failed start and closes its connection.
                var wrong: [(Duration, ExecResult)] = []
                for step in 0..<240 {
                    let delay = Duration.microseconds((step % 120) * 25)
                    let result = try await daemon.exec(
                        name, ["no-such-command"], stdin: Data(), stdinDelay: delay, timeout: .seconds(5))
                    if result.exitCode != 127 || result.closeCode != 1000 { wrong.append((delay, result)) }
                }
                let first = wrong.first.map { "stdin EOF after \($0.0): \($0.1)" } ?? ""
                #expect(wrong.isEmpty, "\(wrong.count) of 240 runs did not end with exit 127 and a 1000 close; the first, \(first)")
            }
        }
    }
}
