// cgroups for sprites, on cgroup v1, v2 and the hybrid layout (v1 controllers + a controller-less
// v2 tree at /sys/fs/cgroup/unified) that our machines have.
//
// Each resource uses whichever hierarchy has its controller. The v2 tree, when present, is used
// for what its core files give without controllers: cgroup.kill, cgroup.freeze, cgroup.events.
import Foundation
import Glibc

public struct CgroupLayout: Sendable, Equatable {
    /// v1 controller name → mount point of its hierarchy.
    public var v1: [String: String]
    /// Mount point of the v2 (unified) hierarchy, if any.
    public var v2: String?
    /// Controllers available to children of the v2 root.
    public var v2Controllers: Set<String>

    public init(v1: [String: String], v2: String?, v2Controllers: Set<String>) {
        self.v1 = v1
        self.v2 = v2
        self.v2Controllers = v2Controllers
    }

    /// Reads /proc/self/mountinfo.
    public static func detect() throws(SystemError) -> CgroupLayout {
        let info = try Files.read("/proc/self/mountinfo")
        var layout = parse(mountinfo: info)
        if let v2 = layout.v2, let controllers = try? Files.read("\(v2)/cgroup.controllers") {
            layout.v2Controllers = Set(controllers.split(whereSeparator: \.isWhitespace).map(String.init))
        }
        return layout
    }

    /// Parses mountinfo lines: "… mountpoint … - fstype source superoptions".
    public static func parse(mountinfo: String) -> CgroupLayout {
        var v1: [String: String] = [:]
        var v2: String?
        let known: Set<String> = ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "net_cls", "perf_event", "hugetlb"]
        for line in mountinfo.split(separator: "\n") {
            let halves = line.components(separatedBy: " - ")
            guard halves.count == 2 else { continue }
            let left = halves[0].split(separator: " ")
            let right = halves[1].split(separator: " ")
            guard left.count >= 5, right.count >= 3 else { continue }
            let mountPoint = String(left[4])
            switch right[0] {
            case "cgroup2":
                if v2 == nil { v2 = mountPoint }
            case "cgroup":
                for option in right[2].split(separator: ",") where known.contains(String(option)) {
                    if v1[String(option)] == nil { v1[String(option)] = mountPoint }
                }
            default: continue
            }
        }
        return CgroupLayout(v1: v1, v2: v2, v2Controllers: [])
    }

    /// Where `controller` is managed: the v2 tree if it offers it, else its v1 hierarchy.
    func location(of controller: String) -> (path: String, isV2: Bool)? {
        if let v2, v2Controllers.contains(controller) { return (v2, true) }
        if let path = v1[controller] { return (path, false) }
        return nil
    }

    /// Every hierarchy a sprite gets a directory in.
    var hierarchies: [String] {
        var paths: [String] = []
        // CPU time is read from the v2 tree's core cpu.stat; only a v1-only host needs cpuacct.
        let controllers = v2 == nil ? ["memory", "cpu", "cpuacct", "pids", "freezer", "devices"] : ["memory", "cpu", "pids", "freezer", "devices"]
        for c in controllers {
            if let loc = location(of: c), !loc.isV2, !paths.contains(loc.path) { paths.append(loc.path) }
        }
        if let v2 { paths.append(v2) }
        return paths
    }

    public var description: String {
        let mode = v1.isEmpty ? "v2" : (v2 == nil ? "v1" : "hybrid")
        return "cgroup \(mode) (v1: \(v1.keys.sorted().joined(separator: ",")); v2 controllers: \(v2Controllers.sorted().joined(separator: ",")))"
    }
}

public struct CgroupLimits: Sendable, Equatable {
    public var memoryBytes: Int64
    /// CPU time per 100 ms period, in microseconds (100_000 = one CPU).
    public var cpuQuotaMicros: Int
    public var pidsMax: Int
    /// The device allow-list, as v1 `devices.allow` rules (`c 1:3 rwm`); everything else is denied.
    public var devices: [String]

    public init(memoryBytes: Int64, cpuQuotaMicros: Int, pidsMax: Int, devices: [String] = []) {
        self.memoryBytes = memoryBytes
        self.cpuQuotaMicros = cpuQuotaMicros
        self.pidsMax = pidsMax
        self.devices = devices
    }
}

