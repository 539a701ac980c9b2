// `hob-init gvisor` as the daemon meets it: the real built binary, started as an ordinary host
// process listening on TCP at 127.0.0.1, reached through `AgentEndpoint(host:port:token:)`.
// Runs as root (the agent confines what it starts) and skips without a built hob-init.
import Foundation
import Glibc
import HobAgentProtocol
import HobCore
import Testing

/// A `hob-init gvisor` process with a fresh port and token; `stop()` kills it.
final class GVisorAgentProcess: @unchecked Sendable {
    static var binary: String {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return ProcessInfo.processInfo.environment["HOB_INIT_BIN"] ?? url.appendingPathComponent(".build/debug/hob-init").path
    }

    static var canRun: Bool { geteuid() == 0 && FileManager.default.isExecutableFile(atPath: binary) }

    let process = Process()
    let directory: String
    let port: Int
    let token = AgentToken.random()

    var pid: pid_t { process.processIdentifier }
    var endpoint: AgentEndpoint { AgentEndpoint(host: "127.0.0.1", port: port, token: token) }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("gvagent-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        port = try Self.freePort()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["gvisor"]
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.environment = [
            "PATH": "/usr/bin:/bin", "HOB_AGENT_LISTEN": "tcp:127.0.0.1:\(port)", "HOB_AGENT_TOKEN": token,
        ]
        _ = FileManager.default.createFile(atPath: directory + "/stderr", contents: nil)
        process.standardError = FileHandle(forWritingAtPath: directory + "/stderr")
        try process.run()
    }

    /// Its stderr so far (why it exited, if it did).
    var stderr: String { (try? String(contentsOfFile: directory + "/stderr", encoding: .utf8)) ?? "" }

