// Root inside a sprite, attacking the kernel surface a user namespace exposes: each test tries one
// door and asserts the safe outcome (docs/SECURITY.md lists them). The default profile is
// `standard`; the privileges policy tests switch profiles through the API.
import Foundation
import Testing

extension HobIntegration {
    @Suite("Kernel surface", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct KernelSurfaceTests {
        // CapBnd in /proc/self/status (linux/capability.h numbers; HobAgentProtocol Capability).
        // minimal: chown, dac_override, fowner, fsetid, kill, setgid, setuid, net_bind_service.
        static let minimalCaps = "00000000000004fb"
        // standard: minimal + setpcap, net_raw, sys_chroot, audit_write, setfcap.
        static let standardCaps = "00000000a00425fb"
        // privileged: every capability up to CAP_CHECKPOINT_RESTORE (40).
        static let privilegedCaps = "000001ffffffffff"

        @Test("every process runs under a seccomp filter with the standard capability set")
        func filterAndCapabilities() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let status = try await daemon.exec(name, ["cat", "/proc/self/status"])
                #expect(status.succeeded, "\(status)")
                #expect(status.field("Seccomp") == "2", "\(status.stdout)")
                #expect(status.field("CapBnd") == Self.standardCaps, "\(status.stdout)")
                #expect(status.field("CapEff") == Self.standardCaps, "\(status.stdout)")
                #expect(status.field("NoNewPrivs") == "0", "sudo must keep working by default: \(status.stdout)")
            }
        }

