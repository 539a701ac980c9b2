// Stage one of hob-init: turn a freshly cloned set of namespaces into a sprite.
//
// The daemon cloned us into new user, mount, pid, uts, ipc and network namespaces, mapped our root
// to an unprivileged host uid range, put us in the sprite's cgroups and moved a veth into our
// network namespace. It now sends the BootConfig over fd 3 together with four or five detached
// mounts: the sprite's disk (idmapped), hob-init itself, the directory of the sprite API socket and
// the sprite's policy directory (all three read-only), and, when its privileges add any, a
// directory of device nodes. We build the root filesystem around the disk, pivot into it and re-execute
// ourselves from /.sprite/bin/hob-init as the agent, so that nothing of the host stays mapped.
// Any failure is reported on fd 3 as "F<step>: <error>" and ends the boot.
import CHobShim
import Glibc
import HobAgentProtocol
import HobSpriteEnv

enum Setup {
    static let controlFD: Int32 = 3
    static let staging = "/tmp/.hob-root"
    /// Where the daemon's device nodes for this sprite are attached while /dev is built.
    static let devicesStaging = "/tmp/.hob-devices"

    static func run() -> Never {
        do {
            try boot()
        } catch {
            fail("\(error)")
        }
        fail("unreachable")
    }

    static func fail(_ message: String) -> Never {
        writeAll(controlFD, Array(("F" + message).utf8))
        exit(1)
    }

    static func boot() throws {
        var buffer = [UInt8](repeating: 0, count: 65536)
        var fds = [Int32](repeating: -1, count: 5)
        var nfds: Int32 = 0
        let n = buffer.withUnsafeMutableBytes { raw in
            fds.withUnsafeMutableBufferPointer { hob_recv_fds(controlFD, raw.baseAddress, raw.count, $0.baseAddress, 5, &nfds) }
        }
        guard n > 0, nfds == 4 || nfds == 5 else { throw SysError(operation: "receive boot configuration", errno: n < 0 ? errno : EPROTO) }
        let config = try BootConfig(decoding: Array(buffer[0..<n]))
        let rootFD = fds[0]
        let initFD = fds[1]
        let apiFD = fds[2]
        let policyFD = fds[3]
        // The daemon's nodes for the policy's optional devices, when it has any.
        let devicesFD = nfds == 5 ? fds[4] : -1

        // The cgroup namespace starts at the cgroup the daemon placed us in.
        try check("unshare cgroup namespace") { hob_unshare(Int32(HOB_CLONE_NEWCGROUP)) }
        try check("make / private") { mount(nil, "/", nil, UInt(MS_REC | MS_PRIVATE), nil) }
        try configureNetwork(config)

        try check("mount staging tmpfs on /tmp") { mount("tmpfs", "/tmp", "tmpfs", UInt(MS_NOSUID | MS_NODEV), "mode=0700,size=64k") }
        try check("mkdir \(staging)") { mkdir(staging, 0o755) }
        if devicesFD >= 0 {
            try check("mkdir \(devicesStaging)") { mkdir(devicesStaging, 0o755) }
            try check("attach the sprite's device nodes") { hob_move_mount_fd(devicesFD, devicesStaging) }
            close(devicesFD)
        }
        try check("attach sprite disk") { hob_move_mount_fd(rootFD, staging) }
        close(rootFD)

        try populate(staging, config: config, initFD: initFD, apiFD: apiFD, policyFD: policyFD)
        close(initFD)
        close(apiFD)
        close(policyFD)
        try check("sethostname \(config.hostname)") { sethostname(config.hostname, config.hostname.utf8.count) }

        try check("chdir \(staging)") { chdir(staging) }
        try check("pivot_root") { hob_pivot_root(".", ".") }
        try check("detach old root") { umount2(".", Int32(MNT_DETACH)) }
        try check("chdir /") { chdir("/") }
        // Only now: the sprite's files may be symlinks, which must resolve inside the sprite.
        writeIdentity("", config: config)

        let argv = ["hob-init", "agent", config.privileges.argument]
        let env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
        _ = withCStringArray(argv) { a in withCStringArray(env) { e in execve("/.sprite/bin/hob-init", a, e) } }
        throw SysError(operation: "exec /.sprite/bin/hob-init", errno: errno)
    }

    static func configureNetwork(_ config: BootConfig) throws {
        try check("bring up lo") { hob_if_up("lo", nil, 0) }
        guard !config.address.isEmpty else { return }
        try check("configure eth0 \(config.address)/\(config.prefixLength)") {
            hob_if_up("eth0", config.address, Int32(config.prefixLength))
        }
        try check("default route via \(config.gateway)") { hob_route_default(config.gateway) }
    }

