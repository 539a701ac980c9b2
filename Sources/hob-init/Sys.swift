// Small Glibc helpers for hob-init. hob-init links no Foundation (it runs in the sprite's rootfs
// with a static Swift runtime), so everything here is plain libc.
import CHobShim
import Glibc
import HobSpriteEnv

struct SysError: Error, CustomStringConvertible {
    var operation: String
    var errno: Int32
    var description: String { "\(operation): \(String(cString: strerror(errno))) (errno \(errno))" }
}

/// Runs a libc call that returns -1 on failure, retrying on EINTR; throws with the step's name.
@discardableResult
func check(_ operation: @autoclosure () -> String, _ body: () -> Int32) throws(SysError) -> Int32 {
    while true {
        let rc = body()
        if rc != -1 { return rc }
        let e = Glibc.errno
        if e == EINTR { continue }
        throw SysError(operation: operation(), errno: e)
    }
}

func nowMs() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}

func monotonicMs() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}

func setNonBlocking(_ fd: Int32) {
    let flags = fcntl(fd, F_GETFL)
    _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
}

func setCloseOnExec(_ fd: Int32) {
    let flags = fcntl(fd, F_GETFD)
    _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC)
}

func fileExists(_ path: String) -> Bool {
    var st = stat()
    return lstat(path, &st) == 0
}

func readFile(_ path: String, limit: Int = 1 << 20) -> [UInt8]? {
    // O_NONBLOCK: a FIFO the sprite put there must not stall the boot.
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 16384)
    while out.count < limit {
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        out.append(contentsOf: buf[0..<n])
    }
    return out
}

func writeFile(_ path: String, _ contents: String, mode: mode_t = 0o644) throws(SysError) {
    let fd = try check("open \(path)") { open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NONBLOCK, mode) }
    defer { close(fd) }
    writeAll(fd, Array(contents.utf8))
}

/// Calls `body` with a NULL-terminated C string array, as execve wants.
func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for p in pointers { free(p) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// Why a process could not start: the step (`chdir /x`, the command, terminal setup) and errno.
struct SpawnFailure: Error {
    var step: String
    var errno: Int32
    /// The command itself was not found (a shell would exit 127).
    var notFound: Bool

    var message: String { "hob: \(step): \(String(cString: strerror(errno)))" }
}

/// Forks and executes `argv` in a new session with the given descriptors (the child gets
/// copies; the caller keeps and closes its own). `PATH` from `environment` finds the command.
/// The child takes on `sandbox` (the sprite's privileges) right before it executes.
func spawnProcess(
    argv: [String], environment: [String], directory: String, stdin: Int32, stdout: Int32, stderr: Int32,
    controllingTTY: Bool = false, sandbox: Sandbox? = Sandbox.current
) -> Result<pid_t, SpawnFailure> {
    let path = environment.first { $0.hasPrefix("PATH=") }.map { String($0.dropFirst(5)) } ?? ""
    var stage: Int32 = 0
    func spawn(_ spec: UnsafePointer<hob_sandbox>?) -> pid_t {
        withCStringArray(argv) { argvC in
            withCStringArray(environment) { envp in
                path.withCString { pathC in
                    directory.withCString { dirC in
                        var opts = hob_process_spawn(
                            argv: UnsafeMutablePointer(mutating: argvC), envp: UnsafeMutablePointer(mutating: envp),
                            search_path: pathC, dir: dirC, stdin_fd: stdin, stdout_fd: stdout, stderr_fd: stderr,
                            new_session: 1, controlling_tty: controllingTTY ? 1 : 0, sandbox: spec)
                        return hob_spawn_process(&opts, &stage)
                    }
                }
            }
        }
    }
    let pid = sandbox.map { $0.withSpec(spawn) } ?? spawn(nil)
    guard pid <= 0 else { return .success(pid) }
    let err = errno
    let step =
        switch stage {
        case 1: "chdir \(directory)"
        case 3: "terminal setup"
        case 4: "apply the sprite's privileges"
        default: argv[0]
        }
    return .failure(SpawnFailure(step: step, errno: err, notFound: stage == 2 && err == ENOENT))
}

/// Reads what a non-blocking descriptor has now (one read if `once`), handing each piece to
/// `handle`. False at EOF, or at EIO (a PTY whose slave side closed).
func readAvailable(_ fd: Int32, once: Bool, _ handle: ([UInt8]) -> Void) -> Bool {
    var buffer = [UInt8](repeating: 0, count: 32768)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n > 0 {
            handle(Array(buffer[0..<n]))
            if once { return true }
            continue
        }
        if n < 0 && errno == EINTR { continue }
        if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return true }
        return false
    }
}

/// A `waitpid` status as a shell reports it: the exit status, or 128 + the signal; and the
/// signal, if one ended the process.
func exitCode(waitStatus status: Int32) -> (code: Int32, signal: Int32?) {
    let signal = status & 0x7f  // WTERMSIG
    return signal == 0 ? ((status >> 8) & 0xff, nil) : (128 + signal, signal)
}
