// A clean shutdown (SIGTERM) leaves the host as it was. The suite's daemon runs a sprite with a
// background process; what the daemon added to the host is measured, the daemon is stopped once,
// and each test compares one kind of footprint before and after (so none of them passes vacuously).
import Foundation
import Testing

/// What a daemon has put on the host, found by its names.
struct HostFootprint: Sendable {
    /// The bridge and the sprite's veth, where they exist.
    var links: [String] = []
    var nftablesTables: [String] = []
    var mounts: [String] = []
    var cgroups: [String] = []
    /// Host pids of the sprite's background `sleep`.
    var processes: [String] = []

    static func measure(_ daemon: DaemonFixture, spriteID: String, sleepSeconds: Int) async -> HostFootprint {
        var footprint = HostFootprint()
        for link in [daemon.bridge, "hv" + spriteID.prefix(12)] where await HostLeftovers.linkExists(link) {
            footprint.links.append(link)
        }
        footprint.nftablesTables = await HostLeftovers.nftablesTables(named: daemon.instance)
        footprint.mounts = HostLeftovers.mounts(under: daemon.root.path)
        footprint.cgroups = HostLeftovers.cgroupDirectories(instance: daemon.instance)
        footprint.processes = (try? await HostProcess.run("pgrep", ["-f", "^sleep \(sleepSeconds)$"]))?.stdout.lines ?? []
        return footprint
    }
}

/// A daemon that ran a sprite and was then stopped with SIGTERM.
struct StoppedDaemon: Sendable {
    @TaskLocal static var current: StoppedDaemon?

    let daemon: DaemonFixture
    let exitStatus: Int32?
    let before: HostFootprint
    let after: HostFootprint

    static func shared() throws -> StoppedDaemon {
        guard let current else { throw TestFailure("no stopped daemon: the suite needs the .stoppedDaemon trait") }
        return current
    }
}

struct StoppedDaemonTrait: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let daemon = try await DaemonFixture.start()
        do {
            let name = TestEnvironment.spriteName("down")
            let seconds = 6_543_000 + Int.random(in: 0..<1000)
            try await daemon.createSprite(name)
            let started = try await daemon.sh(name, "(sleep \(seconds) >/dev/null 2>&1 &)")
            guard started.succeeded else { throw TestFailure("could not start a background process: \(started)\n\(daemon.logTail())") }
            let info = try await daemon.http("GET", "/v1/sprites/\(name)")
            guard let id = info.json?["id"] as? String else { throw TestFailure("no sprite id in \(info)") }

            let before = await HostFootprint.measure(daemon, spriteID: id, sleepSeconds: seconds)
            let status = await daemon.stop()
            let after = await HostFootprint.measure(daemon, spriteID: id, sleepSeconds: seconds)
            let stopped = StoppedDaemon(daemon: daemon, exitStatus: status, before: before, after: after)
            try await StoppedDaemon.$current.withValue(stopped) {
                try await SharedDaemonTrait.attachingLog(of: daemon).provideScope(for: test, testCase: testCase, performing: function)
            }
        } catch {
            await daemon.tearDown()
            throw error
        }
        await daemon.tearDown()
    }
}

extension Trait where Self == StoppedDaemonTrait {
    static var stoppedDaemon: Self { Self() }
}

extension HobIntegration {
    @Suite("Clean shutdown", .stoppedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct ShutdownTests {
        @Test("hob serve exits 0 on SIGTERM")
        func exitStatus() throws {
            #expect(try StoppedDaemon.shared().exitStatus == 0)
        }

        @Test("the bridge and the sprites' veths are removed")
        func links() throws {
            let stopped = try StoppedDaemon.shared()
            #expect(stopped.before.links.count == 2, "expected the bridge and a veth while running: \(stopped.before.links)")
            #expect(stopped.after.links == [])
        }

        @Test("its nftables tables are removed")
        func nftablesTables() throws {
            let stopped = try StoppedDaemon.shared()
            #expect(stopped.before.nftablesTables.contains("inet \(stopped.daemon.instance)"), "\(stopped.before.nftablesTables)")
            #expect(stopped.after.nftablesTables == [])
        }

        @Test("nothing stays mounted under the state directory")
        func mounts() throws {
            let stopped = try StoppedDaemon.shared()
            #expect(!stopped.before.mounts.isEmpty)
            #expect(stopped.after.mounts == [])
        }

        @Test("the sprites' processes are stopped")
        func processes() throws {
            let stopped = try StoppedDaemon.shared()
            #expect(!stopped.before.processes.isEmpty)
            #expect(stopped.after.processes == [])
        }

        @Test("the cgroups it created are removed")
        func cgroups() throws {
            let stopped = try StoppedDaemon.shared()
            #expect(!stopped.before.cgroups.isEmpty)
            #expect(stopped.after.cgroups == [])
        }
    }
}
