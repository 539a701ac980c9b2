// `hob sleep`, `hob usage`, `hob update` and the timeouts of `hob create`: arguments and the
// requests they become; durations as people write them. No daemon is contacted.

import ArgumentParser
import Foundation
import HobAPI
@testable import HobCLI
import Testing

@Suite("Lifecycle commands")
struct LifecycleCommandTests {
    @Test("millisecond durations as Go and Python print them")
    func milliseconds() {
        #expect(DurationText.milliseconds("5s") == 5000)
        #expect(DurationText.milliseconds("5.0s") == 5000)
        #expect(DurationText.milliseconds("1.5") == 1500)
        #expect(DurationText.milliseconds("1m30s") == 90_000)
        #expect(DurationText.milliseconds("500ms") == 500)
        #expect(DurationText.milliseconds("1h0m0s") == 3_600_000)
        #expect(DurationText.milliseconds("250us") == 1)
        for bad in ["", "s", "5x", "-1s", "1..5s", "forever"] { #expect(DurationText.milliseconds(bad) == nil, "\(bad)") }
    }

    @Test("durations: seconds, units, sums; garbage is nil")
    func durations() {
        #expect(DurationText.seconds("45") == 45)
        #expect(DurationText.seconds("45s") == 45)
        #expect(DurationText.seconds("15m") == 900)
        #expect(DurationText.seconds("1h30m") == 5400)
        #expect(DurationText.seconds("2d") == 172_800)
        #expect(DurationText.seconds("0") == 0)
        #expect(DurationText.seconds("1H") == 3600)
        for bad in ["", "soon", "1x", "m", "1h30", "-5", "1.5h", "99999999999999999999d"] {
            #expect(DurationText.seconds(bad) == nil, "\(bad)")
        }
        #expect(DurationText.format(5400) == "1h30m")
        #expect(DurationText.format(0) == "0s")
        #expect(DurationText.format(86_401) == "1d1s")
    }

    @Test("expire is seconds or a duration string")
    func durationValues() throws {
        let decoder = JSONDecoderShim()
        #expect(try decoder.decode(#"{"expire":90}"#).expire?.seconds == 90)
        #expect(try decoder.decode(#"{"expire":"1h"}"#).expire?.seconds == 3600)
        #expect(try decoder.decode(#"{"expire":"later"}"#).expire?.seconds == nil)
        #expect(try decoder.decode(#"{"expire":-1}"#).expire?.seconds == nil)
        #expect(try decoder.decode(#"{"name":"x"}"#).expire == nil)
    }

    @Test("hob sleep: warm by default, --cold")
    func sleep() throws {
        let warm = try Sleep.parse(["demo"])
        #expect(warm.name == "demo" && !warm.cold)
        #expect(try Sleep.parse(["demo", "--cold", "--json"]).cold)
        #expect(throws: (any Error).self) { try Sleep.parse([]) }
    }

    @Test("hob usage: one sprite or all")
    func usage() throws {
        #expect(try Usage.parse([]).name == nil)
        #expect(try Usage.parse(["demo", "--json"]).name == "demo")
    }

    @Test("hob update: timeouts become config, never is 0, nothing to change is an error")
    func update() throws {
        let request = try Update.parse(["demo", "--idle-timeout", "5m", "--cold-timeout", "never"]).request()
        #expect(request.config == SpriteConfig(idleTimeout: 300, coldTimeout: 0))
        #expect(request.labels == nil && request.urlSettings == nil)
        let labels = try Update.parse(["demo", "--label", "a", "--label", "b", "--url-auth", "public"]).request()
        #expect(labels.labels == ["a", "b"] && labels.urlSettings?.auth == "public" && labels.config == nil)
        #expect(throws: (any Error).self) { try Update.parse(["demo"]) }
        #expect(throws: (any Error).self) { try Update.parse(["demo", "--idle-timeout", "soon"]) }
        #expect(throws: (any Error).self) { try Update.parse(["demo", "--clear-labels", "--label", "x"]) }
    }

    @Test("hob create: timeouts join config")
    func create() throws {
        let request = try Create.parse(["demo", "--idle-timeout", "10m", "--cold-timeout", "off"]).request()
        #expect(request.config == SpriteConfig(idleTimeout: 600, coldTimeout: 0))
        #expect(try Create.parse(["demo"]).request().config == nil)
        #expect(throws: (any Error).self) { try Create.parse(["demo", "--cold-timeout", "1y"]) }
    }

    @Test("usage rendering: durations and the total row")
    func rendering() {
        #expect(Usage.duration(12) == "12s")
        #expect(Usage.duration(250) == "4m 10s")
        #expect(Usage.duration(7380) == "2h 03m")
        let u = SpriteUsage(
            name: "demo", id: "i", status: .warm, since: "2026-01-01T00:00:00Z", cpuSeconds: 5.04, memoryAverageBytes: 1 << 20,
            memoryPeakBytes: 2 << 20, memoryByteSeconds: 3e9, runningSeconds: 60, warmSeconds: 30, diskBytes: nil)
        let table = Usage.table(HostUsage(
            sprites: [u], total: UsageTotal(sprites: 1, cpuSeconds: 5.04, memoryByteSeconds: 3e9, runningSeconds: 60, warmSeconds: 30, diskBytes: 0),
            destroyed: UsageTotal(sprites: 0, cpuSeconds: 0, memoryByteSeconds: 0, runningSeconds: 0, warmSeconds: 0, diskBytes: 0)))
        #expect(table.contains("demo") && table.contains("5.0s") && table.contains("(total)") && !table.contains("(destroyed)"))
        #expect(Usage.describe(u).contains("not measured yet"))
    }
}

/// Decodes a TaskRequest from JSON text.
private struct JSONDecoderShim {
    func decode(_ text: String) throws -> TaskRequest {
        try JSONDecoder().decode(TaskRequest.self, from: Data(text.utf8))
    }
}
