// The default base image: Debian bookworm with what a developer expects at a root shell.
//
// Built once with debootstrap into a cache outside the state directory (default /var/cache/hob),
// so every state directory on the machine — tests and CI included — reuses it. Concurrent
// builders take a file lock; a build interrupted half-way is thrown away and started again.
//
// The image is what every sprite starts from, so it is guarded: the cache is readable by root
// only, the image carries no device nodes (a sprite's /dev is built at boot), and its content
// digest, taken when it was built, is checked against each copy imported into a pool.
import Foundation
import Glibc
import HobOS
import Logging
import Synchronization

public enum BaseImage {
    /// Bump when the recipe changes: a new name means a new build and a new pool image.
    /// (v5: `python` is python3, with pip and venv, jq and unzip, as the Sprites SDK examples and
    /// scripts written for Sprites expect; sprites made from v4 keep their disks as they are.)
    public static let name = "bookworm-v5"

    static let packages = [
        "ca-certificates", "curl", "git", "python3", "python-is-python3", "python3-pip", "python3-venv", "iproute2",
        "procps", "less", "nano", "vim-tiny", "sudo", "iputils-ping", "netbase", "xz-utils", "openssh-client", "jq", "unzip",
    ]

    /// A built image in the cache: its rootfs and the digest taken when it was built.
    public struct Cached: Sendable {
        public var rootfs: String
        public var digest: String
    }

    /// Returns the cached image, building it first when needed.
    public static func ensure(cacheDirectory: String, mirror: String, logger: Logger) async throws -> Cached {
        let imagesDir = "\(cacheDirectory)/images"
        let final = "\(imagesDir)/\(name)"
        // Root only: the image holds what every sprite will run.
        for dir in [cacheDirectory, imagesDir] {
            try Files.makeDirectory(dir, mode: 0o700)
            try syscall("chmod 0700 \(dir)") { chmod(dir, 0o700) }
        }
        if let cached = try readCached(final) { return cached }

        let lockPath = "\(imagesDir)/\(name).lock"
        let lock = try syscall("open \(lockPath)") { open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644) }
        defer { close(lock) }
        if flock(lock, LOCK_EX | LOCK_NB) != 0 {
            logger.info("another Hob is building the base image; waiting for it", metadata: ["lock": "\(lockPath)"])
            _ = try await offload { flock(lock, LOCK_EX) }
        }
        defer { flock(lock, LOCK_UN) }
        if let cached = try readCached(final) { return cached }

        guard HostCommand.isInstalled("debootstrap") else {
            throw HobError(
                .unavailable,
                "building the base image needs debootstrap; install it with `apt-get install debootstrap` (scripts/setup does this)")
        }
        let work = "\(imagesDir)/\(name).partial"
        // A build cut short (the daemon killed under debootstrap) can leave /proc mounted in its
        // rootfs, which the removal would not cross and the next build would trip over.
        let stuck = Mounts.detachAll(below: work)
        guard stuck.isEmpty else {
            throw HobError(.unavailable, "an earlier base image build left mounts under \(work) that cannot be detached: \(stuck.joined(separator: ", "))")
        }
        _ = try? await HostCommand.run("rm", ["-rf", "--one-file-system", work])
        try Files.makeDirectory(work, mode: 0o755)
        let rootfs = "\(work)/rootfs"

