// One real `hob serve`, as a test fixture: its own temporary state directory, instance name, subnet,
// API port and sprite URL port, so it shares nothing with another daemon on the machine. Output goes to a log file
// whose tail is attached to failures. Talks to the daemon over plain HTTP (URLSession), raw
// WebSockets, and the `hob` CLI.
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization
import Testing

final class DaemonFixture: Sendable {
    /// The daemon of the suite being run (see `SharedDaemonTrait`).
    @TaskLocal static var current: DaemonFixture?

    static func shared() throws -> DaemonFixture {
        guard let current else { throw TestFailure("no daemon: the suite needs the .sharedDaemon trait") }
        return current
    }

    static let startupTimeout: Duration = .seconds(600)
    static let shutdownTimeout: Duration = .seconds(60)

    let binary: String
    let root: TemporaryDirectory
    let stateDirectory: String
    let logPath: String
    let instance: String
    let subnet: String
    let port: Int
    /// Where the daemon serves sprite URLs (`--url-listen 127.0.0.1:<urlPort>`): every daemon needs
    /// its own, since the default 7080 would collide.
    let urlPort: Int
    /// Options added to `hob serve` (say, short idle timeouts).
    let extraArguments: [String]
    /// A command that runs `hob serve` (say, nsenter into a mount namespace), or empty.
    let launcher: [String]
    let session: URLSession
    private let state = Mutex<(child: ChildProcess?, token: String, uncleanExit: Bool)>((nil, "", false))
    /// A command line run instead of `<binary> serve …` (an installed unit's ExecStart), if any.
    private let serveCommand = Mutex<[String]?>(nil)

    var baseURL: String { "http://127.0.0.1:\(port)" }
    /// `<sprite>.hob.localhost:<urlPort>`, the Host of a sprite's URL.
    func urlHost(_ sprite: String) -> String { "\(sprite).hob.localhost:\(urlPort)" }
    var token: String { state.withLock { $0.token } }
    /// The daemon's host pid while it runs.
    var pid: pid_t? { state.withLock { $0.child?.isRunning == true ? $0.child?.pid : nil } }
    var isRunning: Bool { pid != nil }
    /// The bridge the daemon creates, `<instance>0`.
    var bridge: String { instance + "0" }

    private init(binary: String, extraArguments: [String], launcher: [String]) throws {
        self.binary = binary
        self.extraArguments = extraArguments
        self.launcher = launcher
        root = try TemporaryDirectory(prefix: "hob-it-")
        stateDirectory = root.path + "/state"
        logPath = root.path + "/daemon.log"
        instance = "hit" + TestEnvironment.randomName(4)
        subnet = try Self.unusedSubnet()
        port = try HostNetworkFacts.freeTCPPort()
        var urlPort = try HostNetworkFacts.freeTCPPort()
        while urlPort == port { urlPort = try HostNetworkFacts.freeTCPPort() }
        self.urlPort = urlPort
        let configuration = URLSessionConfiguration.ephemeral
        configuration.connectionProxyDictionary = [:]
        configuration.timeoutIntervalForRequest = 120
        session = URLSession(configuration: configuration)
    }

    /// Starts a daemon and waits until it serves `GET /v1/sprites` (the first start on a machine
    /// may build the base image, hence the long timeout).
    static func start(arguments: [String] = [], launcher: [String] = []) async throws -> DaemonFixture {
        let daemon = try DaemonFixture(binary: try TestEnvironment.requireHobBinary(), extraArguments: arguments, launcher: launcher)
        do {
            try await daemon.launch()
        } catch {
            await daemon.tearDown()
            throw error
        }
        return daemon
    }

    /// A daemon with its directory, instance, subnet and ports chosen, not started: for a test that
    /// starts it its own way (`start(command:)`). `tearDown()` as always.
    static func prepare() throws -> DaemonFixture {
        try DaemonFixture(binary: try TestEnvironment.requireHobBinary(), extraArguments: [], launcher: [])
    }

    /// Starts the daemon as `command` (an executable and its arguments, which must use this
    /// fixture's state directory, instance, subnet and ports) and waits until it is ready;
    /// `restart()` and `tearDown()` use it too.
    func start(command: [String]) async throws {
        serveCommand.withLock { $0 = command }
        try await launch()
    }

    private func launch() async throws {
        let (executable, arguments) =
            if let command = serveCommand.withLock({ $0 }), let first = command.first {
                (first, Array(command.dropFirst()))
            } else {
                (
                    binary,
                    [
                        "serve", "--state-dir", stateDirectory, "--listen", "127.0.0.1:\(port)", "--instance", instance, "--subnet",
                        subnet, "--url-listen", "127.0.0.1:\(urlPort)",
                    ] + extraArguments
                )
            }
        let log = try ChildProcess.appending(logPath)
        log.write(Data("==> [test] \(executable) \(arguments.joined(separator: " "))\n".utf8))
        try? log.close()
        let child =
            if let command = launcher.first {
                try ChildProcess(command, Array(launcher.dropFirst()) + [executable] + arguments, stdoutPath: logPath)
            } else {
                try ChildProcess(executable, arguments, stdoutPath: logPath)
            }
        state.withLock { $0 = (child, "", false) }
        try await waitUntilReady(child)
    }