    /// Waits until the agent answers a ping.
    func waitUntilReady() async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if process.isRunning, (try? await endpoint.request(.ping, timeout: .seconds(1))) == .pong { return }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw POSIXError(.ETIMEDOUT, userInfo: [NSLocalizedDescriptionKey: "hob-init gvisor did not answer: \(stderr)"])
    }

    /// SIGKILL, never SIGTERM: the agent's shutdown would signal its own processes only, but a
    /// test need not rely on that.
    func stop() {
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// user + system CPU time of the agent, in clock ticks (/proc/<pid>/stat fields 14 and 15).
    func cpuTicks() throws -> Int {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        // The command may contain spaces; fields count from after its closing parenthesis.
        guard let close = stat.lastIndex(of: ")") else { throw POSIXError(.EINVAL) }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Int(fields[11]), let system = Int(fields[12]) else { throw POSIXError(.EINVAL) }
        return user + system
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard ok else { throw POSIXError(.EADDRNOTAVAIL) }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}

/// What one exec session produced.
struct ExecOutcome {
    var stdout = ""
    var code: Int32?
}

func execute(_ argv: [String], on endpoint: AgentEndpoint) async throws -> ExecOutcome {
    try await endpoint.withConnection { events, writer in
        try await writer.send(.exec(ExecRequest(argv: argv, environment: ["PATH=/usr/bin:/bin"], stdin: false)))
        var outcome = ExecOutcome()
        var bytes: [UInt8] = []
        for try await event in events {
            switch event {
            case .stdout(let data): bytes += data
            case .exit(let code):
                outcome.code = code
                outcome.stdout = String(decoding: bytes, as: UTF8.self)
                return outcome
            default: continue
            }
        }
        return outcome
    }
}

/// Opens a plain TCP connection, sends `bytes`, and reports whether the peer closed it (EOF or
/// reset) within `seconds` without sending anything.
func closedUnanswered(port: Int, after bytes: [UInt8], within seconds: Int = 2) throws -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = UInt16(port).bigEndian
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
    var timeout = timeval(tv_sec: seconds, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    var buffer = [UInt8](repeating: 0, count: 64)
    let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
    return n == 0 || (n < 0 && errno == ECONNRESET)
}

@Suite("hob-init gvisor mode", .serialized, .enabled(if: GVisorAgentProcess.canRun, "needs root and a built hob-init"))
struct GVisorAgentTests {
    @Test("the agent answers a ping over TCP once the token is presented")
    func ping() async throws {
        let agent = try GVisorAgentProcess()
        defer { agent.stop() }
        try await agent.waitUntilReady()
        #expect(try await agent.endpoint.request(.ping) == .pong)
    }

    @Test("an exec runs the command and reports its output and exit status")
    func exec() async throws {
        let agent = try GVisorAgentProcess()
        defer { agent.stop() }
        try await agent.waitUntilReady()
        let outcome = try await execute(["/bin/echo", "hi"], on: agent.endpoint)
        #expect(outcome.stdout == "hi\n")
        #expect(outcome.code == 0)
    }

    @Test("the token reaches neither the processes the agent starts nor its own /proc environ")
    func tokenScrubbed() async throws {
        let agent = try GVisorAgentProcess()
        defer { agent.stop() }
        try await agent.waitUntilReady()
        let outcome = try await execute(["/usr/bin/env"], on: agent.endpoint)
        #expect(outcome.code == 0)
        #expect(outcome.stdout.contains("PATH="))
        #expect(!outcome.stdout.contains("HOB_AGENT_"))
        let environ = try Data(contentsOf: URL(fileURLWithPath: "/proc/\(agent.pid)/environ"))
        #expect(environ.range(of: Data(agent.token.utf8)) == nil)
    }

    @Test("a wrong token or a missing hello gets the connection closed; the daemon's next one works")
    func refusals() async throws {
        let agent = try GVisorAgentProcess()
        defer { agent.stop() }
        try await agent.waitUntilReady()

        let impostor = AgentEndpoint(host: "127.0.0.1", port: agent.port, token: AgentToken.random())
        await #expect {
            try await impostor.request(.ping)
        } throws: { error in
            (error as? HobError)?.code == .unavailable && "\(error)".contains("refused")
        }
        #expect(try closedUnanswered(port: agent.port, after: AgentRequest.ping.frame()))
        #expect(try closedUnanswered(port: agent.port, after: AgentRequest.hello(token: almost(agent.token)).frame()))
        // A frame header promising more than a hello ever needs, then silence: cut off, not buffered.
        #expect(try closedUnanswered(port: agent.port, after: [0, 0x10, 0, 0, 17] + [UInt8](repeating: 0x61, count: 5000)))

        #expect(try await agent.endpoint.request(.ping) == .pong)
        #expect(try await execute(["/bin/echo", "still"], on: agent.endpoint).stdout == "still\n")
    }

    /// `token` with its last digit changed.
    func almost(_ token: String) -> String { String(token.dropLast()) + (token.hasSuffix("0") ? "1" : "0") }

    @Test("a connection that never says hello is closed after the agent's deadline")
    func helloDeadline() async throws {
        let agent = try GVisorAgentProcess()
        defer { agent.stop() }
        try await agent.waitUntilReady()
        #expect(try closedUnanswered(port: agent.port, after: [], within: 10))
    }

    @Test("an idle agent costs no CPU (its signalfd is not on fd 3)")
    func idle() async throws {
        let agent = try GVisorAgentProcess()
        defer { agent.stop() }
        try await agent.waitUntilReady()
        let before = try agent.cpuTicks()
        try await Task.sleep(for: .seconds(1))
        let after = try agent.cpuTicks()
        // A spinning loop burns ~100 ticks a second; an idle one none.
        #expect(after - before <= 5, "\(after - before) ticks in one idle second")
    }
}

@Suite("Agent endpoint over TCP")
struct AgentEndpointTCPTests {
    @Test("descriptors cannot be passed over TCP: a clear error, nothing sent")
    func noDescriptorsOverTCP() async throws {
        let endpoint = AgentEndpoint(host: "127.0.0.1", port: 9, token: AgentToken.random())
        await #expect {
            try await endpoint.request(.mountCheckpoints(names: []), fds: [])
        } throws: { error in
            (error as? HobError)?.code == .unsupported
        }
    }
}
