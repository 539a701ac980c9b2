// Host uid/gid ranges: every running sprite on the host, whichever daemon runs it, maps its users
// onto 65536 host ids that no other running sprite has.
//
// Ranges are host-wide, not per daemon: two daemons (different --instance and state directories)
// that numbered ranges by their own slots would give their sprites the same host uids, and the
// kernel would treat those sprites as one user (signals, /proc, and the in-sprite API, which names
// its caller by uid). So the table lives in /run/hob (HostNetwork.runtimeDirectory, tmpfs: gone at
// reboot together with every sprite), and every change is made under an flock.
//
// A range is taken when a sprite boots and given back when its processes are gone. A daemon that
// restarts keeps the ranges of the sprites it adopts and gives back the rest of its own. Entries of
// a daemon that is not running (its instance lock is free) are reclaimed once no process on the
// host runs under their ids: a daemon killed with -9 leaves sprites running, which keep theirs.
import Foundation
import Glibc
import HobOS

/// One sprite's host ids: `first ..< first + size`.
public struct HostIDRange: Sendable, Equatable, Hashable {
    /// The first range starts at 2^30, far above any uid a distribution hands out.
    public static let start: UInt32 = 1 << 30
    public static let size: UInt32 = 65536
    /// 2^30 up to 2^32 − 65536: the range after that would end at 2^32 and hold (uid_t)−1, which
    /// the kernel refuses to map.
    public static let count = Int((UInt64(1) << 32 - UInt64(start)) / UInt64(size)) - 1

    public let index: Int

    public init(index: Int) { self.index = index }

    public var first: UInt32 { Self.start + UInt32(index) * Self.size }

    /// The range a host id lies in, if it lies in one.
    public init?(containing id: UInt32) {
        guard id >= Self.start else { return nil }
        let index = Int((id - Self.start) / Self.size)
        guard index < Self.count else { return nil }
        self.index = index
    }
}

/// The host-wide table: range index → the sprite (and its daemon's instance) that holds it.
/// Pure logic; `HostIDAllocator` keeps it in a file.
struct HostIDTable: Equatable {
    struct Owner: Hashable {
        var instance: String
        var spriteID: String
    }

    let capacity: Int
    private(set) var owners: [Int: Owner] = [:]

    init(capacity: Int = HostIDRange.count) { self.capacity = capacity }

    func index(of owner: Owner) -> Int? { owners.first { $0.value == owner }?.key }

    /// The owner's range: the one it already holds, or the lowest free one that is not `busy`
    /// (ranges processes run under although the table does not list them).
    mutating func allocate(_ owner: Owner, avoiding busy: Set<Int> = []) throws -> Int {
        if let held = index(of: owner) { return held }
        guard let free = (0..<capacity).first(where: { owners[$0] == nil && !busy.contains($0) }) else {
            throw HobError(
                .unavailable,
                "no free host uid range: all \(capacity) ranges are held by running sprites of the daemons on this host")
        }
        owners[free] = owner
        return free
    }

    /// Takes `index` for `owner` again (a restarted daemon adopting a running sprite). False when
    /// someone else holds it.
    mutating func claim(_ index: Int, for owner: Owner) -> Bool {
        guard index >= 0, index < capacity else { return false }
        if let holder = owners[index] { return holder == owner }
        if let other = self.index(of: owner) { owners[other] = nil }
        owners[index] = owner
        return true
    }

    mutating func release(_ owner: Owner) {
        owners = owners.filter { $0.value != owner }
    }

    /// Gives back every range of `instance` except those of `spriteIDs`.
    mutating func releaseAll(of instance: String, except spriteIDs: Set<String>) {
        owners = owners.filter { $0.value.instance != instance || spriteIDs.contains($0.value.spriteID) }
    }

    /// Ranges that may be stale: held for daemons other than `instance` that are not running.
    func reclaimCandidates(excluding instance: String, isRunning: (String) -> Bool) -> [Int] {
        let stopped = Set(owners.values.map(\.instance)).filter { $0 != instance && !isRunning($0) }
        return owners.filter { stopped.contains($0.value.instance) }.map(\.key).sorted()
    }

    mutating func remove(_ indices: some Sequence<Int>) {
        for index in indices { owners[index] = nil }
    }

    /// One line per range: `<index> <instance> <sprite id>`. Lines that do not parse are dropped:
    /// the file is Hob's own, on tmpfs.
    init(parsing text: String, capacity: Int = HostIDRange.count) {
        self.init(capacity: capacity)
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count == 3, let index = Int(fields[0]), index >= 0, index < capacity else { continue }
            owners[index] = Owner(instance: String(fields[1]), spriteID: String(fields[2]))
        }
    }

    var text: String {
        owners.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value.instance) \($0.value.spriteID)\n" }.joined()
    }
}

