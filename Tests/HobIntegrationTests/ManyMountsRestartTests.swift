// A busy host has a long mount table. A daemon killed with -9 leaves its pool mounted and its
// sprites running; the next one must recognise the pool (by the loop device serving its file, in a
// table read whole) and take the sprites back, however many mounts come before the pool's.
import Foundation
import Glibc
import Testing

extension HobIntegration {
    @Suite("Restart on a host with thousands of mounts", .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct ManyMountsRestartTests {
        static let extraMounts = 5000
        static let mountSource = "hob-it-extra"

        @Test("after kill -9, a daemon with 5,000 other mounts in its table takes back its pool and running sprites")
        func restartsWithLongMountTable() async throws {
            // The mounts and the daemons live in a private mount namespace: the daemon sees a table
            // as long as a busy host's, and nothing of it can leak to the host or outlive the test.
            let namespace = try await PrivateMountNamespace.start()
            let extra = try TemporaryDirectory(prefix: "hob-it-mounts-")
            do {
                try await namespace.addTmpfsMounts(Self.extraMounts, under: extra.path, source: Self.mountSource)
                let table = namespace.mountTable()
                #expect(table.lines.count > Self.extraMounts, "the namespace has \(table.lines.count) mounts")
                // Started after the mounts, so the pool's own line comes after all of them.
                let daemon = try await DaemonFixture.start(launcher: namespace.launcher)
                do {
                    try await Self.killAndRestart(daemon)
                } catch {
                    await daemon.tearDown()
                    throw error
                }
                await daemon.tearDown()
            } catch {
                await namespace.end()
                extra.remove()
                throw error
            }
            await namespace.end()
            extra.remove()
            #expect(!KernelFile.text("/proc/self/mountinfo").contains(Self.mountSource), "extra mounts leaked into the test's namespace")
            #expect(HostLeftovers.mounts(under: extra.path).isEmpty)
        }

        static func killAndRestart(_ daemon: DaemonFixture) async throws {
            let names = [TestEnvironment.spriteName(), TestEnvironment.spriteName()]
            try await daemon.cleaningUp(sprites: names) {
                for name in names {
                    try await daemon.createSprite(name)
                    let started = try await daemon.sh(name, "(sleep 5555 >/dev/null 2>&1 &)")
                    #expect(started.succeeded, "\(started)")
                }
                await daemon.kill9()
                try await daemon.restart()
                #expect(daemon.logTail(400).contains("storage pool reattached"), "\(daemon.logTail())")

                for name in names {
                    let info = try await daemon.http("GET", "/v1/sprites/\(name)")
                    #expect(info.json?["status"] as? String == "running", "\(info)\n\(daemon.logTail())")
                    let sleeping = try await daemon.exec(name, ["pgrep", "-f", "^sleep 5555$"])
                    #expect(sleeping.succeeded, "the sprite's processes were not taken back: \(sleeping)\n\(daemon.logTail())")
                    let viaCLI = try await daemon.cli("exec", name, "--", "echo", "managed")
                    #expect(viaCLI.succeeded && viaCLI.stdout == "managed\n", "\(viaCLI)")
                }
            }
        }
    }
}
