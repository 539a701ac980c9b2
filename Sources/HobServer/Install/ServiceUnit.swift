// The systemd unit that runs `hob serve` at boot (`hob install` writes it, `hob install --print`
// shows it). Every setting follows from how the daemon really starts and stops; the comments in the
// text say why, so that whoever reads /etc/systemd/system/hob.service learns it there.

/// `hob.service`: one `hob serve` with the flags it was installed with.
struct ServiceUnit: Sendable, Equatable {
    /// `<bin-dir>/hob`, absolute.
    var executable: String
    /// What follows `serve` on the command line, as given (already validated by ServeFlags).
    var serveArguments: [String]
    /// The daemon's `--shutdown-grace`, in seconds: TimeoutStopSec adds the time sprites and the
    /// network take to stop after it.
    var shutdownGraceSeconds: Int
    /// The descriptor limit: the kernel's fs.nr_open where `hob install` runs.
    var openFiles: Int

    static let fileName = "hob.service"
    /// How long stopping sprites (in parallel: a 2 s grace each, then SIGKILL and cgroup removal),
    /// the network and the pool may take after the grace period, with a wide margin.
    static let stopAllowanceSeconds = 60
    static let defaultOpenFiles = 1_048_576

    init(executable: String, serveArguments: [String], shutdownGraceSeconds: Int = 10, openFiles: Int = Self.defaultOpenFiles) {
        self.executable = executable
        self.serveArguments = serveArguments
        self.shutdownGraceSeconds = shutdownGraceSeconds
        self.openFiles = openFiles
    }

    var timeoutStopSeconds: Int { shutdownGraceSeconds + Self.stopAllowanceSeconds }

    /// The ExecStart= value: each word quoted the way systemd splits it back.
    var execStart: String { ([executable, "serve"] + serveArguments).map(Self.quote).joined(separator: " ") }

    var text: String {
        """
        # Hob: durable Linux sandboxes (sprites) that speak the Sprites v1 API.
        # Written by `hob install`; running it again rewrites this file (`hob install --print` shows it,
        # `hob uninstall` removes it and never the state directory). docs/OPERATIONS.md has the upgrade path.
        [Unit]
        Description=Hob sprites daemon (hob serve)
        # The daemon only needs the host's addresses to exist when it listens; sprites reach the
        # outside world through NAT, which works whenever the host does.
        Wants=network-online.target
        After=network-online.target

        [Service]
        # hob serve stays in the foreground and tells systemd when its API answers (sd_notify
        # READY=1), so `systemctl start` returns once clients can connect. The first start builds
        # the Debian base image with debootstrap, which can take many minutes on a slow mirror.
        Type=notify
        NotifyAccess=main
        TimeoutStartSec=30min
        ExecStart=\(execStart)
        # A crash (or kill -9) leaves sprites running in their own cgroups: the next start adopts them.
        Restart=on-failure
        RestartSec=2s
        # SIGTERM is hob serve's clean stop: it lets requests under way finish (--shutdown-grace),
        # stops every sprite (their disks stay; they boot again on their next exec), removes its
        # bridge, nftables table and veths, and unmounts its storage pool.
        KillSignal=SIGTERM
        # mixed: SIGTERM goes to hob serve alone, so the host commands it runs while stopping (nft,
        # ip, umount, btrfs) are not interrupted; whatever is left in this unit's cgroup once it has
        # exited gets SIGKILL. Sprites run in cgroups of their own, outside this one (see Delegate).
        KillMode=mixed
        # The grace period, then about a minute for sprites, network and pool. Past it systemd sends
        # SIGKILL, which costs nothing but tidiness: the next start adopts or cleans up like after a crash.
        TimeoutStopSec=\(timeoutStopSeconds)s
        # Delegate=no (the default): sprite cgroups are not under this unit. hob serve makes
        # <instance>/<sprite> at the root of every cgroup hierarchy, next to systemd's slices, so
        # that stopping or restarting the unit never kills sprites behind the daemon's back and a
        # restarted daemon finds them where it left them. Nothing is delegated because the daemon
        # creates nothing below its own cgroup. The accounting settings keep the cpu, memory and
        # pids controllers enabled at the root for as long as the unit runs, so systemd does not
        # try to switch off what sprite limits use.
        Delegate=no
        CPUAccounting=yes
        MemoryAccounting=yes
        TasksAccounting=yes
        # Every connection and sprite costs descriptors. The daemon raises its soft limit to this
        # hard limit itself; systemd's default hard limit is lower on some distributions.
        LimitNOFILE=\(openFiles)
        # No sandboxing options on purpose: hob serve runs as root and must create namespaces,
        # cgroups, loop devices, btrfs and idmapped mounts, veths and nftables tables, and write
        # sysctls. ProtectSystem=, PrivateTmp=, PrivateDevices= and the like would give it a mount
        # namespace of its own, where the pool and sprite mounts would end with the process (a
        # restarted daemon could not adopt them); NoNewPrivileges=, CapabilityBoundingSet=,
        # RestrictNamespaces=, SystemCallFilter=, ProtectKernelTunables=, ProtectControlGroups=
        # and RestrictAddressFamilies= would each break one of the above.

        [Install]
        WantedBy=multi-user.target

        """
    }

    /// One ExecStart word: plain when it is, else double-quoted with systemd's escapes. `%` and
    /// `$` are doubled everywhere (systemd expands specifiers and variables even inside quotes).
    static func quote(_ word: String) -> String {
        var escaped = ""
        for character in word {
            switch character {
            case "%": escaped += "%%"
            case "$": escaped += "$$"
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            default: escaped.append(character)
            }
        }
        let plain = !word.isEmpty && word.allSatisfy { $0.isLetter || $0.isNumber || "-_./:=,@%+[]$".contains($0) }
        return plain ? escaped : "\"\(escaped)\""
    }
}