        logger.info("building base image \(name) with debootstrap (once per machine; a few minutes)", metadata: ["mirror": "\(mirror)"])
        let started = Date()
        let progress = BuildProgress(title: "base image", logger: logger)
        let records = Mutex(DebootstrapProgress())
        // debootstrap's share of the whole build; customizing and the digest take the rest.
        let debootstrapShare = 0.92
        let digest: String
        do {
            // fd 3 carries debootstrap's progress records (to stdout here); its own output goes to stderr.
            try await HostCommand.run(
                "bash",
                [
                    "-c", #"exec debootstrap --debian-installer "$@" 3>&1 1>&2"#, "debootstrap",
                    "--variant=minbase", "--include=\(packages.joined(separator: ","))", "bookworm", rootfs, mirror,
                ],
                onLine: { line in
                    switch records.withLock({ $0.feed(line[...]) }) {
                    case .progress(let fraction, let phase)?: progress.update(fraction * debootstrapShare, phase: phase)
                    case .info(let message)?: progress.detail(message)
                    case .warning(let message)?: progress.note(message, level: .warning)
                    case .error(let message)?: progress.note(message, level: .error)
                    case nil: break
                    }
                })
            progress.update(debootstrapShare, phase: "adding users, certificates and settings")
            try await customize(rootfs, mirror: mirror)
            progress.update(0.96, phase: "taking the content digest")
            digest = try await Self.digest(of: rootfs)
        } catch {
            progress.finish(succeeded: false)
            throw error
        }
        progress.update(1, phase: "ready")
        progress.finish()
        try Files.writeAtomically("\(work)/digest", digest + "\n")
        try Files.writeAtomically("\(work)/ready", "\(name) built \(ISO8601DateFormatter().string(from: Date()))\n")
        try syscall("rename \(work) → \(final)") { rename(work, final) }
        logger.info("base image ready", metadata: ["seconds": "\(Int(Date().timeIntervalSince(started)))", "path": "\(final)", "digest": "\(digest)"])
        return Cached(rootfs: "\(final)/rootfs", digest: digest)
    }

    /// The finished image at `dir`, or nil when there is none. An image without its digest
    /// cannot be trusted and is an error (remove the directory to rebuild it).
    static func readCached(_ dir: String) throws -> Cached? {
        guard Files.exists("\(dir)/ready") else { return nil }
        guard let digest = try? Files.read("\(dir)/digest").trimmingCharacters(in: .whitespacesAndNewlines), digest.count == 64 else {
            throw HobError(.internalError, "the base image at \(dir) has no content digest; remove that directory and start again to rebuild it")
        }
        return Cached(rootfs: "\(dir)/rootfs", digest: digest)
    }

    /// A SHA-256 over the whole tree in a canonical order: names, types, modes, owners, extended
    /// attributes (file capabilities), link targets and contents; not timestamps.
    public static func digest(of rootfs: String) async throws -> String {
        // PAX headers would otherwise carry access and change times, and the tar process's pid.
        let tar = "tar --sort=name --numeric-owner --mtime=@0 --format=posix --xattrs --xattrs-include='*' "
            + "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime"
        let script = "\(tar) -C \"$1\" -cf - . | sha256sum"
        let result = try await HostCommand.run("bash", ["-o", "pipefail", "-c", script, "digest", rootfs])
        guard let digest = result.stdout.split(separator: " ").first.map(String.init), digest.count == 64 else {
            throw HobError(.internalError, "could not take the digest of \(rootfs)")
        }
        return digest
    }

    static func customize(_ rootfs: String, mirror: String) async throws {
        try Files.writeAtomically(
            "\(rootfs)/etc/apt/sources.list",
            """
            deb \(mirror) bookworm main
            deb \(mirror) bookworm-updates main
            deb http://deb.debian.org/debian-security bookworm-security main

            """)
        try await HostCommand.run("chroot", [rootfs, "useradd", "--create-home", "--shell", "/bin/bash", "--uid", "1000", "--groups", "sudo", "sprite"])
        try Files.writeAtomically("\(rootfs)/etc/sudoers.d/sprite", "sprite ALL=(ALL) NOPASSWD:ALL\n", mode: 0o440)
        try await trustHostCertificates(rootfs)
        try await HostCommand.run("chroot", [rootfs, "apt-get", "clean"])
        try await HostCommand.run("sh", ["-c", "rm -rf '\(rootfs)'/var/lib/apt/lists/* '\(rootfs)'/var/cache/apt/*.bin '\(rootfs)'/var/log/*.log"])
        // Boot writes these for each sprite (hob-init Setup.writeIdentity).
        for file in ["etc/resolv.conf", "etc/hosts", "etc/hostname"] { unlink("\(rootfs)/\(file)") }
        // No device nodes: debootstrap leaves some (console, null, tty…) in /dev, and a node on the
        // disk would be a door to the host's device of that number.
        try await HostCommand.run("find", [rootfs, "-xdev", "(", "-type", "b", "-o", "-type", "c", ")", "-delete"])
        try Files.makeDirectory("\(rootfs)/.sprite")
        try Files.writeAtomically(
            "\(rootfs)/etc/profile.d/hob.sh",
            """
            # Hob sprite defaults.
            export LANG=${LANG:-C.UTF-8}
            # Hob's in-sprite tools (sprite-env); login shells rebuild PATH from /etc/profile.
            case ":$PATH:" in *:/.sprite/bin:*) ;; *) export PATH="$PATH:/.sprite/bin" ;; esac

            """)
    }
}

extension BaseImage {
    /// Sprites trust what the host trusts: local CA certificates the host added (a corporate or
    /// egress TLS proxy, an internal CA) are copied in, so curl, git and apt behave as on the host.
    static func trustHostCertificates(_ rootfs: String) async throws {
        let source = "/usr/local/share/ca-certificates"
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: source)) ?? []).filter { $0.hasSuffix(".crt") }
        guard !files.isEmpty else { return }
        let target = "\(rootfs)/usr/local/share/ca-certificates"
        try Files.makeDirectory(target)
        for file in files {
            try await HostCommand.run("cp", ["--dereference", "\(source)/\(file)", "\(target)/\(file)"])
        }
        try await HostCommand.run("chroot", [rootfs, "update-ca-certificates"])
    }
}
