// Host uid ranges are unique across every daemon on the host: the table's rules, and the
// allocator on a scratch directory standing in for /run/hob (no root needed).
import Foundation
import Glibc
import Testing

@testable import HobCore

@Suite("Host uid ranges: the table")
struct HostIDTableTests {
    let a1 = HostIDTable.Owner(instance: "alpha", spriteID: "s1")
    let a2 = HostIDTable.Owner(instance: "alpha", spriteID: "s2")
    let b1 = HostIDTable.Owner(instance: "beta", spriteID: "s1")

    @Test("sprites of different daemons get different ranges, even with the same sprite id")
    func distinctAcrossDaemons() throws {
        var table = HostIDTable()
        let ranges = try [a1, a2, b1].map { try table.allocate($0) }
        #expect(Set(ranges).count == 3)
        #expect(ranges == [0, 1, 2])
    }

    @Test("allocating twice for the same sprite returns the range it holds")
    func idempotent() throws {
        var table = HostIDTable()
        let first = try table.allocate(a1)
        _ = try table.allocate(a2)
        let again = try table.allocate(a1)
        #expect(again == first)
        #expect(table.owners.count == 2)
    }

    @Test("a released range is free again, and only the owner's range is released")
    func release() throws {
        var table = HostIDTable()
        _ = try table.allocate(a1)
        _ = try table.allocate(b1)
        table.release(a1)
        #expect(table.index(of: a1) == nil)
        #expect(table.index(of: b1) == 1)
        let reused = try table.allocate(a2)
        #expect(reused == 0)
    }

    @Test("a range processes run under is skipped even when the table does not list it")
    func busyRanges() throws {
        var table = HostIDTable()
        let index = try table.allocate(a1, avoiding: [0, 1, 3])
        #expect(index == 2)
    }

    @Test("a full table refuses with a clear error")
    func exhaustion() throws {
        var table = HostIDTable(capacity: 2)
        _ = try table.allocate(a1)
        _ = try table.allocate(a2)
        let error = try #require(throws: HobError.self) { try table.allocate(b1) }
        #expect(error.code == .unavailable)
        #expect(error.message.contains("no free host uid range"))
    }

    @Test("an adopted sprite keeps its range, unless another sprite holds it")
    func claim() throws {
        var table = HostIDTable()
        let claimed = table.claim(5, for: a1)
        #expect(claimed)
        #expect(table.index(of: a1) == 5)
        let again = table.claim(5, for: a1)
        #expect(again)
        let taken = table.claim(5, for: b1)
        #expect(!taken)
        let beyond = table.claim(HostIDRange.count, for: b1)
        let negative = table.claim(-1, for: b1)
        #expect(!beyond && !negative)
        #expect(table.owners == [5: a1])
    }

    @Test("a restarted daemon gives back its own ranges except the adopted sprites'")
    func releaseAllButAdopted() throws {
        var table = HostIDTable()
        for owner in [a1, a2, b1] { _ = try table.allocate(owner) }
        table.releaseAll(of: "alpha", except: ["s2"])
        #expect(table.index(of: a1) == nil)
        #expect(table.index(of: a2) == 1)
        #expect(table.index(of: b1) == 2)
    }

    @Test("only ranges of other daemons that are not running are reclaim candidates")
    func reclaimCandidates() throws {
        var table = HostIDTable()
        let gamma = HostIDTable.Owner(instance: "gamma", spriteID: "s9")
        for owner in [a1, b1, gamma] { _ = try table.allocate(owner) }
        let candidates = table.reclaimCandidates(excluding: "alpha", isRunning: { $0 == "gamma" })
        #expect(candidates == [1])
    }

    @Test("the file form reads back the same table and skips lines it cannot read")
    func text() throws {
        var table = HostIDTable()
        for owner in [a1, b1] { _ = try table.allocate(owner) }
        #expect(HostIDTable(parsing: table.text) == table)
        #expect(HostIDTable(parsing: "0 alpha s1\ngarbage\n99999999 x y\n-1 x y\n1 beta s1\n") == table)
    }

    @Test("ranges cover 2^30 up to 2^32 - 65536, 65536 ids each")
    func ranges() {
        #expect(HostIDRange(index: 0).first == 1 << 30)
        #expect(HostIDRange(index: 1).first == (1 << 30) + 65536)
        let last = HostIDRange(index: HostIDRange.count - 1)
        #expect(UInt64(last.first) + UInt64(HostIDRange.size) == (UInt64(1) << 32) - 65536)
        #expect(HostIDRange.count == 49151)
        #expect(HostIDRange(containing: (1 << 30) + 65536 * 7 + 12)?.index == 7)
        #expect(HostIDRange(containing: 1000) == nil)
        #expect(HostIDRange(containing: UInt32.max) == nil)
    }
}

@Suite("Host uid ranges: the allocator")
struct HostIDAllocatorTests {
    /// A scratch directory standing in for /run/hob, removed at the end.
    final class RuntimeDirectory {
        let path: String
        private var locks: [Int32] = []

        init() throws {
            var template = Array("/tmp/hob-ids-XXXXXX".utf8CString)
            guard let made = mkdtemp(&template) else { throw HobError(.internalError, "mkdtemp failed") }
            path = String(cString: made)
        }

