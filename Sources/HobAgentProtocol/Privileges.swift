// What a sprite's processes may ask of the kernel: Sprites' privileges policy
// (`/v1/sprites/{name}/policy/privileges`), shared by the daemon (API, device cgroup) and hob-init
// (the capability set and seccomp filter of every process it starts, the device nodes in /dev).
//
// Sprites names the profiles but does not define them; Hob's definitions:
//   minimal     the file and process basics (chown, DAC override, setuid/setgid, kill, low ports);
//               no ptrace, no raw sockets, no chroot;
//   standard    the default: a developer's computer (apt, pip, npm, compilers, git, gdb/strace,
//               sudo, services on ports, ping) without the surfaces a user namespace would
//               otherwise expose: new user namespaces, mounts, netfilter administration,
//               io_uring, keyrings, bpf, perf, userfaultfd, open_by_handle_at, AF_VSOCK,
//               modules, kexec, packet sockets, raw sockets but ICMP ones (ping), device nodes;
//   privileged  every capability of the sprite's user namespace and nested user namespaces, for
//               nested containers. Still closed: bpf, perf, userfaultfd, io_uring,
//               open_by_handle_at, AF_VSOCK, modules, kexec, btrfs ioctls, TIOCSTI.
// `noNewPrivileges` adds PR_SET_NO_NEW_PRIVS (setuid binaries such as sudo stop working).

public struct SpritePrivileges: Sendable, Equatable {
    public enum Profile: String, Sendable, CaseIterable {
        case minimal, standard, privileged
    }

    public var profile: Profile
    public var noNewPrivileges: Bool
    /// Device nodes beyond the basic set (`DeviceNode.basic`), by name under /dev.
    public var devices: [String]

    public init(profile: Profile = .standard, noNewPrivileges: Bool = false, devices: [String] = []) {
        self.profile = profile
        self.noNewPrivileges = noNewPrivileges
        self.devices = devices
    }

    public static let standard = SpritePrivileges()

    /// The device nodes the sprite has: the basic set, then the extras in catalogue order.
    public var deviceNodes: [DeviceNode] {
        DeviceNode.basic + DeviceNode.optional.filter { devices.contains($0.name) }
    }

    /// Why this policy cannot be applied, or nil. Basic devices may be named (they are always there).
    public var problem: String? {
        let known = Set((DeviceNode.basic + DeviceNode.optional).map(\.name))
        if let unknown = devices.first(where: { !known.contains($0) }) {
            let choices = DeviceNode.optional.map(\.name).joined(separator: ", ")
            return "unknown device \"\(unknown)\"; devices beyond the basic set are: \(choices)"
        }
        return nil
    }

    /// Capabilities kept (bit n = capability n), bounding set included.
    public var capabilities: UInt64 {
        switch profile {
        case .minimal: return Capability.mask(Capability.minimal)
        case .standard: return Capability.mask(Capability.standard)
        case .privileged: return Capability.mask(Capability.allKnown)
        }
    }

    func encode(_ w: inout WireWriter) {
        w.string(profile.rawValue)
        w.bool(noNewPrivileges)
        w.strings(devices)
    }

    init(_ r: inout WireReader) throws(WireError) {
        let name = try r.string()
        guard let profile = Profile(rawValue: name) else { throw WireError("unknown privileges profile \(name)") }
        self.profile = profile
        noNewPrivileges = try r.bool()
        devices = try r.strings()
    }

    /// A compact text form, for passing the policy on hob-init's command line.
    public var argument: String {
        ([profile.rawValue, noNewPrivileges ? "nnp" : "-"] + devices).joined(separator: ",")
    }

    public init?(argument: String) {
        let parts = argument.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 2, let profile = Profile(rawValue: parts[0]), parts[1] == "nnp" || parts[1] == "-" else { return nil }
        self.init(profile: profile, noNewPrivileges: parts[1] == "nnp", devices: Array(parts.dropFirst(2)))
    }
}

/// Linux capability numbers (linux/capability.h) and the profiles' sets.
public enum Capability {
    public static let chown = 0, dacOverride = 1, dacReadSearch = 2, fowner = 3, fsetid = 4, kill = 5
    public static let setgid = 6, setuid = 7, setpcap = 8, linuxImmutable = 9, netBindService = 10
    public static let netBroadcast = 11, netAdmin = 12, netRaw = 13, ipcLock = 14, ipcOwner = 15
    public static let sysModule = 16, sysRawio = 17, sysChroot = 18, sysPtrace = 19, sysPacct = 20
    public static let sysAdmin = 21, sysBoot = 22, sysNice = 23, sysResource = 24, sysTime = 25
    public static let sysTTYConfig = 26, mknod = 27, lease = 28, auditWrite = 29, auditControl = 30
    public static let setfcap = 31, macOverride = 32, macAdmin = 33, syslog = 34, wakeAlarm = 35
    public static let blockSuspend = 36, auditRead = 37, perfmon = 38, bpf = 39, checkpointRestore = 40

    public static let minimal = [chown, dacOverride, fowner, fsetid, kill, setgid, setuid, netBindService]
    /// Close to a container engine's default set. CAP_NET_RAW stays so that binaries carrying it as
    /// a file capability (ping) can still execute; the filter refuses packet sockets and raw
    /// sockets other than ICMP.
    public static let standard = minimal + [setpcap, netRaw, sysChroot, auditWrite, setfcap]
    public static let allKnown = Array(0...checkpointRestore)

    public static func mask(_ caps: [Int]) -> UInt64 { caps.reduce(0) { $0 | (1 << UInt64($1)) } }
}

/// A character device a sprite may have in its /dev, bound from the host's node of that name and
/// allowed in the sprite's device cgroup. `minor` nil means every minor (the PTY slaves).
public struct DeviceNode: Sendable, Equatable {
    public var name: String
    public var major: Int
    public var minor: Int?

    public init(_ name: String, _ major: Int, _ minor: Int?) {
        self.name = name
        self.major = major
        self.minor = minor
    }

    /// What every sprite has. ptmx and pts/* belong to the sprite's own devpts instance.
    public static let basic = [
        DeviceNode("null", 1, 3), DeviceNode("zero", 1, 5), DeviceNode("full", 1, 7), DeviceNode("random", 1, 8),
        DeviceNode("urandom", 1, 9), DeviceNode("tty", 5, 0), DeviceNode("ptmx", 5, 2), DeviceNode("pts", 136, nil),
    ]
    /// What a privileges policy may add.
    public static let optional = [DeviceNode("fuse", 10, 229), DeviceNode("net/tun", 10, 200), DeviceNode("kvm", 10, 232)]

    /// Whether every sprite has it (bound from the host's node) rather than only by policy (made by
    /// the daemon for the sprite: the host's optional nodes are usually closed to all but root).
    public var isBasic: Bool { Self.basic.contains(self) }

    /// Its file name in a flat directory: `net/tun` → `net-tun`.
    public var fileName: String { String(name.map { $0 == "/" ? "-" : $0 }) }

    /// The rule for a v1 device cgroup's devices.allow.
    public var cgroupRule: String { "c \(major):\(minor.map(String.init) ?? "*") rwm" }
}