/// What a group's processes used, as the kernel counts it.
public struct CgroupUsage: Sendable, Equatable {
    /// CPU time, user and system, since the group was created.
    public var cpuMicros: Int64
    public var memoryBytes: Int64
    /// The most memory in use at once since the group was created.
    public var memoryPeakBytes: Int64

    public init(cpuMicros: Int64, memoryBytes: Int64, memoryPeakBytes: Int64) {
        self.cpuMicros = cpuMicros
        self.memoryBytes = memoryBytes
        self.memoryPeakBytes = memoryPeakBytes
    }
}

/// One sprite's cgroup, `<parent>/<name>` in every hierarchy.
public struct Cgroup: Sendable {
    public let layout: CgroupLayout
    public let parent: String
    public let name: String

    public init(layout: CgroupLayout, parent: String, name: String) {
        self.layout = layout
        self.parent = parent
        self.name = name
    }

    var relative: String { "\(parent)/\(name)" }

    func dir(_ hierarchy: String) -> String { "\(hierarchy)/\(relative)" }

    /// Creates the parent once per daemon start (and enables v2 controllers for its children).
    public static func prepareParent(layout: CgroupLayout, parent: String) throws(SystemError) {
        for h in layout.hierarchies { try Files.makeDirectory("\(h)/\(parent)") }
        // Each sprite may have pidsMax processes; all of them together may not take the host's
        // last pids (a few busy sprites would otherwise leave the host unable to fork).
        if let pids = layout.location(of: "pids"), let share = hostPidsShare() {
            try? Files.writeKernel("\(pids.path)/\(parent)/pids.max", String(share))
        }
        if let v2 = layout.v2, !layout.v2Controllers.isEmpty {
            let wanted = ["memory", "cpu", "pids"].filter { layout.v2Controllers.contains($0) }
            let enable = wanted.map { "+\($0)" }.joined(separator: " ")
            if !enable.isEmpty {
                try? Files.writeKernel("\(v2)/cgroup.subtree_control", enable)
                try Files.writeKernel("\(v2)/\(parent)/cgroup.subtree_control", enable)
            }
        }
    }

    /// Three quarters of the kernel's pid_max: what all sprites together may use.
    static func hostPidsShare() -> Int? {
        guard let text = try? Files.read("/proc/sys/kernel/pid_max"), let max = Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
        else { return nil }
        return max / 4 * 3
    }

    /// The CPU weight every sprite gets (the kernel's default, written so that it holds whatever
    /// the parent's defaults are): busy sprites share contended CPUs equally, each still capped
    /// by its own quota.
    public static let cpuSharesV1 = 1024
    public static let cpuWeightV2 = 100

    /// Removes the parent directories at shutdown; fails quietly while children remain.
    public static func removeParent(layout: CgroupLayout, parent: String) -> [String] {
        var left: [String] = []
        for h in layout.hierarchies.reversed() {
            let path = "\(h)/\(parent)"
            if Files.isDirectory(path) && rmdir(path) != 0 && errno != ENOENT { left.append(path) }
        }
        return left
    }

    public func create(limits: CgroupLimits) throws(SystemError) {
        for h in layout.hierarchies { try Files.makeDirectory(dir(h)) }
        if let mem = layout.location(of: "memory") {
            let file = mem.isV2 ? "memory.max" : "memory.limit_in_bytes"
            try Files.writeKernel("\(dir(mem.path))/\(file)", String(limits.memoryBytes))
            if !mem.isV2 { try? Files.writeKernel("\(dir(mem.path))/memory.swappiness", "0") }
        }
        if let cpu = layout.location(of: "cpu") {
            if cpu.isV2 {
                try Files.writeKernel("\(dir(cpu.path))/cpu.max", "\(limits.cpuQuotaMicros) 100000")
                try Files.writeKernel("\(dir(cpu.path))/cpu.weight", String(Self.cpuWeightV2))
            } else {
                try Files.writeKernel("\(dir(cpu.path))/cpu.cfs_period_us", "100000")
                try Files.writeKernel("\(dir(cpu.path))/cpu.cfs_quota_us", String(limits.cpuQuotaMicros))
                try Files.writeKernel("\(dir(cpu.path))/cpu.shares", String(Self.cpuSharesV1))
            }
        }
        if let pids = layout.location(of: "pids") {
            try Files.writeKernel("\(dir(pids.path))/pids.max", String(limits.pidsMax))
        }
        try allowDevices(limits.devices)
    }

