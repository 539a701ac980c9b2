// Runtime: starts and stops a sprite's isolation boundary with Linux namespaces and cgroups.
//
// Boot, in order (each step names itself in errors):
//   1. bind the agent socket at run/<id>/agent.sock (0700 directory; only the daemon can reach it);
//   2. clone hob-init into new user, mount, pid, uts, ipc and network namespaces (C, CHobShim),
//      where it waits for a "go" byte;
//   3. beside steps 4–6, on a thread of its own: create the sprite's cgroups with its limits and
//      move the child into them (the slowest step: it waits for an RCU grace period);
//   4. map root in the sprite to an unprivileged host uid/gid range no other running sprite on
//      the host has (HostIDRanges.swift: allocated host-wide, across daemons, for this boot, on
//      a task started before step 1);
//   5. give its network namespace a veth on the bridge (eth0 with the sprite's fixed MAC address,
//      which its bridge port is pinned to), over netlink (HostNetwork.attach);
//   6. hand it an idmapped mount of its disk, so files stay owned by uid 0..65535 on disk while
//      each sprite runs under its own host range (no chown of the tree, per-sprite isolation);
//      with read-only mounts of hob-init, of the sprite API directory (run/api, api.sock) and of
//      its policy directory (run/<id>/policy), and its network policy applied to the filter;
//   7. once step 3 is done, send "go" and wait for hob-init to report "R" (ready) after pivot_root.
// Knows processes and isolation, never the API or the database.
import CHobShim
import Foundation
import Glibc
import HobAgentProtocol
import HobOS
import Logging
import Synchronization

public final class NamespaceRuntime: Runtime {
    let config: DaemonConfig
    let storage: any Storage
    let network: HostNetwork
    let cgroups: CgroupLayout
    let watcher: ProcessWatcher
    let logger: Logger
    let hostIDs: HostIDAllocator
    /// This daemon's sprites by the index of the host id range they run under (booting, running
    /// or asleep): who a peer uid of the in-sprite API is.
    let rangeOwners = Mutex<[Int: String]>([:])

    /// Sprites one daemon can hold (slots: addresses and MACs).
    static let maxSlots = 16383

    /// The runtime's name in requests and records.
    public static let name = "namespaces"

    public var capabilities: RuntimeCapabilities {
        RuntimeCapabilities(name: Self.name, memoryCheckpoints: false, capacity: Self.maxSlots)
    }

    public init(config: DaemonConfig, storage: any Storage, network: HostNetwork, cgroups: CgroupLayout, watcher: ProcessWatcher, logger: Logger) throws {
        self.config = config
        self.storage = storage
        self.network = network
        self.cgroups = cgroups
        self.watcher = watcher
        self.logger = logger
        hostIDs = HostIDAllocator(directory: HostNetwork.runtimeDirectory, instance: config.instance)
        try Cgroup.prepareParent(layout: cgroups, parent: config.instance)
        try Files.makeDirectory(config.runDirectory, mode: 0o700)
        // The sprite API socket's directory: 0755 so sprites (unprivileged host uids) can reach
        // api.sock in it. They never do so by path (run/ stays 0700): each sprite gets a detached
        // read-only mount of this directory at boot.
        try Files.makeDirectory(config.spriteAPIDirectory, mode: 0o755)
        try syscall("chmod 0755 \(config.spriteAPIDirectory)") { chmod(config.spriteAPIDirectory, 0o755) }
        let probe = "\(config.runDirectory)/0123456789abcdef/agent.sock"
        guard probe.utf8.count < 108 else {
            throw HobError(.invalidArgument, "state directory path is too long for unix sockets (\(probe.utf8.count) bytes); use a shorter --state-dir")
        }
    }

