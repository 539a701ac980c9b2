// The resources policy: a sprite's memory limit, changed while it runs.
//
// The limit is the sprite's `ram_mb` (SpriteInfo config): persisted in its row, and written to
// its run at once when it has one (running or asleep: the runtime's cgroup), so the next allocation past it is
// reclaimed or OOM-killed inside the sprite, as at boot. A cold sprite gets it at its next boot.
import Foundation
import HobOS
import Logging

extension Fleet {
    /// The smallest limit: below it a Debian userland with hob-init does not start reliably.
    public static let minimumMemoryMB = 64

    public func memoryLimitMB(_ name: String) throws -> Int { try record(name).ramMB }

    /// Sets the sprite's memory limit to `mb`, or back to the daemon's default when nil.
    /// Applied live first, so a limit the kernel refuses (v1: more in use than it can reclaim)
    /// is not recorded.
    public func setMemoryLimit(_ name: String, mb: Int?) async throws {
        let target = mb ?? config.defaults.ramMB
        let hostMB = Self.hostMemoryMB()
        guard target >= Self.minimumMemoryMB, hostMB.map({ target <= $0 }) ?? true else {
            let most = hostMB.map { " and \($0) (this host's memory)" } ?? ""
            throw HobError(.invalidArgument, "memory.limit_mb must be between \(Self.minimumMemoryMB)\(most), got \(target)")
        }
        let record = try self.record(name)
        let previous = record.ramMB
        let live = try apply(record, mb: target)
        do {
            try await changeRecord(name) { $0.ramMB = target }
        } catch {
            if live { _ = try? runtimes.of(record).setMemoryLimit(record.id, bytes: Int64(previous) << 20) }
            throw HobError.wrap(error, "record the memory limit of sprite \(name)")
        }
        logger.info("memory limit set", metadata: ["sprite": "\(name)", "mb": "\(target)", "live": "\(live)"])
    }

    /// Applies the limit to the sprite's run, if it has one; true if it did.
    private func apply(_ record: SpriteRecord, mb: Int) throws -> Bool {
        let sprite = record.name
        do {
            return try runtimes.of(record).setMemoryLimit(record.id, bytes: Int64(mb) << 20)
        } catch let error as SystemError where error.errno == EBUSY {
            throw HobError(
                .invalidState, "sprite \(sprite) uses more than \(mb) MB now and the kernel could not reclaim enough; free memory in it first",
                cause: error)
        } catch {
            throw HobError(.internalError, "set the memory limit of sprite \(sprite)", cause: error)
        }
    }

    /// MemTotal of /proc/meminfo, in MiB.
    static func hostMemoryMB() -> Int? {
        guard let info = try? Files.read("/proc/meminfo"),
            let line = info.split(separator: "\n").first(where: { $0.hasPrefix("MemTotal:") }),
            let kb = Int(line.split(separator: " ").dropFirst().first ?? "")
        else { return nil }
        return kb / 1024
    }
}