    /// Mounts the kernel filesystems and Hob's surface inside the new root `r`.
    /// Runs while the host's tree is still the root: every path here is a mount target directly
    /// under the new root, checked to be a real directory so no sprite symlink leads elsewhere.
    static func populate(_ r: String, config: BootConfig, initFD: Int32, apiFD: Int32, policyFD: Int32) throws {
        for dir in ["proc", "sys", "dev", "tmp", ".sprite"] {
            try ensureRealDirectory("\(r)/\(dir)", mode: dir == "tmp" ? 0o1777 : 0o755)
        }
        let nosuid = UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC)
        try check("mount proc") { mount("proc", "\(r)/proc", "proc", nosuid, nil) }
        if mount("sysfs", "\(r)/sys", "sysfs", nosuid | UInt(MS_RDONLY), nil) != 0 {
            // Some hosts refuse a fresh sysfs in a user namespace; a read-only bind is equivalent.
            try check("bind /sys") { mount("/sys", "\(r)/sys", nil, UInt(MS_BIND | MS_REC), nil) }
            try check("remount /sys read-only") {
                mount(nil, "\(r)/sys", nil, UInt(MS_BIND | MS_REMOUNT | MS_RDONLY) | nosuid, nil)
            }
        }
        try populateDev("\(r)/dev", nodes: config.privileges.deviceNodes)
        // ICMP datagram sockets for everyone, so ping works without a raw socket (the minimal profile
        // has no CAP_NET_RAW). The sysctl belongs to the sprite's own network namespace.
        try? writeFile("\(r)/proc/sys/net/ipv4/ping_group_range", "0 2147483647")
        // /tmp stays on the sprite's disk, as on a stock Debian install: files written there
        // survive sleep, show in the file API (which works on the disk) and count as disk, not
        // as the sprite's memory.

        // Service logs live on the disk too, under the tmpfs that becomes /.sprite: the disk's
        // own /.sprite/logs is moved aside before the tmpfs covers it, then moved into place.
        let logs = "\(r)/.sprite/logs"
        let logsAside = "/tmp/.hob-logs"
        try ensureRealDirectory(logs, mode: 0o755)
        try check("mkdir \(logsAside)") { mkdir(logsAside, 0o755) }
        try check("bind /.sprite/logs") { mount(logs, logsAside, nil, UInt(MS_BIND), nil) }
        try check("mount /.sprite") { mount("tmpfs", "\(r)/.sprite", "tmpfs", UInt(MS_NOSUID | MS_NODEV), "mode=0755,size=1m") }
        ensureDirectory(logs, mode: 0o755)
        try check("move /.sprite/logs into place") { mount(logsAside, logs, nil, UInt(MS_MOVE), nil) }
        ensureDirectory("\(r)/.sprite/bin", mode: 0o755)
        let initPath = "\(r)/.sprite/bin/hob-init"
        try writeFile(initPath, "", mode: 0o755)
        // The daemon sent hob-init as a detached read-only mount: the host path may not be
        // reachable (or even exist) from here.
        try check("attach hob-init") { hob_move_mount_fd(initFD, initPath) }
        // hob-init is also the `sprite-env` command (main.swift dispatches on argv[0]).
        try check("symlink /.sprite/bin/sprite-env") { symlink("hob-init", "\(r)/.sprite/bin/sprite-env") }

        // The sprite API: the daemon's socket directory, mounted rather than bound by path (its
        // host parent is 0700), so a restarted daemon's new api.sock shows up here too.
        ensureDirectory("\(r)/.sprite/api", mode: 0o755)
        try check("attach the sprite API directory") { hob_move_mount_fd(apiFD, "\(r)/.sprite/api") }
        try check("symlink /.sprite/api.sock") { symlink("api/api.sock", "\(r)/.sprite/api.sock") }

        // The sprite's policies as the daemon keeps them (network.json), read-only: a sprite can
        // read its network policy but only the API outside can change it.
        ensureDirectory("\(r)/.sprite/policy", mode: 0o755)
        try check("attach the policy directory") { hob_move_mount_fd(policyFD, "\(r)/.sprite/policy") }