    /// Replaces the device allow-list (v1 devices controller): deny all, then allow each rule.
    /// Takes effect at once for the group's processes. A host without the v1 controller (pure v2,
    /// where device access is a BPF program) is left alone; the sprite's disk is mounted nodev there.
    public func allowDevices(_ rules: [String]) throws(SystemError) {
        guard let devices = layout.v1["devices"] else { return }
        let path = dir(devices)
        try Files.writeKernel("\(path)/devices.deny", "a")
        for rule in rules { try Files.writeKernel("\(path)/devices.allow", rule) }
    }

    /// Changes the memory limit of a group that may be running (v1 `memory.limit_in_bytes`, v2
    /// `memory.max`). Below what it uses, v2 reclaims and then OOM-kills inside the group; v1
    /// reclaims and fails with EBUSY if it cannot get under the new limit.
    public func setMemoryLimit(_ bytes: Int64) throws(SystemError) {
        guard let mem = layout.location(of: "memory") else {
            throw SystemError(operation: "set memory limit of \(relative): no memory controller", errno: ENOTSUP)
        }
        try Files.writeKernel("\(dir(mem.path))/\(mem.isV2 ? "memory.max" : "memory.limit_in_bytes")", String(bytes))
    }

    public func add(pid: pid_t) throws(SystemError) {
        for h in layout.hierarchies { try Files.writeKernel("\(dir(h))/cgroup.procs", String(pid)) }
    }

    /// Processes in the sprite's cgroup (read from the first hierarchy that has the directory).
    public func processes() -> [pid_t] {
        for h in layout.hierarchies {
            if let text = try? Files.read("\(dir(h))/cgroup.procs") {
                return text.split(separator: "\n").compactMap { pid_t($0) }
            }
        }
        return []
    }

    public var exists: Bool { layout.hierarchies.contains { Files.isDirectory(dir($0)) } }

    /// Kills every process in the sprite and waits until none is left (bounded: about 2 s).
    /// Polled at 1 ms at first: killed processes are usually gone within a millisecond or two,
    /// and this wait is on the path of every stop, restore and cold wake after a stop.
    public func killAll() async {
        if let v2 = layout.v2, Files.exists("\(dir(v2))/cgroup.kill") {
            try? Files.writeKernel("\(dir(v2))/cgroup.kill", "1")
        }
        var checkedFrozen = false
        let deadline = ContinuousClock.now + .seconds(2)
        var pause = Duration.milliseconds(1)
        while ContinuousClock.now < deadline {
            let pids = processes()
            if pids.isEmpty { return }
            for pid in pids { kill(pid, SIGKILL) }
            // Killed processes of a frozen group die only once it thaws (v1 freezer).
            if !checkedFrozen {
                checkedFrozen = true
                if isFrozen { try? await thaw(timeout: .seconds(1)) }
            }
            try? await Task.sleep(for: pause)
            pause = min(pause * 2, .milliseconds(10))
        }
    }

    /// Freezes every process of the sprite and waits until the kernel reports it frozen. Uses the
    /// v2 `cgroup.freeze` wherever a v2 tree exists (it works even without controllers), else the
    /// v1 freezer.
    public func freeze(timeout: Duration = .seconds(5)) async throws(SystemError) {
        try await setFrozen(true, timeout: timeout)
    }

    public func thaw(timeout: Duration = .seconds(5)) async throws(SystemError) {
        try await setFrozen(false, timeout: timeout)
    }

    /// The freezer a group uses: the v2 `cgroup.freeze` wherever the kernel has it (even in the
    /// hybrid layout, without controllers), else the v1 freezer hierarchy.
    private enum Freezer {
        case v2(String), v1(String)

        func request(_ frozen: Bool) throws(SystemError) {
            switch self {
            case .v2(let path): try Files.writeKernel("\(path)/cgroup.freeze", frozen ? "1" : "0")
            case .v1(let path): try Files.writeKernel("\(path)/freezer.state", frozen ? "FROZEN" : "THAWED")
            }
        }

        /// Whether the kernel reports the group as `frozen` (true) or thawed (false).
        func reports(_ frozen: Bool) -> Bool {
            switch self {
            case .v2(let path): return ((try? Files.read("\(path)/cgroup.events")) ?? "").contains(frozen ? "frozen 1" : "frozen 0")
            case .v1(let path): return ((try? Files.read("\(path)/freezer.state")) ?? "").hasPrefix(frozen ? "FROZEN" : "THAWED")
            }
        }
    }

