// Issue 12: `hob exec` lost the exit status of short commands on a busy host (the server's whole answer and the end
// of the stream arrived in one read, and the client dropped what followed the 101). This suite runs many short
// execs through the CLI binary while every core is kept busy, and counts: not one may end without its status.
import Foundation
import Testing

extension HobIntegration {
    @Suite("Exec under load", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct ExecUnderLoadTests {
        /// A command and the status `hob exec` must exit with.
        struct Case: Sendable {
            let argv: [String]
            let status: Int32
        }

        static let cases = [
            Case(argv: ["true"], status: 0),
            Case(argv: ["false"], status: 1),
            Case(argv: ["sh", "-c", "exit 7"], status: 7),
        ]

        @Test("1,000 short CLI execs with every core busy each end with their own exit status")
        func thousandExecsUnderLoad() async throws {
            let daemon = try DaemonFixture.shared()
            let runs = 1000
            let parallelism = 4
            let busy = try BusyCores.start()
            defer { busy.stop() }
            try await daemon.withSprite { name in
                let warm = try await SpawnedCLI.run(daemon, ["exec", name, "--", "true"])
                try #require(warm.succeeded, "\(warm)")

                var wrong: [String] = []
                var lost = 0
                try await withThrowingTaskGroup(of: (Int, CommandResult).self) { group in
                    var next = 0
                    func launch() {
                        let index = next
                        next += 1
                        let argv = Self.cases[index % Self.cases.count].argv
                        group.addTask { (index, try await SpawnedCLI.run(daemon, ["exec", name, "--"] + argv)) }
                    }
                    while next < min(parallelism, runs) { launch() }
                    while let (index, result) = try await group.next() {
                        let expected = Self.cases[index % Self.cases.count]
                        if result.status != expected.status {
                            if result.stderr.contains("without an exit status") { lost += 1 }
                            wrong.append("#\(index) \(expected.argv) expected \(expected.status): \(result)")
                        }
                        if next < runs { launch() }
                    }
                }
                #expect(busy.stillBusy, "the load processes ended before the execs did")
                #expect(lost == 0, "\(lost) of \(runs) execs ended without an exit status")
                #expect(wrong.isEmpty, "\(wrong.count) of \(runs) execs exited with the wrong status:\n\(wrong.prefix(5).joined(separator: "\n"))")
            }
        }
    }
}

/// One busy-looping shell per core (at least two), as the host load under which statuses were lost. Each loop
/// also ends by itself once the test process is gone, so a crashed run leaves no load behind.
struct BusyCores: Sendable {
    let loops: [ChildProcess]

    static func start() throws -> BusyCores {
        let count = max(2, ProcessInfo.processInfo.activeProcessorCount)
        let loop = "while kill -0 \(getpid()) 2>/dev/null; do :; done"
        return BusyCores(loops: try (0..<count).map { _ in try ChildProcess("/bin/sh", ["-c", loop]) })
    }

    var stillBusy: Bool { loops.allSatisfy(\.isRunning) }

    func stop() {
        for loop in loops { loop.signal(SIGKILL) }
    }
}

/// `hob` run with posix_spawn and waitpid, output to files. Foundation's Process leaks descriptors on Linux: after
/// about a thousand runs the test process passed FD_SETSIZE and crashed in select(2).
enum SpawnedCLI {
    static func run(_ daemon: DaemonFixture, _ arguments: [String]) async throws -> CommandResult {
        var environment = ProcessInfo.processInfo.environment
        environment["HOB_API_URL"] = daemon.baseURL
        environment["HOB_TOKEN"] = daemon.token
        environment["XDG_CONFIG_HOME"] = daemon.root.path + "/config"
        environment["HOB_STATE_DIR"] = nil
        environment["HOB_LISTEN"] = nil
        let binary = daemon.binary
        let env = environment.map { "\($0.key)=\($0.value)" }
        return try await offPool {
            let scratch = try TemporaryDirectory(prefix: "hob-it-spawn-")
            defer { scratch.remove() }
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 1, scratch.path + "/stdout", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            posix_spawn_file_actions_addopen(&actions, 2, scratch.path + "/stderr", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            let argv = ([binary] + arguments).map { strdup($0) } + [nil]
            let envp = env.map { strdup($0) } + [nil]
            defer { for p in argv + envp { free(p) } }
            var pid: pid_t = 0
            let rc = posix_spawn(&pid, binary, &actions, nil, argv, envp)
            guard rc == 0 else { throw TestFailure("posix_spawn \(binary): error \(rc)") }
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            // WIFEXITED / WEXITSTATUS by hand (the macros are not imported): low 7 bits are the signal, 0 if exited.
            let signal = status & 0x7F
            let code = signal == 0 ? (status >> 8) & 0xFF : 128 + signal
            let out = (try? Data(contentsOf: URL(fileURLWithPath: scratch.path + "/stdout"))) ?? Data()
            let err = (try? Data(contentsOf: URL(fileURLWithPath: scratch.path + "/stderr"))) ?? Data()
            return CommandResult(command: (["hob"] + arguments).joined(separator: " "), status: code, stdoutData: out, stderrData: err)
        }
    }
}
