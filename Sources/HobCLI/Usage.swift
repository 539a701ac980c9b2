// `hob usage`: what sprites have used (GET /v1/sprites/{name}/usage, GET /v1/usage).

import ArgumentParser
import Foundation
import HobAPI
import HobClient

public struct Usage: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        abstract: "Show CPU, memory, running time and disk used by sprites.",
        discussion: """
            CPU and memory count only while a sprite runs; a sleeping (warm) or stopped (cold) \
            sprite accrues none. Without a name: every sprite, the total of this host, and what \
            destroyed sprites used.

            Examples:
              hob usage
              hob usage demo
              hob usage --json | jq .total.cpu_seconds
            """)

    @Argument(help: "Sprite name (default: every sprite).")
    public var name: String?

    @Flag(help: "Print JSON.")
    public var json = false

    public init() {}

    public func run() async throws {
        try await CommandFailure.reporting(name.map { Subject.sprite($0) } ?? .none) {
            let client = try Daemon.client()
            if let name {
                let usage = try await client.usage(name)
                if json { try JSONOutput.print(usage) } else { print(Self.describe(usage)) }
            } else {
                let host = try await client.hostUsage()
                if json { try JSONOutput.print(host) } else { print(Self.table(host)) }
            }
        }
    }

    static func describe(_ u: SpriteUsage) -> String {
        var block = KeyValueBlock()
        block.add("name", u.name)
        block.add("status", u.status.rawValue)
        block.add("since", u.since)
        block.add("cpu", "\(seconds(u.cpuSeconds)) CPU time")
        block.add("memory", "\(ByteCount.format(u.memoryAverageBytes)) average, \(ByteCount.format(u.memoryPeakBytes)) peak")
        block.add("memory time", "\(gbHours(u.memoryByteSeconds)) GB-h")
        block.add("running", duration(u.runningSeconds))
        block.add("warm", duration(u.warmSeconds))
        block.add("disk", u.diskBytes.map { ByteCount.format($0) } ?? "not measured yet")
        return block.render()
    }

    static func table(_ host: HostUsage) -> String {
        var table = TextTable(headers: ["NAME", "STATUS", "CPU", "MEM AVG", "MEM PEAK", "RUNNING", "WARM", "DISK"])
        for u in host.sprites {
            table.rows.append([
                u.name, u.status.rawValue, seconds(u.cpuSeconds), ByteCount.format(u.memoryAverageBytes),
                ByteCount.format(u.memoryPeakBytes), duration(u.runningSeconds), duration(u.warmSeconds),
                u.diskBytes.map { ByteCount.format($0) } ?? "-",
            ])
        }
        for (label, t) in [("total", host.total), ("destroyed", host.destroyed)] where label == "total" || t.runningSeconds > 0 {
            table.rows.append([
                "(\(label))", label == "total" ? (t.sprites == 1 ? "1 sprite" : "\(t.sprites) sprites") : "", seconds(t.cpuSeconds), "", "",
                duration(t.runningSeconds), duration(t.warmSeconds), label == "total" ? ByteCount.format(t.diskBytes) : "",
            ])
        }
        return table.render()
    }

    static func seconds(_ s: Double) -> String { String(format: "%.1fs", s) }

    static func gbHours(_ byteSeconds: Double) -> String { String(format: "%.4f", byteSeconds / 1e9 / 3600) }

    /// "2h 03m", "4m 10s", "12s".
    static func duration(_ s: Double) -> String {
        let total = Int(s.rounded())
        let (h, m, sec) = (total / 3600, total % 3600 / 60, total % 60)
        if h > 0 { return String(format: "%dh %02dm", h, m) }
        if m > 0 { return String(format: "%dm %02ds", m, sec) }
        return "\(sec)s"
    }
}