        // Filled by the daemon while the sprite runs (mountCheckpoints; see Checkpoints.swift).
        ensureDirectory("\(r)/.sprite/checkpoints", mode: 0o755)
    }

    /// PTYs one sprite may have open at once (each terminal session, `script`, tmux pane or ssh
    /// login takes one).
    static let maxPTYs = 256

    /// /dev: a tmpfs holding binds of exactly the allowed host nodes (mknod is impossible in a user
    /// namespace, and the device cgroup refuses every other node anyway).
    static func populateDev(_ dev: String, nodes: [DeviceNode]) throws {
        try check("mount /dev") { mount("tmpfs", dev, "tmpfs", UInt(MS_NOSUID | MS_NOEXEC | MS_NODEV), "mode=0755,size=64k") }
        for node in nodes where node.name != "ptmx" && node.name != "pts" {
            let target = "\(dev)/\(node.name)"
            // Basic nodes are the host's (0666); optional ones the daemon made for this sprite,
            // and left out when the host has no such device (kvm on most machines).
            let source = node.isBasic ? "/dev/\(node.name)" : "\(devicesStaging)/\(node.fileName)"
            guard fileExists(source) else { continue }
            if let slash = node.name.lastIndex(of: "/") { ensureDirectory("\(dev)/\(node.name[..<slash])", mode: 0o755) }
            try writeFile(target, "", mode: 0o666)
            try check("bind /dev/\(node.name)") { mount(source, target, nil, UInt(MS_BIND), nil) }
        }
        for (name, target) in [
            ("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx"),
        ] {
            try check("symlink /dev/\(name)") { symlink(target, "\(dev)/\(name)") }
        }
        ensureDirectory("\(dev)/pts", mode: 0o755)
        // A private devpts instance, capped: every instance draws on the host's kernel.pty.max, so
        // without max= one sprite could open them all and leave its neighbours none.
        try check("mount /dev/pts") {
            mount("devpts", "\(dev)/pts", "devpts", UInt(MS_NOSUID | MS_NOEXEC), "newinstance,ptmxmode=0666,mode=0620,gid=5,max=\(maxPTYs)")
        }
        ensureDirectory("\(dev)/shm", mode: 0o1777)
        try check("mount /dev/shm") { mount("tmpfs", "\(dev)/shm", "tmpfs", UInt(MS_NOSUID | MS_NODEV), "mode=1777") }
        ensureDirectory("\(dev)/mqueue", mode: 0o755)
        _ = mount("mqueue", "\(dev)/mqueue", "mqueue", UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC), nil)  // optional
    }

    static let marker = "# Written by Hob at boot; remove this line to manage the file yourself."

    /// Hostname, hosts and resolver files. Files a user has taken over (no marker) are left alone.
    static func writeIdentity(_ r: String, config: BootConfig) {
        try? writeFile("\(r)/etc/hostname", config.hostname + "\n")

        let hostsPath = "\(r)/etc/hosts"
        let hosts = readFile(hostsPath).flatMap { String(validating: $0, as: UTF8.self) } ?? ""
        if hosts.isEmpty || hosts.hasPrefix(marker) {
            let text = """
                \(marker)
                127.0.0.1\tlocalhost
                127.0.1.1\t\(config.hostname)
                \(config.gateway)\tgateway.hob
                ::1\tlocalhost ip6-localhost ip6-loopback
                ff02::1\tip6-allnodes
                ff02::2\tip6-allrouters

                """
            try? writeFile(hostsPath, text)
        }

        guard !config.nameservers.isEmpty else { return }
        let resolvPath = "\(r)/etc/resolv.conf"
        var st = stat()
        let isSymlink = lstat(resolvPath, &st) == 0 && (st.st_mode & S_IFMT) == S_IFLNK
        let resolv = isSymlink ? "" : (readFile(resolvPath).flatMap { String(validating: $0, as: UTF8.self) } ?? "")
        if resolv.isEmpty || resolv.hasPrefix(marker) || isSymlink {
            if isSymlink { unlink(resolvPath) }
            let lines = [marker] + config.nameservers.map { "nameserver \($0)" }
            try? writeFile(resolvPath, lines.joined(separator: "\n") + "\n")
        }
    }

    static func ensureDirectory(_ path: String, mode: mode_t) {
        if mkdir(path, mode) == 0 { chmod(path, mode) }
    }

    /// A directory that is not a symlink: whatever the sprite left in its place (a symlink or a
    /// file where /proc belongs) is replaced.
    static func ensureRealDirectory(_ path: String, mode: mode_t) throws {
        var st = stat()
        if lstat(path, &st) == 0 {
            if (st.st_mode & S_IFMT) == S_IFDIR { return }
            try check("replace \(path)") { unlink(path) }
        }
        try check("mkdir \(path)") { mkdir(path, mode) }
        chmod(path, mode)
    }
}