        deinit {
            for fd in locks { close(fd) }
            try? FileManager.default.removeItem(atPath: path)
        }

        /// Holds `<instance>.lock` the way a running daemon does.
        func holdLock(of instance: String) {
            let fd = open("\(path)/\(instance).lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            flock(fd, LOCK_EX)
            locks.append(fd)
        }
    }

    @Test("two daemons sharing the directory never get the same range")
    func twoDaemons() throws {
        let dir = try RuntimeDirectory()
        dir.holdLock(of: "alpha")
        dir.holdLock(of: "beta")
        let alpha = HostIDAllocator(directory: dir.path, instance: "alpha", liveRanges: { [] })
        let beta = HostIDAllocator(directory: dir.path, instance: "beta", liveRanges: { [] })
        let a = try alpha.allocate("same-id")
        let b = try beta.allocate("same-id")
        #expect(a != b)
        #expect(try alpha.allocate("same-id") == a)
        try alpha.release("same-id")
        #expect(try beta.allocate("other") == a)
    }

    @Test("a temporary file left by a writer killed mid-write is removed by the next change")
    func staleTemporaryFile() throws {
        let dir = try RuntimeDirectory()
        let alpha = HostIDAllocator(directory: dir.path, instance: "alpha", liveRanges: { [] })
        let stale = alpha.tablePath + ".tmp-999999"
        #expect(FileManager.default.createFile(atPath: stale, contents: Data("0 x y\n".utf8)))
        _ = try alpha.allocate("s1")
        #expect(!FileManager.default.fileExists(atPath: stale))
        #expect(try String(contentsOfFile: alpha.tablePath, encoding: .utf8) == "0 alpha s1\n")
    }

    @Test("a running daemon's ranges are never reclaimed")
    func runningDaemonKeepsRanges() throws {
        let dir = try RuntimeDirectory()
        dir.holdLock(of: "beta")
        let beta = HostIDAllocator(directory: dir.path, instance: "beta", capacity: 1, liveRanges: { [] })
        let alpha = HostIDAllocator(directory: dir.path, instance: "alpha", capacity: 1, liveRanges: { [] })
        _ = try beta.allocate("s1")
        let error = try #require(throws: HobError.self) { try alpha.allocate("s1") }
        #expect(error.code == .unavailable)
    }

    @Test("ranges of a stopped daemon with no process under them are reclaimed")
    func reclaimStopped() throws {
        let dir = try RuntimeDirectory()
        let gone = HostIDAllocator(directory: dir.path, instance: "gone", capacity: 1, liveRanges: { [] })
        _ = try gone.allocate("s1")  // no lock held: the daemon "gone" is not running
        dir.holdLock(of: "alpha")
        let alpha = HostIDAllocator(directory: dir.path, instance: "alpha", capacity: 1, liveRanges: { [] })
        #expect(try alpha.allocate("s2") == HostIDRange(index: 0))
    }

    @Test("ranges of a stopped daemon that processes still run under are kept")
    func keepLiveRanges() throws {
        let dir = try RuntimeDirectory()
        let gone = HostIDAllocator(directory: dir.path, instance: "gone", capacity: 2, liveRanges: { [] })
        _ = try gone.allocate("s1")
        _ = try gone.allocate("s2")
        dir.holdLock(of: "alpha")
        let alpha = HostIDAllocator(directory: dir.path, instance: "alpha", capacity: 2, liveRanges: { [1] })
        #expect(try alpha.allocate("s3") == HostIDRange(index: 0))
        let table = HostIDTable(parsing: try String(contentsOfFile: alpha.tablePath, encoding: .utf8), capacity: 2)
        #expect(table.owners == [0: .init(instance: "alpha", spriteID: "s3"), 1: .init(instance: "gone", spriteID: "s2")])
    }

    @Test("a restarted daemon keeps its adopted sprites' ranges and those processes still use")
    func restart() throws {
        let dir = try RuntimeDirectory()
        dir.holdLock(of: "alpha")
        let before = HostIDAllocator(directory: dir.path, instance: "alpha", liveRanges: { [] })
        for id in ["adopted", "stopped", "stuck"] { _ = try before.allocate(id) }
        let after = HostIDAllocator(directory: dir.path, instance: "alpha", liveRanges: { [0, 2] })
        try after.releaseAll(except: ["adopted"])
        let table = HostIDTable(parsing: try String(contentsOfFile: after.tablePath, encoding: .utf8))
        #expect(table.owners == [0: .init(instance: "alpha", spriteID: "adopted"), 2: .init(instance: "alpha", spriteID: "stuck")])
    }

    @Test("the /proc scan finds a process running under a range", .enabled(if: getuid() == 0, "requires root"))
    func scanFindsProcesses() throws {
        let index = HostIDRange.count - 1
        let uid = HostIDRange(index: index).first + 5
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        sleeper.arguments = ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "sleep", "10"]
        try sleeper.run()
        defer {
            kill(sleeper.processIdentifier, SIGKILL)
            sleeper.waitUntilExit()
        }
        var found = false
        for _ in 0..<50 where !found {
            found = try HostIDAllocator.rangesInUse().contains(index)
            if !found { usleep(20_000) }
        }
        #expect(found)
    }
}