    func cgroup(_ id: String) -> Cgroup { Cgroup(layout: cgroups, parent: config.instance, name: id) }
    func runDirectory(_ id: String) -> String { "\(config.runDirectory)/\(id)" }
    func agentSocket(_ id: String) -> String { "\(runDirectory(id))/agent.sock" }
    func pidFile(_ id: String) -> String { "\(runDirectory(id))/init.pid" }
    /// Shown read-only in the sprite at /.sprite/policy (a detached mount of the directory, so a
    /// replaced file shows through).
    func policyDirectory(_ id: String) -> String { "\(runDirectory(id))/policy" }

    /// Writes the sprite's network policy where it sees it (/.sprite/policy/network.json). Not
    /// fsynced: the database holds the policy, and every boot and adoption writes this copy again.
    func writePolicyFile(_ sprite: SpriteRecord) throws {
        let dir = policyDirectory(sprite.id)
        try Files.makeDirectory(dir, mode: 0o755)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: (try? encoder.encode(sprite.networkPolicy)) ?? Data(#"{"rules":[]}"#.utf8), as: UTF8.self)
        try Files.writeAtomically("\(dir)/network.json", json + "\n", mode: 0o644, durable: false)
    }

    /// Applies a changed network policy to a running (or sleeping) sprite: its filter at once,
    /// and the copy it sees.
    public func applyNetworkPolicy(_ sprite: SpriteRecord) async throws {
        let step = "apply the network policy of sprite \(sprite.name)"
        do {
            try await network.applyEgress(address: config.subnet.address(slot: sprite.slot), policy: sprite.networkPolicy)
            if Files.exists(policyDirectory(sprite.id)) { try writePolicyFile(sprite) }
        } catch {
            throw HobError(.internalError, step, cause: error)
        }
    }

    static func limits(for sprite: SpriteRecord, defaults: SpriteDefaults) -> CgroupLimits {
        CgroupLimits(
            memoryBytes: Int64(sprite.ramMB) << 20, cpuQuotaMicros: Int((sprite.cpus * 100_000).rounded()),
            pidsMax: defaults.pidsMax, devices: sprite.privileges.deviceNodes.map(\.cgroupRule))
    }

    /// Boots the sprite. `onExit` runs when its init exits, whatever the reason.
    public func boot(_ sprite: SpriteRecord, onExit: @escaping @Sendable () -> Void) async throws -> RunningSprite {
        let log = logger.with(sprite: sprite)
        guard storage.hasDisk(sprite.id) else {
            throw HobError(.internalError, "sprite \(sprite.name) has no disk in the storage (\(storage.diskDirectory(sprite.id)))")
        }
        let started = ContinuousClock.now
        var timings = StepTimings()
        let group = cgroup(sprite.id)
        let listener: Int32
        let initFD: Int32
        let child: ClonedInit
        // The host-wide uid range is taken beside the clone (it locks a host-wide table and scans
        // /proc); it is needed only for the uid map.
        let allocation = Task { try await self.allocateHostIDs(sprite.id) }
        do {
            try Files.makeDirectory(runDirectory(sprite.id), mode: 0o700)
            listener = try listen(at: agentSocket(sprite.id))
            initFD = try syscall("open \(config.initExecutable)") { open(config.initExecutable, Int32(HOB_O_PATH) | O_CLOEXEC) }
        } catch {
            _ = await allocation.result
            await cleanUp(sprite.id)
            throw HobError.wrap(error, "prepare sprite \(sprite.name)")
        }
        defer {
            close(listener)
            close(initFD)
        }
        do {
            timings.mark("listen")
            child = try SpriteProcess.clone(
                initExecutableFD: initFD, listenFD: listener,
                namespaces: [.user, .mount, .pid, .uts, .ipc, .network], arguments: ["hob-init", "setup"])
        } catch {
            _ = await allocation.result
            await cleanUp(sprite.id)
            throw HobError.wrap(error, "start sprite \(sprite.name)")
        }
        defer { close(child.controlFD) }
        timings.mark("clone")
        // The cgroups are made and the child moved into them on a thread of their own, while the
        // rest is set up here: a move waits for an RCU grace period of the kernel's cgroup lock
        // (several milliseconds, the longest step of a boot), and nothing else needs it before
        // the child is let go. Until then the child only waits for its "go" byte.
        let limits = Self.limits(for: sprite, defaults: config.defaults)
        let placed = Task {
            try await offload {
                let start = ContinuousClock.now
                try group.create(limits: limits)
                try group.add(pid: child.pid)
                return ContinuousClock.now - start
            }
        }
        let ids: HostIDRange
        do {
            ids = try await allocation.value
            timings.mark("ids_wait")
            try SpriteProcess.writeIDMap(pid: child.pid, hostBase: ids.first, count: HostIDRange.size)
            timings.mark("idmap")
            _ = try await network.attach(
                spriteID: sprite.id, pid: child.pid, address: config.subnet.address(slot: sprite.slot), mac: macAddress(sprite))
            timings.mark("veth")
            try await network.applyEgress(address: config.subnet.address(slot: sprite.slot), policy: sprite.networkPolicy, fresh: true)
            timings.mark("egress")
            let rootFD = try SpriteProcess.idmappedTree(storage.diskDirectory(sprite.id), forUserNamespaceOf: child.pid)
            defer { close(rootFD) }
            let initMountFD = try SpriteProcess.readOnlyTree(config.initExecutable)
            defer { close(initMountFD) }
            let apiMountFD = try SpriteProcess.readOnlyTree(config.spriteAPIDirectory)
            defer { close(apiMountFD) }
            try writePolicyFile(sprite)
            let policyMountFD = try SpriteProcess.readOnlyTree(policyDirectory(sprite.id))
            defer { close(policyMountFD) }
            let devicesFD = try deviceDirectory(sprite, hostRoot: ids.first)
            defer { if let devicesFD { close(devicesFD) } }
            let boot = BootConfig(
                hostname: sprite.name, address: config.subnet.address(slot: sprite.slot),
                prefixLength: UInt8(config.subnet.prefixLength), gateway: config.subnet.gateway,
                nameservers: network.nameservers, privileges: sprite.privileges)
            timings.mark("mounts")
            // In its cgroups (with their limits) before it runs anything: hob-init's first step
            // makes its cgroup namespace from where it is placed.
            let placing = try await placed.value
            timings.record("cgroup", placing)
            timings.mark("cgroup_wait")
            try SpriteProcess.send(child.controlFD, Array("G".utf8))
            try SpriteProcess.send(child.controlFD, boot.encoded(), fds: [rootFD, initMountFD, apiMountFD, policyMountFD] + (devicesFD.map { [$0] } ?? []))
            let reply = try await waitForReady(child.controlFD)
            guard reply.first == UInt8(ascii: "R") else { throw bootFailure(reply) }
            timings.mark("init_setup")
        } catch {
            _ = SpriteProcess.signal(pidfd: child.pidfd, SIGKILL)
            close(child.pidfd)
            SpriteProcess.reapIfChild(child.pid)
            // The cgroups may still be in the making: cleaned up only once that is over.
            _ = await placed.result
            _ = await allocation.result
            await cleanUp(sprite.id)
            throw HobError.wrap(error, "boot sprite \(sprite.name)")
        }

        let startTime = SpriteProcess.startTime(of: child.pid) ?? 0
        // The range is recorded with the pid: a restarted daemon adopting the sprite keeps it.
        // Not fsynced: only a daemon restart reads it, and the page cache outlives the daemon;
        // after a host crash there is no sprite left to adopt.
        try? Files.writeAtomically(pidFile(sprite.id), "\(child.pid) \(startTime) \(ids.index)\n", durable: false)
        watcher.watch(pid: child.pid, pidfd: child.pidfd, onExit: onExit)
        close(child.pidfd)
        timings.mark("record")
        log.debug("boot steps", metadata: ["ms": "\(timings.summary)"])
        log.info("sprite booted", metadata: ["pid": "\(child.pid)", "ms": "\((ContinuousClock.now - started).milliseconds)"])
        return RunningSprite(runtime: Self.name, agent: AgentEndpoint(socketPath: agentSocket(sprite.id)), pid: child.pid, startTime: startTime, hostIDs: ids)
    }

    func macAddress(_ sprite: SpriteRecord) -> String { HostNetwork.macAddress(instance: config.instance, slot: sprite.slot) }

    /// The optional device nodes of the sprite's privileges policy, made on the host for this
    /// sprite alone (the host's own are usually root's, mode 0600, and closed to the sprite), as a
    /// detached mount that hob-init binds them from. Nil when the policy adds none.
    func deviceDirectory(_ sprite: SpriteRecord, hostRoot: UInt32) throws -> Int32? {
        let extras = sprite.privileges.deviceNodes.filter { !$0.isBasic && Files.exists("/dev/\($0.name)") }
        guard !extras.isEmpty else { return nil }
        let dir = "\(runDirectory(sprite.id))/dev"
        try? Files.removeTree(dir)
        try Files.makeDirectory(dir, mode: 0o755)
        for node in extras {
            let path = "\(dir)/\(node.fileName)"
            let minor = UInt64(node.minor ?? 0)
            let major = UInt64(node.major)
            // makedev(3): the kernel's 64-bit encoding of (major, minor).
            let device = (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12) | ((major & ~0xfff) << 32)
            try syscall("mknod \(path)") { mknod(path, S_IFCHR | 0o666, dev_t(device)) }
            try syscall("chmod \(path)") { chmod(path, 0o666) }
            try syscall("chown \(path)") { chown(path, hostRoot, hostRoot) }
        }
        return try SpriteProcess.readOnlyTree(dir, allowDevices: true)
    }

    func bootFailure(_ reply: [UInt8]) -> HobError {
        let text = String(decoding: reply.dropFirst(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if reply.first == UInt8(ascii: "E"), let e = Int32(text) {
            return HobError(.internalError, "start hob-init", cause: SystemError(operation: "exec hob-init", errno: e))
        }
        if reply.first == UInt8(ascii: "F") { return HobError(.internalError, "sprite setup failed", cause: SystemError(operation: text, errno: 0)) }
        return HobError(.internalError, "sprite init exited during boot")
    }

    func waitForReady(_ fd: Int32) async throws -> [UInt8] {
        try await offload { try SpriteProcess.receive(fd, timeoutMs: 30_000) }
    }

    func listen(at path: String) throws -> Int32 {
        unlink(path)
        let fd = try syscall("socket for \(path)") { socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() where i < raw.count - 1 { raw[i] = b }
        }
        do {
            try syscall("bind \(path)") {
                withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
            }
            try syscall("listen \(path)") { Glibc.listen(fd, 128) }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    /// Makes /.sprite/checkpoints in the running sprite hold exactly `volumes`, each at
    /// /.sprite/checkpoints/<name>, read-only and idmapped like the sprite's root (so files show the
    /// owners they had in the sprite). hob-init unmounts entries not listed and keeps names that are
    /// already mounted: checkpoints never change.
    public func mountCheckpoints(
        _ sprite: SpriteRecord, running: RunningSprite, volumes: [(name: String, volume: String)]
    ) async throws {
        let step = "mount checkpoints in sprite \(sprite.name)"
        guard volumes.count <= AgentRequest.maxCheckpointMounts else {
            throw HobError(.invalidArgument, "\(step): at most \(AgentRequest.maxCheckpointMounts) checkpoints can be mounted")
        }
        for volume in volumes {
            if let problem = checkpointMountNameProblem(volume.name) { throw HobError(.invalidArgument, "\(step): \(problem)") }
        }
        guard isAlive(running) else { throw HobError(.invalidState, "\(step): the sprite is not running") }
        var fds: [Int32] = []
        defer { for fd in fds { close(fd) } }
        do {
            for volume in volumes {
                fds.append(try SpriteProcess.idmappedReadOnlyTree(storage.volumeDirectory(volume.volume), forUserNamespaceOf: running.pid))
            }
        } catch {
            throw HobError(.internalError, step, cause: error)
        }
        // The mounts were idmapped through /proc/<pid>/ns/user: make sure that pid was still this
        // sprite's init and not a recycled one.
        guard isAlive(running) else { throw HobError(.invalidState, "\(step): the sprite stopped") }

        let reply: AgentEvent
        do {
            reply = try await running.agent.request(.mountCheckpoints(names: volumes.map(\.name)), fds: fds, timeout: .seconds(10))
        } catch let error as HobError {
            throw HobError(error.code, "\(step): \(error.message)", cause: error.cause)
        }
        switch reply {
        case .ok: return
        case .error(_, let message): throw HobError(.internalError, "\(step): \(message)")
        default: throw HobError(.internalError, "\(step): unexpected reply from the sprite's agent")
        }
    }

    /// Applies a changed privileges policy to a running sprite: the device cgroup at once, the
    /// capability set and seccomp filter to every process hob-init starts from now on. Device
    /// nodes added to the list appear in /dev at the next boot.
    public func applyPrivileges(_ sprite: SpriteRecord, running: RunningSprite) async throws {
        let step = "apply privileges to sprite \(sprite.name)"
        do {
            try cgroup(sprite.id).allowDevices(sprite.privileges.deviceNodes.map(\.cgroupRule))
        } catch {
            throw HobError(.internalError, step, cause: error)
        }
        switch try await running.agent.request(.setPrivileges(sprite.privileges), timeout: .seconds(10)) {
        case .ok: return
        case .error(_, let message): throw HobError(.unavailable, "\(step): \(message); stop the sprite (hob sleep --cold) to apply it")
        default: throw HobError(.internalError, "\(step): unexpected reply from the sprite's agent")
        }
    }

    /// Stops a sprite: asks hob-init to end its processes gracefully, then kills what is left.
    /// Returns what the sprite's processes used, read just before their cgroup went away.
    @discardableResult
    public func stop(_ sprite: SpriteRecord, running: RunningSprite?, graceMs: UInt32) async -> CgroupUsage? {
        if let running, graceMs > 0 {
            // A sleeping (frozen) sprite is woken so that its processes can end gracefully.
            await thaw(sprite.id)
            _ = try? await running.agent.request(.shutdown(graceMs: graceMs), timeout: .seconds(2))
            let deadline = ContinuousClock.now + .milliseconds(Int(graceMs) + 500)
            while ContinuousClock.now < deadline, isAlive(running) { try? await Task.sleep(for: .milliseconds(20)) }
        }
        let usage = await cleanUp(sprite.id)
        logger.with(sprite: sprite).info("sprite stopped")
        return usage
    }

    /// Removes every trace of a sprite's processes from the host: processes, cgroups, veth,
    /// sockets. Safe to call for a sprite in any state, including half-booted after a crash.
    /// Returns the cgroup's final usage counters, if it existed.
    @discardableResult
    public func cleanUp(_ id: String) async -> CgroupUsage? {
        let group = cgroup(id)
        var usage: CgroupUsage?
        var timings = StepTimings()
        if group.exists {
            await group.killAll()
            timings.mark("kill")
            usage = group.usage()
            do { try await group.remove() } catch { logger.warning("could not remove cgroup", metadata: ["sprite_id": "\(id)", "error": "\(error)"]) }
            timings.mark("cgroup")
        }
        await network.detach(spriteID: id)
        timings.mark("veth")
        try? Files.removeTree(runDirectory(id))
        // Processes that outlived the kill still run under the range: it stays taken (the next
        // cleanup or daemon start gives it back).
        if !group.exists { await releaseHostIDs(id) }
        timings.mark("files_ids")
        logger.debug("clean-up steps", metadata: ["sprite_id": "\(id)", "ms": "\(timings.summary)"])
        return usage
    }

    /// What the sprite's processes have used since it booted; nil when it has no cgroup.
    public func usage(_ id: String) -> CgroupUsage? { cgroup(id).usage() }

    public func isAlive(_ running: RunningSprite) -> Bool {
        SpriteProcess.startTime(of: running.pid) == running.startTime
    }

    /// After a daemon restart: finds the sprite's init if it survived and still answers. A frozen
    /// (sleeping) sprite cannot answer; its init is trusted when its pid and start time match.
    public func adopt(_ sprite: SpriteRecord, frozen: Bool, onExit: @escaping @Sendable () -> Void) async -> RunningSprite? {
        guard let text = try? Files.read(pidFile(sprite.id)) else { return nil }
        // "<pid> <start time> <host id range>"; a sprite booted by a daemon that did not record its
        // range (or its MAC) is not adopted: it is stopped, and boots afresh on its next request.
        let parts = text.split(whereSeparator: \.isWhitespace)
        guard parts.count == 3, let pid = pid_t(parts[0]), let start = UInt64(parts[1]), let index = Int(parts[2]),
            index >= 0, index < HostIDRange.count
        else { return nil }
        let running = RunningSprite(
            runtime: Self.name, agent: AgentEndpoint(socketPath: agentSocket(sprite.id)), pid: pid, startTime: start, hostIDs: HostIDRange(index: index))
        guard isAlive(running), Self.hostUIDBase(of: pid) == running.hostIDs.first else { return nil }
        if !frozen {
            guard case .pong? = try? await running.agent.request(.ping, timeout: .seconds(2)) else { return nil }
        }
        guard await claimHostIDs(running.hostIDs, for: sprite) else { return nil }
        // The nftables tables were rebuilt at start: pin the adopted sprite's port again, and
        // restrict it again if it has a network policy.
        do {
            try await network.pin(spriteID: sprite.id, address: config.subnet.address(slot: sprite.slot), mac: macAddress(sprite))
            try await network.applyEgress(address: config.subnet.address(slot: sprite.slot), policy: sprite.networkPolicy, fresh: true)
            if Files.exists(policyDirectory(sprite.id)) { try writePolicyFile(sprite) }
        } catch {
            logger.with(sprite: sprite).warning("could not pin the adopted sprite's address; restarting it", metadata: ["error": "\(error)"])
            return nil
        }
        watcher.watch(pid: pid, onExit: onExit)
        guard isAlive(running) else { return nil }
        logger.with(sprite: sprite).info("sprite adopted after restart", metadata: ["pid": "\(pid)"])
        return running
    }

    /// Removes what the runtime added to the host at start (the cgroup parents). Sprites must be
    /// stopped first.
    public func tearDown() {
        let left = Cgroup.removeParent(layout: cgroups, parent: config.instance)
        if !left.isEmpty { logger.warning("cgroups still in use, left in place", metadata: ["paths": "\(left)"]) }
    }

    /// Sprites with a cgroup that the daemon no longer knows (for reconciliation).
    public func strays(known: Set<String>) -> [String] {
        Cgroup.children(layout: cgroups, parent: config.instance).filter { !known.contains($0) }
    }

    public func processes(_ id: String) -> [pid_t] { cgroup(id).processes() }

    public func setMemoryLimit(_ id: String, bytes: Int64) throws -> Bool {
        let group = cgroup(id)
        guard group.exists else { return false }
        try group.setMemoryLimit(bytes)
        return true
    }
}

extension Logger {
    func with(sprite: SpriteRecord) -> Logger {
        var copy = self
        copy[metadataKey: "sprite"] = "\(sprite.name)"
        return copy
    }
}

extension Duration {
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
