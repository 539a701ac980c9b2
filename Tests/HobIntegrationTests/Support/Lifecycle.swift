// Helpers for the lifecycle suites: sprites with their own timeouts, status polling, the kernel's
// view of a sprite's CPU time, and usage reports.
import Foundation
import Testing

extension DaemonFixture {
    /// POST /v1/sprites with `config` (say, `["cold_timeout": 3]`); fails unless 201.
    func createSprite(_ name: String, config: [String: Any]) async throws {
        let body = try JSONSerialization.data(withJSONObject: ["name": name, "config": config])
        let response = try await http("POST", "/v1/sprites", body: body)
        guard response.status == 201 else { throw TestFailure("creating sprite \(name): \(response)\n\(logTail())") }
    }

    /// Like `withSprite`, with a `config` for the create.
    func withSprite<T: Sendable>(
        _ name: String = TestEnvironment.spriteName(), config: [String: Any], _ body: (String) async throws -> T
    ) async throws -> T {
        try await cleaningUp(sprites: [name]) {
            try await createSprite(name, config: config)
            return try await body(name)
        }
    }

    func status(_ name: String) async throws -> String {
        try await spriteInfo(name)["status"] as? String ?? "?"
    }

    /// Waits until the sprite reports `status`; fails after `timeout`.
    func waitForStatus(_ name: String, _ status: String, timeout: Duration) async throws {
        let started = ContinuousClock.now
        var last = ""
        while ContinuousClock.now - started < timeout {
            last = try await self.status(name)
            if last == status { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("sprite \(name) was still \(last), not \(status), after \(timeout)\n\(logTail())")
    }

    func spriteID(_ name: String) async throws -> String {
        guard let id = try await spriteInfo(name)["id"] as? String else { throw TestFailure("sprite \(name) has no id") }
        return id
    }

    /// CPU time the kernel counted for the sprite's cgroup (v2 `cpu.stat`, else v1 `cpuacct.usage`),
    /// in microseconds; nil when the sprite has no cgroup (it is cold).
    func cgroupCPUMicros(spriteID id: String) -> Int64? {
        let mounts = KernelFile.text("/proc/self/mountinfo")
        var v2: String?
        var cpuacct: String?
        for line in mounts.lines {
            let halves = line.components(separatedBy: " - ")
            guard halves.count == 2 else { continue }
            let point = String(halves[0].split(separator: " ")[4])
            let right = halves[1].split(separator: " ")
            if right.first == "cgroup2" && v2 == nil { v2 = point }
            if right.first == "cgroup", right.count > 2, right[2].split(separator: ",").contains("cpuacct") { cpuacct = point }
        }
        if let v2, let stat = try? String(contentsOfFile: "\(v2)/\(instance)/\(id)/cpu.stat", encoding: .utf8) {
            return stat.lines.first { $0.hasPrefix("usage_usec ") }.flatMap { Int64($0.dropFirst("usage_usec ".count)) }
        }
        if let cpuacct, let ns = try? String(contentsOfFile: "\(cpuacct)/\(instance)/\(id)/cpuacct.usage", encoding: .utf8) {
            return Int64(ns.trimmed).map { $0 / 1000 }
        }
        return nil
    }

    /// GET /v1/sprites/{name}/usage as JSON; fails unless 200.
    func usage(_ name: String) async throws -> [String: Any] {
        let response = try await http("GET", "/v1/sprites/\(name)/usage")
        guard response.status == 200, let json = response.json else { throw TestFailure("GET usage of \(name): \(response)") }
        return json
    }

    /// POST /v1/sprites/{name}/sleep.
    func sleep(_ name: String, state: String? = nil) async throws -> HTTPResult {
        try await http("POST", "/v1/sprites/\(name)/sleep", body: state.map { Data(#"{"state":"\#($0)"}"#.utf8) })
    }
}

func number(_ value: Any?) -> Double { (value as? NSNumber)?.doubleValue ?? .nan }
