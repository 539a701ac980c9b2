// Runs host tools (ip, nft, mkfs.btrfs, losetup, debootstrap, …) from the multi-threaded daemon.
//
// posix_spawn does the fork/exec in libc, so no Swift runs in the child. Output is collected on a
// GCD thread (blocking reads never touch the cooperative pool), and the child is reaped with a
// waitpid on its own pid only, so other children (sprite inits) are never stolen.
import CHobShim
import Glibc

public struct CommandResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

public enum HostCommand {
    /// Runs `executable` (searched in PATH) and returns its output; throws when it exits non-zero
    /// unless `allowFailure`. `onLine` receives every output line as it arrives (stdout and stderr).
    @discardableResult
    public static func run(
        _ executable: String, _ arguments: [String], input: String? = nil, allowFailure: Bool = false,
        environment: [String: String] = [:], onLine: (@Sendable (String) -> Void)? = nil
    ) async throws(SystemError) -> CommandResult {
        let operation = ([executable] + arguments).joined(separator: " ")
        let result: Result<CommandResult, SystemError> = await withCheckedContinuation { continuation in
            BlockingPool.shared.submit {
                continuation.resume(
                    returning: runBlocking(
                        executable, arguments, input: input, environment: environment, onLine: onLine, operation: operation))
            }
        }
        let output = try result.get()
        if output.status != 0 && !allowFailure {
            let text = (output.stderr.isEmpty ? output.stdout : output.stderr).trimmingSuffixWhitespace()
            throw SystemError(operation: operation, errno: 0, detail: "exit status \(output.status): \(text.suffixLines(5))")
        }
        return output
    }

    static func runBlocking(
        _ executable: String, _ arguments: [String], input: String?, environment: [String: String],
        onLine: (@Sendable (String) -> Void)?, operation: String
    ) -> Result<CommandResult, SystemError> {
        var outPipe: [Int32] = [-1, -1]
        var errPipe: [Int32] = [-1, -1]
        var inPipe: [Int32] = [-1, -1]
        guard hob_pipe2(&outPipe, O_CLOEXEC) == 0, hob_pipe2(&errPipe, O_CLOEXEC) == 0, hob_pipe2(&inPipe, O_CLOEXEC) == 0
        else { return .failure(SystemError(operation: "pipe for \(operation)", errno: errno)) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigmask(&attr, &noSignals)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var env = currentEnvironment()
        env["LC_ALL"] = "C"
        for (k, v) in environment { env[k] = v }
        let envStrings = env.map { "\($0.key)=\($0.value)" }

        var pid: pid_t = 0
        let rc = withCStrings([executable] + arguments) { argv in
            withCStrings(envStrings) { envp in posix_spawnp(&pid, executable, &actions, &attr, argv, envp) }
        }
        close(outPipe[1])
        close(errPipe[1])
        close(inPipe[0])
        guard rc == 0 else {
            close(outPipe[0])
            close(errPipe[0])
            close(inPipe[1])
            return .failure(SystemError(operation: operation, errno: rc, detail: rc == ENOENT ? "\(executable) is not installed" : nil))
        }

        if let input {
            let bytes = Array(input.utf8)
            var offset = 0
            while offset < bytes.count {
                let n = bytes[offset...].withUnsafeBytes { write(inPipe[1], $0.baseAddress, $0.count) }
                if n <= 0 {
                    if n < 0 && errno == EINTR { continue }
                    break
                }
                offset += n
            }
        }
        close(inPipe[1])

        var out: [UInt8] = []
        var err: [UInt8] = []
        var lineBuffers: [[UInt8]] = [[], []]
        var open = [outPipe[0], errPipe[0]]
        var buffer = [UInt8](repeating: 0, count: 16384)
        while open.contains(where: { $0 >= 0 }) {
            var fds = open.filter { $0 >= 0 }.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let n = fds.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), -1) }
            if n < 0 {
                if errno == EINTR { continue }
                break
            }
            for p in fds where p.revents != 0 {
                let index = p.fd == outPipe[0] ? 0 : 1
                let count = buffer.withUnsafeMutableBytes { read(p.fd, $0.baseAddress, $0.count) }
                if count <= 0 {
                    if count < 0 && errno == EINTR { continue }
                    close(p.fd)
                    open[index] = -1
                    continue
                }
                let chunk = buffer[0..<count]
                if index == 0 { out.append(contentsOf: chunk) } else { err.append(contentsOf: chunk) }
                if let onLine {
                    lineBuffers[index].append(contentsOf: chunk)
                    while let nl = lineBuffers[index].firstIndex(where: { $0 == 10 || $0 == 13 }) {
                        let line = String(decoding: lineBuffers[index][..<nl], as: UTF8.self)
                        lineBuffers[index].removeSubrange(...nl)
                        if !line.isEmpty { onLine(line) }
                    }
                }
            }
        }
        if let onLine {
            for rest in lineBuffers where !rest.isEmpty { onLine(String(decoding: rest, as: UTF8.self)) }
        }

        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exit: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return .success(
            CommandResult(status: exit, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self)))
    }

    static func currentEnvironment() -> [String: String] {
        var env: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            if let eq = s.firstIndex(of: "=") { env[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
            p += 1
        }
        return env
    }

    /// Whether `name` is an executable in PATH.
    public static func isInstalled(_ name: String) -> Bool {
        let path = currentEnvironment()["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin"
        return path.split(separator: ":").contains { access("\($0)/\(name)", X_OK) == 0 }
    }
}

func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for p in pointers { free(p) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

extension String {
    func trimmingSuffixWhitespace() -> String {
        var s = Substring(self)
        while let last = s.last, last.isWhitespace { s = s.dropLast() }
        return String(s)
    }

    func suffixLines(_ n: Int) -> String {
        split(separator: "\n").suffix(n).joined(separator: " | ")
    }
}
