// The control connection and sleep (docs/API.md "The control connection"): an idle connection does
// not keep its sprite awake — sprites-go and the SDK pools keep connections open indefinitely — a
// running op does, and the next op on the same connection wakes the sprite.
import Foundation
import Testing

extension HobIntegration {
    @Suite(
        "Control connection and sleep", .sharedDaemon("--idle-timeout", "2s", "--cold-timeout", "1h"),
        .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct ControlSleepTests {
        @Test("an idle control connection lets its sprite sleep, a running op holds it, the next op wakes it")
        func idleDoesNotHold() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let control = try await HeldControl(daemon, name)
                let first = try await control.run { try $0.exec(["echo", "first"]) }
                #expect(first.completeExitCode == 0, "\(first)")
                try await daemon.waitForStatus(name, "warm", timeout: .seconds(10))

                try await control.run { try $0.start("exec", args: ["cmd": ["sleep", "6"], "stdin": "false"]) }
                try await Task.sleep(for: .seconds(4))
                #expect(try await daemon.status(name) == "running", "a running op must hold its sprite awake")
                let slept = try await control.run { try $0.collect() }
                #expect(slept.completeExitCode == 0, "\(slept)")
                try await daemon.waitForStatus(name, "warm", timeout: .seconds(10))

                let again = try await control.run { try $0.exec(["echo", "again"]) }
                #expect(again.output == "again\n" && again.completeExitCode == 0, "\(again)")
            }
        }
    }
}