    private var freezer: Freezer? {
        if let v2 = layout.v2, Files.exists("\(dir(v2))/cgroup.freeze") { return .v2(dir(v2)) }
        if let v1 = layout.v1["freezer"] { return .v1(dir(v1)) }
        return nil
    }

    private func setFrozen(_ frozen: Bool, timeout: Duration) async throws(SystemError) {
        guard let freezer else {
            throw SystemError(operation: "\(frozen ? "freeze" : "thaw") \(relative): no freezer available", errno: ENOTSUP)
        }
        try freezer.request(frozen)
        // Freezing is asynchronous: each task stops at its next return to user space.
        let deadline = ContinuousClock.now + timeout
        while !freezer.reports(frozen) {
            guard ContinuousClock.now < deadline else {
                throw SystemError(operation: "\(frozen ? "freeze" : "thaw") \(relative): not done within \(timeout)", errno: ETIMEDOUT)
            }
            try? await Task.sleep(for: .microseconds(500))
        }
    }

    /// Whether the kernel reports the group frozen (by us: a sleeping sprite, or a checkpoint that
    /// a crash interrupted).
    public var isFrozen: Bool { freezer?.reports(true) ?? false }

    /// CPU time and memory of the group's processes since the group was created; nil when it does
    /// not exist. CPU comes from the v2 tree's `cpu.stat` (a core file, present without
    /// controllers) or v1 `cpuacct.usage`; memory from whichever hierarchy has the controller.
    public func usage() -> CgroupUsage? {
        var cpu: Int64?
        if let v2 = layout.v2, let stat = try? Files.read("\(dir(v2))/cpu.stat") {
            cpu = Self.field("usage_usec", in: stat)
        } else if let acct = layout.v1["cpuacct"], let ns = try? Files.read("\(dir(acct))/cpuacct.usage") {
            cpu = Int64(ns.trimmingCharacters(in: .whitespacesAndNewlines)).map { $0 / 1000 }
        }
        guard let cpu else { return nil }
        var memory: Int64 = 0
        var peak: Int64 = 0
        if let mem = layout.location(of: "memory") {
            let (current, max) = mem.isV2 ? ("memory.current", "memory.peak") : ("memory.usage_in_bytes", "memory.max_usage_in_bytes")
            memory = (try? Files.read("\(dir(mem.path))/\(current)")).flatMap { Int64($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
            peak = (try? Files.read("\(dir(mem.path))/\(max)")).flatMap { Int64($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? memory
        }
        return CgroupUsage(cpuMicros: cpu, memoryBytes: memory, memoryPeakBytes: Swift.max(peak, memory))
    }

    /// The value of `key` in a flat-keyed cgroup file ("key value" lines).
    public static func field(_ key: String, in text: String) -> Int64? {
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, parts[0] == key { return Int64(parts[1]) }
        }
        return nil
    }

    /// Removes the directories; processes must be gone. A group whose last process just died can
    /// refuse (EBUSY) for a moment: retried for about a second, at 1 ms at first.
    public func remove() async throws(SystemError) {
        for h in layout.hierarchies.reversed() {
            let path = dir(h)
            guard Files.isDirectory(path) else { continue }
            var lastErrno: Int32 = 0
            var pause = Duration.milliseconds(1)
            let deadline = ContinuousClock.now + .seconds(1)
            while true {
                if rmdir(path) == 0 || errno == ENOENT {
                    lastErrno = 0
                    break
                }
                lastErrno = errno
                guard ContinuousClock.now < deadline else { break }
                try? await Task.sleep(for: pause)
                pause = min(pause * 2, .milliseconds(10))
            }
            if lastErrno != 0 { throw SystemError(operation: "remove cgroup \(path)", errno: lastErrno) }
        }
    }

    /// Names of the sprite cgroups under `parent` (for reconciliation after a crash).
    public static func children(layout: CgroupLayout, parent: String) -> [String] {
        var names = Set<String>()
        for h in layout.hierarchies {
            if let entries = try? FileManager.default.contentsOfDirectory(atPath: "\(h)/\(parent)") {
                for e in entries where Files.isDirectory("\(h)/\(parent)/\(e)") { names.insert(e) }
            }
        }
        return names.sorted()
    }
}