    private func waitUntilReady(_ child: ChildProcess) async throws {
        let deadline = ContinuousClock.now + Self.startupTimeout
        var lastStatus = "no answer"
        while ContinuousClock.now < deadline {
            if let status = child.exitStatus {
                throw TestFailure("hob serve exited with status \(status) before it was ready\n\(logTail())")
            }
            let token = (try? String(contentsOfFile: stateDirectory + "/admin-token", encoding: .utf8))?.trimmed ?? ""
            if !token.isEmpty {
                state.withLock { $0.token = token }
                if let response = try? await http("GET", "/v1/sprites") {
                    if response.status == 200 { return }
                    lastStatus = "HTTP \(response.status)"
                }
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw TestFailure("hob serve was not ready after \(Self.startupTimeout) (GET /v1/sprites: \(lastStatus))\n\(logTail())")
    }

    /// SIGTERM (or `signal`), wait up to 60 s (or `timeout`), then SIGKILL. Returns the exit status
    /// (nil if it was not running).
    @discardableResult
    func stop(signal: Int32 = SIGTERM, timeout: Duration = shutdownTimeout) async -> Int32? {
        guard let child = state.withLock({ $0.child }), child.isRunning else { return nil }
        child.signal(signal)
        if let status = await child.waitForExit(timeout: timeout) { return status }
        child.signal(SIGKILL)
        state.withLock { $0.uncleanExit = true }
        return await child.waitForExit(timeout: .seconds(30))
    }

    /// SIGKILL, as a crash would: sprites, mounts and network stay behind.
    /// (Also when the test sent the signal itself: the daemon is then marked as killed.)
    func kill9() async {
        guard let child = state.withLock({ $0.child }) else { return }
        if child.isRunning {
            child.signal(SIGKILL)
            await child.waitForExit(timeout: .seconds(30))
        }
        state.withLock { $0.uncleanExit = true }
    }

    /// Starts the daemon again on the same state directory, instance, subnet and port.
    func restart() async throws {
        if isRunning { throw TestFailure("restart: hob serve (pid \(pid!)) is still running") }
        try await launch()
    }

    /// Stops the daemon and leaves the host as it was, whatever state a failed test left it in.
    func tearDown() async {
        // A daemon that was killed is started once more, so that it stops its sprites and removes
        // its network and mounts itself.
        if !isRunning, state.withLock({ $0.uncleanExit }) {
            await killStrayProcesses()
            try? await restart()
        }
        await stop()
        // One that ignored SIGTERM (hung) was killed, and left its sprites running: once more.
        if state.withLock({ $0.uncleanExit }) {
            await killStrayProcesses()
            try? await restart()
            await stop()
        }
        await killStrayProcesses()
        session.invalidateAndCancel()
        await HostLeftovers.remove(instance: instance, under: root.path)
    }

    /// Processes other than the daemon itself that run the daemon's command line (children it
    /// forked and had not yet turned into something else when it was killed).
    func strayProcesses() -> [pid_t] {
        let daemon = pid
        let marker = "--state-dir\0\(stateDirectory)\0"
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { pid_t($0) }.filter { candidate in
            guard candidate != daemon, !ChildProcess.hasEnded(candidate),
                let cmdline = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(candidate)/cmdline"))
            else { return false }
            return String(decoding: cmdline, as: UTF8.self).contains(marker)
        }.sorted()
    }

    /// SIGKILLs `strayProcesses()`: whatever a failed test left, the host must not keep it.
    func killStrayProcesses() async {
        let strays = strayProcesses()
        for stray in strays { Glibc.kill(stray, SIGKILL) }
        _ = await eventually(timeout: .seconds(10)) { strays.allSatisfy(ChildProcess.hasEnded) }
    }

    /// The last lines the daemon printed.
    func logTail(_ count: Int = 40) -> String {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "(no daemon log at \(logPath))"
        return "--- hob serve output (last \(count) lines of \(logPath)) ---\n"
            + text.split(separator: "\n", omittingEmptySubsequences: false).suffix(count).joined(separator: "\n")
    }

    /// A 10.x.0.0/16 that no route on the host mentions yet.
    private static func unusedSubnet() throws -> String {
        let routes = KernelFile.text("/proc/net/route")
        // /proc/net/route has destinations as little-endian hex: 10.x.*.* is "..XX0A".
        let used = Set(routes.lines.dropFirst().compactMap { line -> Int? in
            let fields = line.split(whereSeparator: \.isWhitespace)
            guard fields.count > 1, let dest = UInt32(fields[1], radix: 16), dest & 0xFF == 10 else { return nil }
            return Int((dest >> 8) & 0xFF)
        })
        guard let octet = (100...250).filter({ !used.contains($0) }).randomElement() else {
            throw TestFailure("no free 10.x.0.0/16 between 10.100 and 10.250")
        }
        return "10.\(octet).0.0/16"
    }
}

// MARK: - Talking to the daemon

/// Who a request claims to be.
enum Credential: Sendable {
    case admin, none
    case bearer(String)
}

struct HTTPResult: Sendable, CustomStringConvertible {
    let status: Int
    let body: Data
    /// Header names in lower case.
    let headers: [String: String]

    var json: [String: Any]? { try? JSONSerialization.jsonObject(with: body) as? [String: Any] }
    var text: String { String(decoding: body, as: UTF8.self) }
    /// `error` of a Sprites error body.
    var errorCode: String? { json?["error"] as? String }
    func header(_ name: String) -> String? { headers[name.lowercased()] }

    var description: String { "HTTP \(status) \(text.prefix(2000))" }
}

extension DaemonFixture {
    /// One HTTP request to the daemon.
    func http(_ method: String, _ path: String, body: Data? = nil, credential: Credential = .admin) async throws -> HTTPResult {
        guard let url = URL(string: baseURL + path) else { throw TestFailure("bad path \(path)") }
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.httpBody = body
        if body != nil { request.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        switch credential {
        case .admin: request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        case .none: break
        case .bearer(let value): request.setValue("Bearer \(value)", forHTTPHeaderField: "Authorization")
        }
        let (data, response) = try await session.data(for: request)
        guard let response = response as? HTTPURLResponse else { throw TestFailure("\(method) \(path): not an HTTP response") }
        var headers: [String: String] = [:]
        for (name, value) in response.allHeaderFields {
            headers[String(describing: name).lowercased()] = String(describing: value)
        }
        return HTTPResult(status: response.statusCode, body: data, headers: headers)
    }

    /// `hob <arguments>` against this daemon (HOB_API_URL, HOB_TOKEN), with no login config.
    func cli(_ arguments: String..., stdin: Data? = nil, timeout: Duration = .seconds(120)) async throws -> CommandResult {
        try await cli(arguments: arguments, stdin: stdin, timeout: timeout)
    }

    /// The same, with the arguments as an array.
    func cli(arguments: [String], stdin: Data? = nil, timeout: Duration = .seconds(120)) async throws -> CommandResult {
        var environment = ProcessInfo.processInfo.environment
        environment["HOB_API_URL"] = baseURL
        environment["HOB_TOKEN"] = token
        environment["XDG_CONFIG_HOME"] = root.path + "/config"
        environment["HOB_STATE_DIR"] = nil
        environment["HOB_LISTEN"] = nil
        let result = try await HostProcess.run(binary, arguments, environment: environment, stdin: stdin ?? Data(), timeout: timeout)
        if let command = arguments.first, result.status == 64, result.stderr.contains("Unexpected argument '\(command)'") {
            throw TestFailure("this hob binary has no `\(command)` command (is the CLI registered in Sources/hob/main.swift?)\n\(result)")
        }
        return result
    }

    /// Runs `argv` in a sprite over the exec WebSocket (not the CLI).
    func exec(
        _ sprite: String, _ argv: [String], environment: [String] = [], stdin: Data? = nil, stdinDelay: Duration = .zero,
        timeout: Duration = .seconds(120)
    ) async throws -> ExecResult {
        try await WebSocketExec.run(
            port: port, token: token, sprite: sprite, argv: argv, environment: environment, stdin: stdin, stdinDelay: stdinDelay,
            timeout: timeout)
    }

    /// Runs a shell script in a sprite over the exec WebSocket.
    func sh(_ sprite: String, _ script: String) async throws -> ExecResult {
        try await exec(sprite, ["sh", "-c", script])
    }

    /// POST /v1/sprites; fails unless the daemon answers 201.
    func createSprite(_ name: String) async throws {
        let response = try await http("POST", "/v1/sprites", body: Data(#"{"name":"\#(name)"}"#.utf8))
        guard response.status == 201 else { throw TestFailure("creating sprite \(name): \(response)\n\(logTail())") }
    }

    func destroySprite(_ name: String) async {
        _ = try? await http("DELETE", "/v1/sprites/\(name)")
    }

    /// Creates a sprite for `body` and destroys it afterwards, whatever happens.
    func withSprite<T: Sendable>(_ name: String = TestEnvironment.spriteName(), _ body: (String) async throws -> T) async throws -> T {
        try await cleaningUp(sprites: [name]) {
            try await createSprite(name)
            return try await body(name)
        }
    }

    /// Runs `body`, then destroys the named sprites (if they exist), whatever happens.
    func cleaningUp<T: Sendable>(sprites names: [String], _ body: () async throws -> T) async throws -> T {
        let result: Result<T, any Error>
        do { result = .success(try await body()) } catch { result = .failure(error) }
        for name in names { await destroySprite(name) }
        return try result.get()
    }
}
