// Sprite maintenance (SPRITES-API.md §3.6, §18): restart, check and upgrade.
//
// - Restart stops the sprite's processes (as `hob sleep --cold` does: services and sessions end,
//   the disk is kept) and boots it again. A cold sprite is simply booted.
// - Check looks at the machinery Hob runs for the sprite without waking it: the disk in the
//   pool, and for a running sprite its init process and its agent (a ping over the agent
//   socket). A warm or cold sprite is `hibernated` when its parts are there.
// - Upgrade: a sprite's disk began as a copy of the base image and has been the user's since, so
//   Hob never rebases it (that would throw the user's changes away). What Hob can update safely is
//   the machinery it mounts into the sprite at every boot (hob-init, the in-sprite API and
//   sprite-env, from the daemon's own binaries): a running or warm sprite keeps the machinery it
//   booted with until it stops, so an upgrade restarts it; a cold one takes the current one at its
//   next boot, and nothing needs doing.
import Foundation
import HobAgentProtocol
import HobAPI
import Logging

extension Fleet {
    /// Stops the sprite if it runs (or sleeps warm) and boots it again on the same disk.
    public func restart(_ name: String) async throws -> RestartResponse {
        let record = try bootable(name)
        let wasAwake = status(of: record) != .cold
        if wasAwake { _ = try await sleep(name, to: .cold) }
        let (booted, _) = try await running(name)
        guard booted.id == record.id else { throw notFound(name) }
        logger.with(sprite: record).info("sprite restarted", metadata: ["was_awake": "\(wasAwake)"])
        return RestartResponse(
            spriteName: name, machineID: record.id, message: wasAwake ? "sprite \(name) restarted" : "sprite \(name) was cold and has booted")
    }

    /// The upgrade described above. The version is the image the sprite's disk began from (as
    /// `environment_version`), not necessarily the newest: Hob never moves a disk to another image.
    /// `version`, when given, must be that one or Hob's API version.
    public func upgrade(_ name: String, version: String?) async throws -> UpgradeResponse {
        let record = try bootable(name)
        let current = imageName(of: record.id)
        if let version, !version.isEmpty, version != current, version != spriteAPIVersion {
            throw HobError(
                .invalidArgument,
                "sprite \(name) runs environment version \(current) (API \(spriteAPIVersion)); Hob cannot move its disk to \(version)")
        }
        guard status(of: record) != .cold else {
            return UpgradeResponse(
                name: name, status: "upgraded", version: current, restarted: false,
                message: "sprite \(name) is cold: it takes the current machinery when it next boots")
        }
        _ = try await restart(name)
        return UpgradeResponse(
            name: name, status: "upgraded", version: current, restarted: true,
            message: "sprite \(name) restarted with the current machinery; its disk is unchanged")
    }

    /// The health check described above; never boots or wakes the sprite.
    public func check(_ name: String) async throws -> CheckResponse {
        let record = try record(name)
        let started = ContinuousClock.now
        var checks: [String: String] = [:]
        checks["disk"] = storage.hasDisk(record.id) ? "ok" : "the sprite's disk is missing from the storage"
        let state = sprites[record.id]?.phase ?? .cold
        var status: String
        switch state {
        case .creating:
            return checkAnswer(record, "error", "the sprite is still being created", started, checks)
        case .cold:
            status = "hibernated"
        case .booting:
            return checkAnswer(record, "error", "the sprite is booting; check again in a moment", started, checks)
        case .warm(let running):
            checks["init"] = runtimes.of(running).isAlive(running) ? "ok" : "the sprite's init process is gone"
            status = "hibernated"
        case .running(let running):
            checks["init"] = runtimes.of(running).isAlive(running) ? "ok" : "the sprite's init process is gone"
            checks["agent"] = await Self.pingAgent(running)
            status = "healthy"
        }
        let problems = checks.filter { $0.value != "ok" }.sorted { $0.key < $1.key }
        if !problems.isEmpty { status = "unhealthy" }
        return checkAnswer(record, status, problems.map { "\($0.key): \($0.value)" }.joined(separator: "; "), started, checks)
    }

    private func checkAnswer(_ record: SpriteRecord, _ status: String, _ reason: String, _ started: ContinuousClock.Instant, _ checks: [String: String]) -> CheckResponse {
        let elapsed = ContinuousClock.now - started
        return CheckResponse(
            spriteName: record.name, spriteID: record.id, status: status, reason: reason, checkedAt: Timestamp.format(Date()),
            elapsed: "\(max(elapsed.milliseconds, 0))ms", checks: checks)
    }

    /// "ok" when the sprite's agent answers a ping within two seconds, else what went wrong.
    nonisolated static func pingAgent(_ running: RunningSprite) async -> String {
        do {
            switch try await running.agent.request(.ping, timeout: .seconds(2)) {
            case .pong: return "ok"
            default: return "the sprite's agent answered a ping with something else"
            }
        } catch {
            return "the sprite's agent does not answer: \(error)"
        }
    }
}