        @Test("a sprite starts from the usual soft descriptor limit, not the daemon's raised one")
        func descriptorLimit() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let limit = try await daemon.sh(name, "ulimit -n")
                #expect(limit.stdout.trimmed == "1024", "\(limit)")
            }
        }

        @Test("services run under the same filter and capability set as exec")
        func servicesAreConfined() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let body = #"{"cmd":"sh","args":["-c","grep -E '^(Seccomp|CapBnd):' /proc/self/status > /tmp/svc-status; sleep 600"]}"#
                let created = try await daemon.http("PUT", "/v1/sprites/\(name)/services/probe", body: Data(body.utf8))
                #expect(created.status == 200, "\(created)")
                var text = ""
                let written = await eventually(timeout: .seconds(20)) {
                    text = (try? await daemon.exec(name, ["cat", "/tmp/svc-status"]))?.stdout ?? ""
                    return text.contains("CapBnd")
                }
                #expect(written, "the service never wrote its status")
                #expect(text.contains("Seccomp:\t2"), "\(text)")
                #expect(text.contains("CapBnd:\t\(Self.standardCaps)"), "\(text)")
            }
        }

        @Test("a sprite cannot create nested user namespaces")
        func nestedUserNamespaces() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let result = try await daemon.sh(name, "unshare --user --map-root-user true; echo \"unshare $?\"")
                #expect(result.stdout.contains("unshare 1"), "\(result)")
                let probe = try await daemon.probe(name, "print(sysc(NR['unshare'], 0x10000000))")
                #expect(probe == "EPERM", "unshare(CLONE_NEWUSER): \(probe)")
            }
        }

        @Test("nf_tables and the rest of netfilter's netlink administration are closed")
        func netfilter() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let probe = try await daemon.probe(name, "print(sock(socket.AF_NETLINK, socket.SOCK_RAW, 12))")
                #expect(probe == "EPERM", "NETLINK_NETFILTER socket: \(probe)")
            }
        }

        @Test("io_uring is unavailable")
        func ioUring() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let probe = try await daemon.probe(name, "buf = ctypes.create_string_buffer(120); print(sysc(425, 8, ctypes.addressof(buf)))")
                #expect(probe == "ENOSYS", "io_uring_setup: \(probe)")
            }
        }

        @Test("kernel keyrings are closed")
        func keyrings() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let probe = try await daemon.probe(name, "print(sysc(NR['add_key'], 0, 0, 0, 0, 0), sysc(NR['keyctl'], 0, 0))")
                #expect(probe == "EPERM EPERM", "add_key, keyctl: \(probe)")
            }
        }

        @Test("bpf, perf_event_open, userfaultfd and open_by_handle_at are refused")
        func sharpSyscalls() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let probe = try await daemon.probe(
                    name, "print(*(sysc(NR[n], 0, 0, 0, 0, 0) for n in ['bpf', 'perf_event_open', 'userfaultfd', 'open_by_handle_at']))")
                #expect(probe == "EPERM EPERM EPERM EPERM", "bpf, perf_event_open, userfaultfd, open_by_handle_at: \(probe)")
            }
        }

        @Test("kernel modules and kexec are refused")
        func modulesAndKexec() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let probe = try await daemon.probe(
                    name, "print(*(sysc(NR[n], 0, 0, 0, 0) for n in ['init_module', 'finit_module', 'delete_module', 'kexec_load']))")
                #expect(probe == "EPERM EPERM EPERM EPERM", "\(probe)")
            }
        }

        @Test("the host's kernel log and quota administration are refused")
        func kernelLogAndQuotas() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let buf = "buf = ctypes.create_string_buffer(4096); "
                let probe = try await daemon.probe(
                    name, buf + "print(sysc(NR['syslog'], 3, ctypes.addressof(buf), 4096), sysc(NR['quotactl'], 0, 0, 0, 0))")
                #expect(probe == "EPERM EPERM", "syslog(READ_ALL), quotactl: \(probe)")
                let dmesg = try await daemon.exec(name, ["dmesg"])
                #expect(!dmesg.succeeded && dmesg.stdout.isEmpty, "\(dmesg)")
            }
        }

        @Test("AF_VSOCK, which is not namespaced, is refused")
        func vsock() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let probe = try await daemon.probe(name, "print(sock(40, socket.SOCK_STREAM, 0))")
                #expect(probe == "EAFNOSUPPORT", "AF_VSOCK: \(probe)")
            }
        }

        @Test("packet sockets and raw IP sockets other than ICMP are refused, and ping still works")
        func rawSockets() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let probe = try await daemon.probe(
                    name,
                    "print(sock(socket.AF_INET, socket.SOCK_RAW, 6), sock(socket.AF_INET6, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 17), sock(socket.AF_PACKET, socket.SOCK_RAW, 0), sock(socket.AF_INET, 10, 0))"
                )
                #expect(probe == "EPERM EPERM EPERM EPERM", "raw TCP, raw UDP over v6, packet, SOCK_PACKET: \(probe)")
                let ping = try await daemon.exec(name, ["ping", "-c", "1", "-W", "5", "127.0.0.1"])
                #expect(ping.succeeded, "ping over an ICMP datagram socket: \(ping)")
            }
        }

        @Test("mounts are refused")
        func mounts() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let result = try await daemon.sh(name, "mount -t tmpfs t /mnt; echo \"mount $?\"; mount -o remount,rw /sys; echo \"remount $?\"")
                #expect(result.statuses["mount"].map { $0 != 0 } == true, "\(result)")
                #expect(result.statuses["remount"].map { $0 != 0 } == true, "\(result)")
            }
        }

        @Test("a checkpoint view stays read-only whatever root does")
        func checkpointViewStaysReadOnly() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                _ = try await daemon.sh(name, "echo original > /root/file")
                let id = try await daemon.checkpoint(name)
                let view = "/.sprite/checkpoints/\(id)"
                let appeared = await eventually(timeout: .seconds(10)) {
                    (try? await daemon.exec(name, ["test", "-f", "\(view)/root/file"]))?.succeeded == true
                }
                #expect(appeared, "\(view) never appeared")
                let script = """
                    mount -o remount,rw \(view); echo "remount $?"
                    touch \(view)/root/planted 2>/dev/null; echo "write $?"
                    echo changed > \(view)/root/file 2>/dev/null; echo "overwrite $?"
                    cat \(view)/root/file
                    """
                let result = try await daemon.sh(name, script)
                #expect(result.statuses["remount"].map { $0 != 0 } == true, "\(result)")
                #expect(result.statuses["write"].map { $0 != 0 } == true, "\(result)")
                #expect(result.statuses["overwrite"].map { $0 != 0 } == true, "\(result)")
                #expect(result.stdout.contains("original"), "\(result)")
                // The btrfs read-only property (BTRFS_IOC_SUBVOL_SETFLAGS) is out of reach.
                let probe = try await daemon.probe(
                    name, "fd = os.open('\(view)', os.O_RDONLY); print(ioctl_errno(fd, 0x4008941a, bytes(8)))")
                #expect(probe == "EPERM", "clearing the read-only property: \(probe)")
            }
        }

        @Test("no sprite mounts the pool's shared base image")
        func baseImageNotMounted() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                _ = try await daemon.checkpoint(name)
                let result = try await daemon.sh(name, "ls /.sprite/checkpoints; grep -c '/images/' /proc/self/mountinfo")
                #expect(!result.stdout.lines.contains("v0"), "the base image is shown as v0: \(result)")
                #expect(result.stdout.lines.last == "0", "a mount of the pool's images: \(result)")
            }
        }

        @Test("/dev holds only the allowed device nodes")
        func deviceAllowList() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                // (find's -type trusts the directory entry, which names the tmpfs file under the bind.)
                let result = try await daemon.sh(
                    name, "for f in /dev/* /dev/net/*; do [ -c \"$f\" ] && [ ! -L \"$f\" ] && echo \"$f\"; done; test -e /dev/console; echo \"console $?\"")
                let nodes = Set(result.stdout.lines.filter { $0.hasPrefix("/dev/") })
                #expect(nodes == ["/dev/full", "/dev/null", "/dev/random", "/dev/tty", "/dev/urandom", "/dev/zero"], "\(result)")
                #expect(result.stdout.contains("console 1"), "\(result)")
            }
        }

        @Test("a device node on the sprite's disk cannot be opened")
        func deviceNodeOnDisk() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                // As an old base image or a planted disk would have it: the host's console, 0666.
                let id = try await daemon.spriteID(name)
                let node = "\(daemon.stateDirectory)/pool/sprites/\(id)/root/console"
                try await HostProcess.check("mknod", ["-m", "0666", node, "c", "5", "1"])
                let result = try await daemon.sh(name, "head -c 1 /console; echo \"read $?\"; echo x > /console; echo \"write $?\"")
                #expect(result.statuses["read"].map { $0 != 0 } == true, "\(result)")
                #expect(result.statuses["write"].map { $0 != 0 } == true, "\(result)")
            }
        }

        @Test("device nodes cannot be made")
        func mknod() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let result = try await daemon.sh(name, "mknod /root/console c 5 1; echo \"mknod $?\"; test -e /root/console; echo \"exists $?\"")
                #expect(result.statuses["mknod"].map { $0 != 0 } == true, "\(result)")
                #expect(result.statuses["exists"] == 1, "\(result)")
            }
        }

        @Test("the sprite's init cannot be traced or have its memory written")
        func initIsOutOfReach() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let probe = try await daemon.probe(name, "print(sysc(NR['ptrace'], 16, 1, 0, 0))")
                #expect(probe == "EPERM", "PTRACE_ATTACH to PID 1: \(probe)")
                let mem = try await daemon.sh(name, "echo x > /proc/1/mem; echo \"mem $?\"")
                #expect(mem.statuses["mem"].map { $0 != 0 } == true, "\(mem)")
            }
        }

        @Test("a process cannot push input into a terminal (TIOCSTI) or change its line discipline")
        func terminalInjection() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let probe = try await daemon.probe(
                    name, "m, s = os.openpty(); print(ioctl_errno(s, 0x5412, b'x'), ioctl_errno(s, 0x5423, bytes(4)))")
                #expect(probe == "EPERM EPERM", "TIOCSTI, TIOCSETD: \(probe)")
            }
        }

        @Test("a developer's tools still work: sudo, a low port, ip, ptrace of one's own child, chroot")
        func developerTools() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let sudo = try await daemon.exec(name, ["runuser", "-u", "sprite", "--", "sudo", "-n", "id", "-u"])
                #expect(sudo.succeeded && sudo.stdout.trimmed == "0", "\(sudo)")
                let port = try await daemon.probe(name, "t = socket.socket(); t.bind(('0.0.0.0', 80)); t.listen(); print('bound')")
                #expect(port == "bound", "\(port)")
                let ip = try await daemon.exec(name, ["ip", "addr", "show", "eth0"])
                #expect(ip.succeeded && ip.stdout.contains("inet "), "\(ip)")
                let trace = try await daemon.probe(
                    name,
                    """
                    pid = os.fork()
                    if pid == 0:
                        time.sleep(30); os._exit(0)
                    r = sysc(NR['ptrace'], 16, pid, 0, 0); os.kill(pid, 9); print(r)
                    """)
                #expect(trace == "0", "PTRACE_ATTACH to one's own child: \(trace)")
                let chroot = try await daemon.exec(name, ["chroot", "/", "true"])
                #expect(chroot.succeeded, "\(chroot)")
            }
        }

        // MARK: - The privileges policy

        @Test("GET policy/privileges answers the standard profile by default")
        func policyDefault() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let response = try await daemon.http("GET", "/v1/sprites/\(name)/policy/privileges")
                #expect(response.status == 200, "\(response)")
                #expect(response.json?["profile"] as? String == "standard", "\(response)")
                #expect(response.json?["noNewPrivileges"] as? Bool == false, "\(response)")
                #expect((response.json?["devices"] as? [String]) == [], "\(response)")
            }
        }

        @Test("the privileged profile allows nested containers, and DELETE closes them again")
        func privilegedProfile() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let set = try await daemon.http("POST", "/v1/sprites/\(name)/policy/privileges", body: Data(#"{"profile":"privileged"}"#.utf8))
                #expect(set.status == 200 && set.json?["profile"] as? String == "privileged", "\(set)")
                let nested = try await daemon.exec(name, ["unshare", "--user", "--map-root-user", "--mount", "true"])
                #expect(nested.succeeded, "\(nested)")
                let status = try await daemon.exec(name, ["cat", "/proc/self/status"])
                #expect(status.field("CapBnd") == Self.privilegedCaps, "\(status.stdout)")
                // Still closed in every profile.
                let vsock = try await daemon.probe(name, "print(sock(40, socket.SOCK_STREAM, 0), sysc(NR['bpf'], 0, 0, 0))")
                #expect(vsock == "EAFNOSUPPORT EPERM", "\(vsock)")

                let reset = try await daemon.http("DELETE", "/v1/sprites/\(name)/policy/privileges")
                #expect(reset.status == 200 && reset.json?["profile"] as? String == "standard", "\(reset)")
                let again = try await daemon.exec(name, ["unshare", "--user", "--map-root-user", "true"])
                #expect(!again.succeeded, "\(again)")
            }
        }

        @Test("the minimal profile narrows the capability set")
        func minimalProfile() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let set = try await daemon.http("POST", "/v1/sprites/\(name)/policy/privileges", body: Data(#"{"profile":"minimal"}"#.utf8))
                #expect(set.status == 200, "\(set)")
                let status = try await daemon.exec(name, ["cat", "/proc/self/status"])
                #expect(status.field("CapBnd") == Self.minimalCaps, "\(status.stdout)")
                let chroot = try await daemon.exec(name, ["chroot", "/", "true"])
                #expect(!chroot.succeeded, "\(chroot)")
            }
        }

        @Test("noNewPrivileges sets no_new_privs, so setuid binaries gain nothing")
        func noNewPrivileges() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let set = try await daemon.http(
                    "POST", "/v1/sprites/\(name)/policy/privileges", body: Data(#"{"noNewPrivileges":true}"#.utf8))
                #expect(set.status == 200 && set.json?["profile"] as? String == "standard", "\(set)")
                let status = try await daemon.exec(name, ["cat", "/proc/self/status"])
                #expect(status.field("NoNewPrivs") == "1", "\(status.stdout)")
                let sudo = try await daemon.exec(name, ["runuser", "-u", "sprite", "--", "sudo", "-n", "id", "-u"])
                #expect(!sudo.succeeded, "\(sudo)")
            }
        }

        @Test("an allowed extra device appears at the next boot and goes with the policy")
        func extraDevice() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let set = try await daemon.http("POST", "/v1/sprites/\(name)/policy/privileges", body: Data(#"{"devices":["fuse"]}"#.utf8))
                #expect(set.status == 200 && (set.json?["devices"] as? [String]) == ["fuse"], "\(set)")
                _ = try await daemon.sleep(name, state: "cold")
                let present = try await daemon.probe(name, "fd = os.open('/dev/fuse', os.O_RDWR); print('opened')")
                #expect(present == "opened", "\(present)")

                _ = try await daemon.http("DELETE", "/v1/sprites/\(name)/policy/privileges")
                _ = try await daemon.sleep(name, state: "cold")
                let gone = try await daemon.exec(name, ["test", "-e", "/dev/fuse"])
                #expect(!gone.succeeded, "/dev/fuse is still there after the policy dropped it")
            }
        }

        @Test("bad privileges policies answer 400 with the Sprites error body, unknown sprites 404")
        func policyBadInput() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                for body in [#"{"profile":"root"}"#, #"{"devices":["sda"]}"#, #"{"devices":"fuse"}"#, "[]"] {
                    let response = try await daemon.http("POST", "/v1/sprites/\(name)/policy/privileges", body: Data(body.utf8))
                    #expect(response.status == 400, "\(body): \(response)")
                    #expect(response.errorCode == "invalid_argument", "\(body): \(response)")
                }
                let after = try await daemon.http("GET", "/v1/sprites/\(name)/policy/privileges")
                #expect(after.json?["profile"] as? String == "standard", "a refused policy changed something: \(after)")
            }
            let missing = try await daemon.http("GET", "/v1/sprites/no-such-sprite/policy/privileges")
            #expect(missing.status == 404, "\(missing)")
        }

        @Test("hob policy privileges gets, sets and resets the policy")
        func privilegesCLI() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let set = try await daemon.cli("policy", "privileges", "set", name, "--profile", "minimal", "--no-new-privileges")
                #expect(set.status == 0 && set.stdout.contains("profile minimal") && set.stdout.contains("no_new_privs on"), "\(set)")
                let get = try await daemon.cli("policy", "privileges", "get", name, "--json")
                let json = try JSONSerialization.jsonObject(with: Data(get.stdout.utf8)) as? [String: Any]
                #expect(json?["profile"] as? String == "minimal" && json?["noNewPrivileges"] as? Bool == true, "\(get)")
                let bad = try await daemon.cli("policy", "privileges", "set", name, "--profile", "root")
                #expect(bad.status != 0 && bad.stderr.contains("profile must be one of"), "\(bad)")
                let reset = try await daemon.cli("policy", "privileges", "reset", name)
                #expect(reset.status == 0 && reset.stdout.contains("profile standard"), "\(reset)")
            }
        }

        @Test("a fork inherits its source's privileges")
        func forkInheritsPrivileges() async throws {
            let daemon = try DaemonFixture.shared()
            let fork = TestEnvironment.spriteName("fork")
            try await daemon.withSprite { name in
                _ = try await daemon.http("POST", "/v1/sprites/\(name)/policy/privileges", body: Data(#"{"profile":"minimal"}"#.utf8))
                try await daemon.cleaningUp(sprites: [fork]) {
                    let body = #"{"name":"\#(fork)","source":{"sprite":"\#(name)"}}"#
                    let created = try await daemon.http("POST", "/v1/sprites", body: Data(body.utf8))
                    #expect(created.status == 201, "\(created)")
                    let policy = try await daemon.http("GET", "/v1/sprites/\(fork)/policy/privileges")
                    #expect(policy.json?["profile"] as? String == "minimal", "\(policy)")
                }
            }
        }

        // MARK: - The host side

        @Test("the pool is mounted nosuid and nodev, and state and image cache are root's alone")
        func hostSide() async throws {
            let daemon = try DaemonFixture.shared()
            let mounts = KernelFile.text("/proc/self/mounts")
            let pool = try #require(mounts.lines.first { $0.split(separator: " ").dropFirst().first == "\(daemon.stateDirectory)/pool" })
            let options = pool.split(separator: " ")[3].split(separator: ",")
            #expect(options.contains("nosuid") && options.contains("nodev"), "\(pool)")
            for dir in [daemon.stateDirectory, "/var/cache/hob", "/var/cache/hob/images"] {
                var st = stat()
                #expect(stat(dir, &st) == 0 && st.st_mode & 0o077 == 0, "\(dir) is open to other users: \(String(st.st_mode, radix: 8))")
            }
        }
    }
}