/// The table in `<directory>/id-ranges`, changed under an flock of `<directory>/id-ranges.lock`.
/// Calls block briefly (the lock, and a /proc scan when another daemon's entries may be stale).
struct HostIDAllocator: Sendable {
    let directory: String
    let instance: String
    var capacity = HostIDRange.count
    /// Which ranges host processes run under (a scan of /proc; tests stand in for it).
    var liveRanges: @Sendable () throws -> Set<Int> = { try HostIDAllocator.rangesInUse() }

    var tablePath: String { "\(directory)/id-ranges" }
    var lockPath: String { "\(directory)/id-ranges.lock" }

    func owner(_ spriteID: String) -> HostIDTable.Owner { .init(instance: instance, spriteID: spriteID) }

    /// A range for a sprite about to boot. Stale entries of stopped daemons are reclaimed first,
    /// and a range that host processes run under is never handed out, listed or not (a daemon of
    /// an older Hob, which numbered ranges by slot, does not list its sprites).
    func allocate(_ spriteID: String) throws -> HostIDRange {
        // Scanned before taking the lock, so that boots of different daemons scan side by side. A
        // range only comes to life through the table (under the lock) or outside Hob's knowledge,
        // so a scan a moment old errs on the side of keeping a range.
        let live = try scanLiveRanges()
        return try update { table in
            if let held = table.index(of: owner(spriteID)) { return HostIDRange(index: held) }
            let candidates = table.reclaimCandidates(excluding: instance, isRunning: isRunning)
            table.remove(candidates.filter { !live.contains($0) })
            return HostIDRange(index: try table.allocate(owner(spriteID), avoiding: live))
        }
    }

    /// Keeps `range` for a sprite that survived a restart of its daemon. False if another sprite
    /// holds it now.
    func claim(_ range: HostIDRange, for spriteID: String) throws -> Bool {
        try update { $0.claim(range.index, for: owner(spriteID)) }
    }

    func release(_ spriteID: String) throws {
        try update { $0.release(owner(spriteID)) }
    }

    /// After adoption: gives back the ranges this instance held for sprites that did not survive,
    /// except any that host processes still run under.
    func releaseAll(except spriteIDs: Set<String>) throws {
        let live = try scanLiveRanges()
        try update { table in
            let occupied = table.owners.filter { $0.value.instance == instance && live.contains($0.key) }.map(\.value.spriteID)
            table.releaseAll(of: instance, except: spriteIDs.union(occupied))
        }
    }

    /// Reads, changes and (if changed) rewrites the table under the lock.
    func update<T>(_ body: (inout HostIDTable) throws -> T) throws -> T {
        let step = "update the host uid ranges in \(tablePath)"
        do {
            let fd = try syscall("open \(lockPath)") { open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600) }
            defer { close(fd) }
            try syscall("lock \(lockPath)") { flock(fd, LOCK_EX) }
            removeTemporaryFiles()
            let before = HostIDTable(parsing: (try? Files.read(tablePath)) ?? "", capacity: capacity)
            var table = before
            let result = try body(&table)
            if table != before { try Files.writeAtomically(tablePath, table.text, mode: 0o600) }
            return result
        } catch let error as HobError {
            throw error
        } catch {
            throw HobError(.internalError, step, cause: error)
        }
    }

    /// Files.writeAtomically's temporary files left by a writer killed before its rename (every
    /// writer holds the lock, so under it any such file is stale).
    func removeTemporaryFiles() {
        let prefix = (tablePath as NSString).lastPathComponent + ".tmp-"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasPrefix(prefix) {
            unlink("\(directory)/\(name)")
        }
    }

    /// Whether the daemon of `instance` runs: it holds `<instance>.lock` for its whole life
    /// (ServeCommand's DaemonLock, which retries for a moment should this probe collide with it).
    func isRunning(_ instance: String) -> Bool { Files.isLockHeld("\(directory)/\(instance).lock") }

    func scanLiveRanges() throws -> Set<Int> {
        do { return try liveRanges() } catch { throw HobError(.internalError, "find the host uid ranges in use", cause: error) }
    }

    /// Ranges some host process runs under, from the owner of each /proc/<pid>: the process's
    /// effective uid and gid, or, for a process that is not dumpable, root of the user namespace
    /// it was exec'd in. Either lies in the sprite's range for every process of a sprite (its init
    /// included, as long as the sprite lives). A stat per process: about 0.2 ms for 150
    /// processes, where reading each /proc/<pid>/status took 12 ms.
    static func rangesInUse() throws(SystemError) -> Set<Int> {
        guard let dir = opendir("/proc") else { throw SystemError(operation: "open /proc", errno: errno) }
        defer { closedir(dir) }
        var used = Set<Int>()
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard let first = name.utf8.first, first >= UInt8(ascii: "0"), first <= UInt8(ascii: "9") else { continue }
            var st = stat()
            guard stat("/proc/\(name)", &st) == 0 else { continue }  // the process just ended
            for id in [st.st_uid, st.st_gid] {
                if let range = HostIDRange(containing: id) { used.insert(range.index) }
            }
        }
        return used
    }
}
