// The control connection's limits and op boundaries (review #2, #7, #10): a large fs.write
// arrives whole, a released op sends nothing once the next one runs, and fs.list is bounded.
import Foundation
import Testing

extension HobIntegration {
    @Suite("Control connection limits", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct ControlLimitsTests {
        @Test("a 3 MiB fs.write, sent in frames as sprites-go sends it, arrives whole")
        func largeWrite() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let content = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 11) }
                let (written, sum) = try await daemon.withControl(name) { control in
                    try control.start("fs.write", args: "path=/home/sprite/big.bin&workingDir=%2Fhome%2Fsprite", prefixed: false)
                    try control.sendBinary(content, frameBytes: 4096)
                    let written = [try control.next(), try control.next()]
                    return (written, try control.exec(["sha256sum", "/home/sprite/big.bin"]))
                }
                #expect(written[0].envelope?["size"] as? Int == content.count, "\(written)")
                #expect(written[1].envelope?["type"] as? String == "op.complete", "\(written)")
                let expected = try await HostProcess.run("sh", ["-c", "sha256sum | cut -d' ' -f1"], stdin: Data(content)).stdout
                #expect(sum.output.hasPrefix(expected.trimmingCharacters(in: .whitespacesAndNewlines)), "\(sum)")
            }
        }

        @Test("a text message over 1 MiB still closes /control with 1009")
        func largeTextRefused() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let end = try await daemon.withControl(name) { control in
                    try control.sendText(String(repeating: "x", count: (1 << 20) + 1))
                    return try control.next()
                }
                #expect(end == .closed(code: 1009), "\(end)")
            }
        }

        @Test("an exec that keeps writing sends nothing once the client started the next op")
        func releasedExecIsSilent() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let (abandoned, next, quiet) = try await daemon.withControl(name) { control in
                    try control.start("exec", args: ["cmd": ["sh", "-c", "while :; do echo tick; sleep 0.01; done"], "stdin": "false"])
                    let abandoned = try control.collect(within: .seconds(2))
                    let next = try control.exec(["echo", "next"])
                    return (abandoned, next, try control.isQuiet(for: .seconds(2)))
                }
                #expect(abandoned.output.hasPrefix("tick\n") && abandoned.timedOut, "\(abandoned)")
                // Ticks already on the way when the client started the next op may come first.
                #expect(next.output.hasSuffix("next\n") && next.completeExitCode == 0, "\(next)")
                #expect(quiet)
            }
        }

        @Test("fs.list answers at most max_results entries and says it was truncated")
        func listCapped() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let (made, capped, whole) = try await daemon.withControl(name) { control in
                    let made = try control.exec(["sh", "-c", "mkdir -p /home/sprite/many && cd /home/sprite/many && for i in $(seq 1 50); do : > f$i; done"])
                    try control.start("fs.list", args: "path=many&workingDir=%2Fhome%2Fsprite&max_results=10", prefixed: false)
                    let capped = [try control.next(), try control.next()]
                    try control.start("fs.list", args: "path=many&workingDir=%2Fhome%2Fsprite", prefixed: false)
                    let whole = [try control.next(), try control.next()]
                    return (made, capped, whole)
                }
                #expect(made.completeExitCode == 0, "\(made)")
                #expect((capped[0].envelope?["entries"] as? [Any])?.count == 10 && capped[0].envelope?["count"] as? Int == 10, "\(capped)")
                #expect(capped[0].envelope?["truncated"] as? Bool == true, "\(capped)")
                #expect(whole[0].envelope?["count"] as? Int == 50 && whole[0].envelope?["truncated"] == nil, "\(whole)")
            }
        }
    }
}
