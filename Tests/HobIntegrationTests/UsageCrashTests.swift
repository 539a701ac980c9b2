// Usage totals only grow: what the API has reported survives a daemon killed with -9, for a sprite
// that keeps running, and for one that went to sleep after the last periodic write.
import Foundation
import Testing

extension HobIntegration {
    @Suite("Usage across crashes", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct UsageCrashTests {
        static let spriteTotals = ["cpu_seconds", "memory_byte_seconds", "memory_peak_bytes", "running_seconds", "warm_seconds"]
        static let hostTotals = ["cpu_seconds", "memory_byte_seconds", "running_seconds", "warm_seconds"]

        @Test("no usage total read before a kill -9 is larger than the same total after the restart")
        func totalsNeverDecrease() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                // Something to count: CPU for a moment, then memory held.
                let load = "import time\nb = bytearray(32 << 20)\nt = time.time()\nwhile time.time() - t < 2: pass\ntime.sleep(3600)\n"
                let started = try await daemon.sh(name, "(python3 -c '\(load)' >/dev/null 2>&1 &)")
                #expect(started.succeeded, "\(started)")

                // Running: reads between kills, each within the 30 s between periodic writes.
                for round in 1...2 {
                    try await Task.sleep(for: .seconds(3))
                    try await Self.expectMonotonic(daemon, name, "running, round \(round)")
                }

                // Gone warm after the last periodic write: the running time before the freeze is kept.
                try await Task.sleep(for: .seconds(2))
                let slept = try await daemon.http("POST", "/v1/sprites/\(name)/sleep", body: Data(#"{"state":"warm"}"#.utf8))
                #expect(slept.status == 200, "\(slept)")
                try await Task.sleep(for: .seconds(2))
                try await Self.expectMonotonic(daemon, name, "warm")
            }
        }

        /// Reads the sprite's and the host's totals, kills the daemon, starts it again and reads them again.
        static func expectMonotonic(_ daemon: DaemonFixture, _ name: String, _ when: String) async throws {
            let before = try await usage(daemon, name)
            let hostBefore = try await hostUsage(daemon)
            await daemon.kill9()
            try await daemon.restart()
            let after = try await usage(daemon, name)
            let hostAfter = try await hostUsage(daemon)
            for key in spriteTotals {
                let (b, a) = (before[key] ?? -1, after[key] ?? -1)
                #expect(b >= 0 && a >= b, "\(when): \(key) went from \(b) to \(a) across kill -9")
            }
            for key in hostTotals {
                let (b, a) = (hostBefore[key] ?? -1, hostAfter[key] ?? -1)
                #expect(b >= 0 && a >= b, "\(when): host total \(key) went from \(b) to \(a) across kill -9")
            }
            #expect((before["memory_byte_seconds"] ?? 0) > 0, "\(when): nothing was counted to compare: \(before)")
        }

        static func usage(_ daemon: DaemonFixture, _ name: String) async throws -> [String: Double] {
            let response = try await daemon.http("GET", "/v1/sprites/\(name)/usage")
            guard response.status == 200, let json = response.json else { throw TestFailure("usage of \(name): \(response)") }
            return numbers(json)
        }

        /// `total` plus `destroyed`: what the host has used, live and gone.
        static func hostUsage(_ daemon: DaemonFixture) async throws -> [String: Double] {
            let response = try await daemon.http("GET", "/v1/usage")
            guard response.status == 200, let json = response.json, let total = json["total"] as? [String: Any],
                let destroyed = json["destroyed"] as? [String: Any]
            else { throw TestFailure("host usage: \(response)") }
            let (t, d) = (numbers(total), numbers(destroyed))
            return t.merging(d, uniquingKeysWith: +)
        }

        static func numbers(_ json: [String: Any]) -> [String: Double] {
            json.compactMapValues { ($0 as? NSNumber)?.doubleValue }
        }
    }
}
