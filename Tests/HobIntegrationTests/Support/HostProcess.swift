// Running programs on the host: one-shot commands with captured output, and long-lived children
// (the daemon, throwaway servers) that a test starts and stops.
import Foundation
import Synchronization

/// What a finished command left behind.
struct CommandResult: Sendable, CustomStringConvertible {
    let command: String
    /// The exit status, or 128 + signal number when a signal ended the process.
    let status: Int32
    let stdoutData: Data
    let stderrData: Data

    var stdout: String { String(decoding: stdoutData, as: UTF8.self) }
    var stderr: String { String(decoding: stderrData, as: UTF8.self) }
    var succeeded: Bool { status == 0 }

    var description: String {
        "`\(command)` exited with \(status)\n--- stdout ---\n\(stdout.suffix(4000))\n--- stderr ---\n\(stderr.suffix(4000))"
    }
}

/// A child process whose output goes to a file. Foundation's `Process` reaps it; we poll for the end.
final class ChildProcess: @unchecked Sendable {
    let command: String
    private let process = Process()
    private let exit = ExitCell()

    /// Starts `executable` (a path, or a name looked up in PATH and the sbin directories).
    /// Output (stdout and stderr) is appended to `outputPath`, or discarded.
    init(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        stdinPath: String? = nil, stdoutPath: String? = nil, stderrPath: String? = nil
    ) throws {
        let path = try Self.resolve(executable)
        command = ([executable] + arguments).joined(separator: " ")
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardInput = try stdinPath.map(Self.reading) ?? FileHandle.nullDevice
        process.standardOutput = try stdoutPath.map(Self.appending) ?? FileHandle.nullDevice
        process.standardError = try (stderrPath ?? stdoutPath).map(Self.appending) ?? FileHandle.nullDevice
        process.terminationHandler = { [exit] process in
            let status = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
            exit.status.withLock { $0 = status }
        }
        try process.run()
    }

    var pid: pid_t { process.processIdentifier }
    var exitStatus: Int32? { exit.status.withLock { $0 } }
    var isRunning: Bool { exitStatus == nil && !Self.hasEnded(pid) }

    func signal(_ number: Int32) {
        if isRunning { Glibc.kill(pid, number) }
    }

    /// Waits for the process to end; nil if it is still running after `timeout`. -1 when it has
    /// ended but Foundation has not reported its status yet (see `hasEnded`).
    @discardableResult
    func waitForExit(timeout: Duration) async -> Int32? {
        _ = await eventually(timeout: timeout, every: .milliseconds(50)) { !isRunning }
        if isRunning { return nil }
        _ = await eventually(timeout: .seconds(2), every: .milliseconds(20)) { exitStatus != nil }
        return exitStatus ?? -1
    }

    /// Whether `pid` is a zombie or gone. Foundation on Linux reports a child's end only once every
    /// process that inherited its hidden status socket has closed it, so a process that leaves a
    /// descendant behind (as a daemon killed in the middle of spawning may) would look alive forever.
    static func hasEnded(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
        // "pid (comm) S …": the state follows the last ')'.
        guard let close = stat.lastIndex(of: ")") else { return false }
        return String(stat[stat.index(after: close)...]).trimmed.first == "Z"
    }

    /// SIGKILL, and wait for the end. (Children of the test process inherit the signal mask of the
    /// libdispatch thread that started them, which blocks SIGTERM: a program that does not reset its
    /// mask, such as a Python server, would ignore a polite request. `hob` resets its own.)
    func kill() async {
        signal(SIGKILL)
        await waitForExit(timeout: .seconds(30))
    }

    static func resolve(_ executable: String) throws -> String {
        if executable.contains("/") { return executable }
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        for dir in path + ["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
            let candidate = "\(dir)/\(executable)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw TestFailure("\(executable) not found in PATH")
    }

    static func reading(_ path: String) throws -> FileHandle {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw TestFailure("cannot open \(path)") }
        return handle
    }

    static func appending(_ path: String) throws -> FileHandle {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw TestFailure("cannot open \(path): errno \(errno)") }
        return FileHandle(fileDescriptor: fd, closeOnDealloc: true)
    }
}

final class ExitCell: Sendable {
    let status = Mutex<Int32?>(nil)
}

enum HostProcess {
    /// Runs a command to completion and captures its output. A command still running after
    /// `timeout` is killed and reported with status 137 and a note on stderr.
    static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil, stdin: Data? = nil,
        timeout: Duration = .seconds(120)
    ) async throws -> CommandResult {
        let scratch = try TemporaryDirectory(prefix: "hob-it-cmd-")
        defer { scratch.remove() }
        var stdinPath: String?
        if let stdin {
            stdinPath = scratch.path + "/stdin"
            try stdin.write(to: URL(fileURLWithPath: stdinPath!))
        }
        let child = try ChildProcess(
            executable, arguments, environment: environment, stdinPath: stdinPath,
            stdoutPath: scratch.path + "/stdout", stderrPath: scratch.path + "/stderr")
        var status = await child.waitForExit(timeout: timeout)
        var note = ""
        if status == nil {
            child.signal(SIGKILL)
            status = await child.waitForExit(timeout: .seconds(30)) ?? 137
            note = "\n[test harness: killed after \(timeout)]"
        }
        let out = (try? Data(contentsOf: URL(fileURLWithPath: scratch.path + "/stdout"))) ?? Data()
        let err = (try? Data(contentsOf: URL(fileURLWithPath: scratch.path + "/stderr"))) ?? Data()
        return CommandResult(command: child.command, status: status!, stdoutData: out, stderrData: err + Data(note.utf8))
    }

    /// Runs a command that must succeed, returning its trimmed stdout.
    @discardableResult
    static func check(_ executable: String, _ arguments: [String]) async throws -> String {
        let result = try await run(executable, arguments)
        guard result.succeeded else { throw TestFailure("host command failed: \(result)") }
        return result.stdout.trimmed
    }
}

/// `mkdtemp` under /tmp.
struct TemporaryDirectory: Sendable {
    let path: String

    init(prefix: String) throws {
        var template = Array("/tmp/\(prefix)XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw TestFailure("mkdtemp failed: errno \(errno)")
        }
        path = String(cString: made)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}
