// Cloning a sprite's PID 1 (the C side is hob_spawn_sprite) and signalling processes by pidfd.
import CHobShim
import Glibc

public struct Namespaces: OptionSet, Sendable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let mount = Namespaces(rawValue: Int32(HOB_CLONE_NEWNS))
    public static let cgroup = Namespaces(rawValue: Int32(HOB_CLONE_NEWCGROUP))
    public static let uts = Namespaces(rawValue: Int32(HOB_CLONE_NEWUTS))
    public static let ipc = Namespaces(rawValue: Int32(HOB_CLONE_NEWIPC))
    public static let user = Namespaces(rawValue: Int32(HOB_CLONE_NEWUSER))
    public static let pid = Namespaces(rawValue: Int32(HOB_CLONE_NEWPID))
    public static let network = Namespaces(rawValue: Int32(HOB_CLONE_NEWNET))
}

/// A freshly cloned sprite init, waiting for its "go" byte on the control socket.
public struct ClonedInit: Sendable {
    public var pid: pid_t
    public var pidfd: Int32
    /// The daemon's end of the control socket (SOCK_SEQPACKET).
    public var controlFD: Int32
}

public enum SpriteProcess {
    /// Clones `initExecutable` into new namespaces. `listenFD` becomes fd 4 in the child.
    /// The namespaces that the child's own setup creates later (cgroup) are not in `namespaces`.
    public static func clone(
        initExecutableFD: Int32, listenFD: Int32, namespaces: Namespaces, arguments: [String]
    ) throws(SystemError) -> ClonedInit {
        var pair: [Int32] = [-1, -1]
        try syscall("socketpair for sprite init") {
            socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair)
        }
        var pid: pid_t = 0
        var pidfd: Int32 = -1
        let rc = withCStrings(arguments) { argv in
            withCStrings(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]) { envp in
                var opts = hob_sprite_spawn(
                    clone_flags: namespaces.rawValue, init_fd: initExecutableFD, ctl_fd: pair[1], listen_fd: listenFD,
                    argv: UnsafePointer(argv), envp: UnsafePointer(envp))
                return hob_spawn_sprite(&opts, &pid, &pidfd)
            }
        }
        let e = errno
        close(pair[1])
        guard rc == 0 else {
            close(pair[0])
            throw SystemError(operation: "clone sprite init", errno: e)
        }
        return ClonedInit(pid: pid, pidfd: pidfd, controlFD: pair[0])
    }

    public static func writeIDMap(pid: pid_t, hostBase: UInt32, count: UInt32) throws(SystemError) {
        try Files.writeKernel("/proc/\(pid)/uid_map", "0 \(hostBase) \(count)\n")
        try Files.writeKernel("/proc/\(pid)/gid_map", "0 \(hostBase) \(count)\n")
    }

    /// An idmapped, detached copy of `path` for the user namespace of `pid`.
    public static func idmappedTree(_ path: String, forUserNamespaceOf pid: pid_t) throws(SystemError) -> Int32 {
        let userns = try syscall("open user namespace of \(pid)") { open("/proc/\(pid)/ns/user", O_RDONLY | O_CLOEXEC) }
        defer { close(userns) }
        return try syscall("idmapped mount of \(path)") { hob_open_idmapped_tree(path, userns) }
    }

    /// An idmapped, detached, read-only (and nosuid, nodev) copy of `path` for the user namespace
    /// of `pid`: how a checkpoint is shown inside its running sprite.
    public static func idmappedReadOnlyTree(_ path: String, forUserNamespaceOf pid: pid_t) throws(SystemError) -> Int32 {
        let userns = try syscall("open user namespace of \(pid)") { open("/proc/\(pid)/ns/user", O_RDONLY | O_CLOEXEC) }
        defer { close(userns) }
        return try syscall("read-only idmapped mount of \(path)") { hob_open_idmapped_readonly_tree(path, userns) }
    }

    /// A detached read-only bind of `path`, to attach inside the sprite.
    public static func readOnlyTree(_ path: String, allowDevices: Bool = false) throws(SystemError) -> Int32 {
        try syscall("read-only mount of \(path)") { hob_open_readonly_tree(path, allowDevices ? 1 : 0) }
    }

    public static func send(_ fd: Int32, _ bytes: [UInt8], fds: [Int32] = []) throws(SystemError) {
        let n = bytes.withUnsafeBytes { raw in
            fds.withUnsafeBufferPointer { hob_send_fds(fd, raw.baseAddress, raw.count, $0.baseAddress, Int32($0.count)) }
        }
        if n < 0 { throw SystemError(operation: "send to sprite init", errno: errno) }
    }

    /// Waits (blocking, bounded) for one message on a SOCK_SEQPACKET socket.
    public static func receive(_ fd: Int32, timeoutMs: Int32) throws(SystemError) -> [UInt8] {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while true {
            let n = poll(&p, 1, timeoutMs)
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw SystemError(operation: "wait for sprite init", errno: errno) }
            if n == 0 { throw SystemError(operation: "wait for sprite init", errno: ETIMEDOUT) }
            break
        }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 { throw SystemError(operation: "read from sprite init", errno: errno) }
        return Array(buffer[0..<n])
    }

    public static func signal(pidfd: Int32, _ sig: Int32) -> Bool { hob_pidfd_send_signal(pidfd, sig) == 0 }

    /// Reaps `pid` if it is our child and has exited; harmless otherwise.
    public static func reapIfChild(_ pid: pid_t) {
        var status: Int32 = 0
        _ = waitpid(pid, &status, WNOHANG)
    }

    /// The process start time (clock ticks since boot) from /proc/<pid>/stat, to tell a live
    /// process from a recycled pid.
    public static func startTime(of pid: pid_t) -> UInt64? {
        guard let stat = try? Files.read("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After "pid (comm)": field 3 is state … field 22 is starttime → index 19 here.
        guard fields.count > 19 else { return nil }
        return UInt64(fields[19])
    }
}
