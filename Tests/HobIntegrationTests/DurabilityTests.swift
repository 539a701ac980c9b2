// What survives the daemon going away: disks always; running sprites and their processes when the
// daemon is killed (they are adopted on restart); a clean stop stops sprites, which boot again on demand.
import Foundation
import Testing

extension HobIntegration {
    @Suite("Durability", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct DurabilityTests {
        @Test("after kill -9 and a restart, a sprite keeps its files and its running processes")
        func survivesKill9() async throws {
            let daemon = try DaemonFixture.shared()
            let content = TestEnvironment.randomName(16)
            try await daemon.withSprite { name in
                let setUp = try await daemon.sh(name, "echo \(content) > /root/durable && (sleep 5555 >/dev/null 2>&1 &)")
                #expect(setUp.succeeded, "\(setUp)")

                await daemon.kill9()
                try await daemon.restart()

                let file = try await daemon.exec(name, ["cat", "/root/durable"])
                #expect(file.succeeded, "\(file)")
                #expect(file.stdout == content + "\n", "\(file)")
                let sleeping = try await daemon.exec(name, ["pgrep", "-f", "^sleep 5555$"])
                #expect(sleeping.succeeded, "the background `sleep 5555` did not survive: \(sleeping)")
            }
        }

        @Test("after a clean stop and a restart, a sprite keeps its files and boots again on demand")
        func survivesCleanRestart() async throws {
            let daemon = try DaemonFixture.shared()
            let content = TestEnvironment.randomName(16)
            try await daemon.withSprite { name in
                let written = try await daemon.sh(name, "echo \(content) > /root/durable")
                #expect(written.succeeded, "\(written)")

                let status = await daemon.stop()
                #expect(status == 0, "hob serve exited with \(status.map(String.init) ?? "nothing") on SIGTERM")
                try await daemon.restart()

                let before = try await daemon.http("GET", "/v1/sprites/\(name)")
                #expect(before.json?["status"] as? String == "cold", "\(before)")
                let file = try await daemon.exec(name, ["cat", "/root/durable"])
                #expect(file.succeeded, "\(file)")
                #expect(file.stdout == content + "\n", "\(file)")
                let after = try await daemon.http("GET", "/v1/sprites/\(name)")
                #expect(after.json?["status"] as? String == "running", "\(after)")
            }
        }
    }
}
