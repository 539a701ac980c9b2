// The default base image: Debian bookworm with what a developer expects at a root shell.
//
// Built once with debootstrap into a cache outside the state directory (default /var/cache/hob),
// so every state directory on the machine — tests and CI included — reuses it. Concurrent
// builders take a file lock; a build interrupted half-way is thrown away and started again.
import Foundation
import Glibc
import HobOS
import Logging
import Synchronization

public enum BaseImage {
    /// Bump when the recipe changes: a new name means a new build and a new pool image.
    public static let name = "bookworm-v3"

    static let packages = [
        "ca-certificates", "curl", "git", "python3", "iproute2", "procps", "less", "nano", "vim-tiny", "sudo",
        "iputils-ping", "netbase", "xz-utils", "openssh-client",
    ]

    /// Returns the path of the cached rootfs, building it first when needed.
    public static func ensure(cacheDirectory: String, mirror: String, logger: Logger) async throws -> String {
        let imagesDir = "\(cacheDirectory)/images"
        let final = "\(imagesDir)/\(name)"
        if Files.exists("\(final)/ready") { return "\(final)/rootfs" }
        try Files.makeDirectory(imagesDir, mode: 0o755)

        let lockPath = "\(imagesDir)/\(name).lock"
        let lock = try syscall("open \(lockPath)") { open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644) }
        defer { close(lock) }
        if flock(lock, LOCK_EX | LOCK_NB) != 0 {
            logger.info("another Hob is building the base image; waiting for it", metadata: ["lock": "\(lockPath)"])
            _ = try await offload { flock(lock, LOCK_EX) }
        }
        defer { flock(lock, LOCK_UN) }
        if Files.exists("\(final)/ready") { return "\(final)/rootfs" }

        guard HostCommand.isInstalled("debootstrap") else {
            throw HobError(
                .unavailable,
                "building the base image needs debootstrap; install it with `apt-get install debootstrap` (scripts/setup does this)")
        }
        let work = "\(imagesDir)/\(name).partial"
        _ = try? await HostCommand.run("rm", ["-rf", "--one-file-system", work])
        try Files.makeDirectory(work, mode: 0o755)
        let rootfs = "\(work)/rootfs"

        logger.info("building base image \(name) with debootstrap (once per machine; a few minutes)", metadata: ["mirror": "\(mirror)"])
        let started = Date()
        let counter = ProgressCounter()
        try await HostCommand.run(
            "debootstrap",
            ["--variant=minbase", "--include=\(packages.joined(separator: ","))", "bookworm", rootfs, mirror],
            onLine: { line in
                // debootstrap prints "I: Retrieving x", "I: Unpacking x", "I: Configuring x": show them,
                // numbered, so a person watching sees it move.
                guard line.hasPrefix("I: ") || line.hasPrefix("W: ") || line.hasPrefix("E: ") else { return }
                logger.info("base image [\(counter.next())] \(line.dropFirst(3))")
            })
        try await customize(rootfs, mirror: mirror)
        try Files.writeAtomically("\(work)/ready", "\(name) built \(ISO8601DateFormatter().string(from: Date()))\n")
        try syscall("rename \(work) → \(final)") { rename(work, final) }
        logger.info("base image ready", metadata: ["seconds": "\(Int(Date().timeIntervalSince(started)))", "path": "\(final)"])
        return "\(final)/rootfs"
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

final class ProgressCounter: Sendable {
    private let value = Mutex(0)
    func next() -> Int { value.withLock { $0 += 1; return $0 } }
}