// MARK: - Probing syscalls from inside

extension DaemonFixture {
    /// Runs `code` in python3 inside the sprite with helpers that report an errno name (or 0):
    /// `sysc(nr, *args)` for a raw syscall, `sock(family, type, proto)`, `ioctl_errno(fd, req, arg)`,
    /// and `NR`, syscall numbers by name for this machine. Returns stdout, trimmed.
    func probe(_ sprite: String, _ code: String) async throws -> String {
        let prelude = """
            import ctypes, errno, fcntl, os, platform, socket, time
            libc = ctypes.CDLL(None, use_errno=True)
            NR = {
                'x86_64': dict(unshare=272, add_key=248, keyctl=250, bpf=321, perf_event_open=298, userfaultfd=323,
                               open_by_handle_at=304, init_module=175, finit_module=313, delete_module=176, kexec_load=246,
                               ptrace=101, syslog=103, quotactl=179),
                'aarch64': dict(unshare=97, add_key=217, keyctl=219, bpf=280, perf_event_open=241, userfaultfd=282,
                                open_by_handle_at=265, init_module=105, finit_module=273, delete_module=106, kexec_load=104,
                                ptrace=117, syslog=116, quotactl=60),
            }[platform.machine()]
            def name(e): return errno.errorcode.get(e, str(e)) if e else '0'
            def sysc(nr, *args):
                r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
                return name(ctypes.get_errno() if r < 0 else 0)
            def sock(family, kind, proto):
                try:
                    socket.socket(family, kind, proto).close(); return '0'
                except OSError as e:
                    return name(e.errno)
            def ioctl_errno(fd, request, arg):
                try:
                    fcntl.ioctl(fd, request, arg); return '0'
                except OSError as e:
                    return name(e.errno)

            """
        let result = try await exec(sprite, ["python3", "-c", prelude + code])
        guard result.exitCode == 0 else { throw TestFailure("probe failed in \(sprite): \(result)") }
        return result.stdout.trimmed
    }
}

extension ExecResult {
    /// `label N` lines of a script's output (`cmd; echo "label $?"`), by label.
    var statuses: [String: Int] {
        var found: [String: Int] = [:]
        for line in stdout.lines {
            let parts = line.split(separator: " ")
            if parts.count == 2, let n = Int(parts[1]) { found[String(parts[0])] = n }
        }
        return found
    }

    /// A `Key:\tvalue` field of /proc/<pid>/status output.
    func field(_ key: String) -> String? {
        stdout.lines.first { $0.hasPrefix(key + ":") }.map { String($0.dropFirst(key.count + 1)).trimmed }
    }
}
