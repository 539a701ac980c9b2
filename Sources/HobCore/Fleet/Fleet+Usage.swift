// Metering: CPU time, memory (average and peak over running time), seconds running and warm, and
// disk, per sprite, kept in the store across daemon restarts.
//
// CPU and memory come from the sprite's cgroup, whose counters start at zero at each boot: each
// sample adds the counter's growth since the last one. Seconds running and warm are counted
// between state changes (`accrue` runs before every change and every few seconds while running).
// A frozen sprite's counters do not move, and a stopped one has none, so CPU and memory accrue only
// while it runs. The store is written every 30 s, whenever a sprite stops, and before any total
// is reported: what the API has shown is on disk, so a daemon killed with -9 and started again
// never reports less (it may lose up to 30 s of a sprite that was not read meanwhile and died
// while no daemon watched; CPU time is counted by the kernel and is not lost for a sprite that
// survives). Writes are serialised, so an older record never overwrites a newer one.
import Foundation
import HobAPI
import HobOS
import Logging

extension Fleet {
    /// Counts usage up to now in the sprite's current state. Call before changing its state.
    /// `sample` is a reading of the sprite's cgroup just taken; without one it is read here.
    func accrue(_ id: String, sample: CgroupUsage? = nil) {
        let now = ContinuousClock.now
        guard let mark = sprites[id]?.meterMark else { return }
        sprites[id]?.meterMark = now
        let dt = Double((now - mark).components.attoseconds) / 1e18 + Double((now - mark).components.seconds)
        var u = sprites[id]?.usage ?? UsageRecord(spriteID: id)
        switch sprites[id]?.phase {
        case .running(let running)?:
            u.runningSeconds += dt
            if let sample = sample ?? runtimes.of(running).usage(id) { absorb(sample, into: &u, runningFor: dt) }
        case .warm?:
            u.warmSeconds += dt
        default:
            return
        }
        u.countedUntil = Date()
        sprites[id]?.usage = u
        usageDirty.insert(id)
    }

    /// The periodic sample of every running sprite. The cgroup files are read off the actor (at
    /// 1,000 running sprites that is thousands of reads), and applied only to sprites still in
    /// the same run.
    func sampleRunning() async {
        let running = sprites.compactMap { id, state -> (String, RunningSprite)? in
            if case .running(let r) = state.phase { return (id, r) } else { return nil }
        }
        guard !running.isEmpty else { return }
        guard let samples = try? await offload({ [runtimes] in running.map { ($0.0, $0.1, runtimes.of($0.1).usage($0.0)) } }) else { return }
        for (id, r, sample) in samples {
            guard case .running(let current)? = sprites[id]?.phase, current == r, let sample else { continue }
            accrue(id, sample: sample)
        }
    }

    func absorb(_ sample: CgroupUsage, into u: inout UsageRecord, runningFor dt: Double) {
        // A smaller counter belongs to a new cgroup (a boot the record has not seen).
        u.cpuMicros += sample.cpuMicros >= u.countedCPUMicros ? sample.cpuMicros - u.countedCPUMicros : sample.cpuMicros
        u.countedCPUMicros = sample.cpuMicros
        u.memoryByteSeconds += Double(sample.memoryBytes) * dt
        u.memoryPeakBytes = max(u.memoryPeakBytes, sample.memoryPeakBytes)
    }

    /// A boot started the sprite's counters afresh.
    func startMetering(_ id: String, boot: RunningSprite) {
        var u = sprites[id]?.usage ?? UsageRecord(spriteID: id)
        u.boot = Self.bootID(boot)
        u.countedCPUMicros = 0
        u.countedUntil = Date()
        sprites[id]?.usage = u
        sprites[id]?.meterMark = .now
        // Saved at once: a daemon killed before the next write must not take this boot's counter
        // for the previous one's, nor count the time the sprite was cold.
        usageDirty.insert(id)
        Task { await self.flushUsage() }
    }

    /// An adopted sprite keeps counting where the last daemon stopped: the same boot's counter
    /// continues; the time the daemon was away goes to the state the sprite is found in.
    func adoptMetering(_ id: String, running: RunningSprite, frozen: Bool) {
        var u = sprites[id]?.usage ?? UsageRecord(spriteID: id)
        let boot = Self.bootID(running)
        if u.boot != boot {
            // Booted after the last write: when it started running is not known, so the time the
            // daemon was away is not counted (CPU time is: the counter covers the whole boot).
            u.boot = boot
            u.countedCPUMicros = 0
        } else if let until = u.countedUntil {
            let away = max(0, Date().timeIntervalSince(until))
            if frozen { u.warmSeconds += away } else { u.runningSeconds += away }
        }
        u.countedUntil = Date()
        sprites[id]?.usage = u
        usageDirty.insert(id)
        sprites[id]?.meterMark = .now
    }

    static func bootID(_ r: RunningSprite) -> String { r.bootID }

    /// Ends a running or warm sprite's run: counts its usage so far, marks it cold (new requests
    /// wait for this lifecycle work, then boot it again), stops it and does the bookkeeping.
    func endRun(_ record: SpriteRecord, _ running: RunningSprite, graceMs: UInt32 = 2000) async {
        accrue(record.id)
        sprites[record.id]?.phase = .cold
        let final = await runtimes.of(record).stop(record, running: running, graceMs: graceMs)
        await stopped(record.id, final: final)
    }

    /// The sprite's processes are gone (the caller accrued and marked it cold first): add what
    /// they used last, forget its tasks (they held a run that is over) and save.
    func stopped(_ id: String, final: CgroupUsage?, persist: Bool = true) async {
        if var u = sprites[id]?.usage, let final {
            // No meter mark: the sprite stopped while booting, before its metering started, so the
            // counter on record belongs to the previous boot.
            if sprites[id]?.meterMark == nil { u.countedCPUMicros = 0 }
            absorb(final, into: &u, runningFor: 0)
            sprites[id]?.usage = u
            usageDirty.insert(id)
        }
        sprites[id]?.meterMark = nil
        sprites[id]?.staleAgent = false
        sprites[id]?.agentKnowsServices = false
        let held = sprites[id]?.tasks ?? [:]
        sprites[id]?.tasks = [:]
        if !held.isEmpty {
            try? await store.deleteTasks(spriteID: id, names: Array(held.keys))
        }
        if persist { await flushUsage() }
    }

    /// Writes the records that changed since the last write, after the write before it ended (two
    /// writes in flight could land out of order and put an older total back). True when every
    /// record that was changed when it was called is in the store.
    @discardableResult
    func flushUsage() async -> Bool {
        let previous = usageFlush
        let write = Task<Bool, Never> {
            _ = await previous?.value
            return await self.writeDirtyUsage()
        }
        usageFlush = write
        return await write.value
    }

    private func writeDirtyUsage() async -> Bool {
        let dirty = usageDirty.compactMap { sprites[$0]?.usage }
        usageDirty.removeAll()
        guard !dirty.isEmpty else { return true }
        do {
            try await store.saveUsage(dirty)
            return true
        } catch {
            for u in dirty { usageDirty.insert(u.spriteID) }
            logger.error("could not save usage", metadata: ["error": "\(error)"])
            return false
        }
    }

    /// Saves the usage a report is about to show: a total the API returned is never lost to a crash.
    private func persistBeforeReporting() async throws {
        guard await flushUsage() else {
            throw HobError(.unavailable, "usage could not be saved; try again")
        }
    }

    // MARK: - Reports

    public func usage(of name: String) async throws -> SpriteUsage {
        let record = try self.record(name)
        accrue(record.id)
        let shown = report(record, disk: spaceReport(record.id)?.total)
        try await persistBeforeReporting()
        return shown
    }

    public func hostUsage() async throws -> HostUsage {
        var reports: [SpriteUsage] = []
        var total = UsageRecord(spriteID: "")
        var disk: Int64 = 0
        // Running sprites' cgroups are read off the actor; the others need no reading.
        await sampleRunning()
        for record in registered.sorted(by: { $0.name < $1.name }) {
            if status(of: record) != .running { accrue(record.id) }
            // Listing many sprites must not queue a scan of each (cached sizes only).
            let space = sprites[record.id]?.space
            reports.append(report(record, disk: space?.total))
            total.add(sprites[record.id]?.usage ?? UsageRecord(spriteID: record.id))
            disk += space?.total ?? 0
        }
        try await persistBeforeReporting()
        let retired = try await store.retiredUsage()
        return HostUsage(
            sprites: reports, total: Self.total(total, sprites: reports.count, disk: disk),
            destroyed: Self.total(retired, sprites: 0, disk: 0))
    }

    func report(_ record: SpriteRecord, disk: Int64?) -> SpriteUsage {
        let u = sprites[record.id]?.usage ?? UsageRecord(spriteID: record.id)
        return SpriteUsage(
            name: record.name, id: record.id, status: status(of: record), since: Timestamp.format(record.createdAt),
            cpuSeconds: Double(u.cpuMicros) / 1e6,
            memoryAverageBytes: u.runningSeconds > 0 ? Int64(u.memoryByteSeconds / u.runningSeconds) : 0,
            memoryPeakBytes: u.memoryPeakBytes, memoryByteSeconds: u.memoryByteSeconds, runningSeconds: u.runningSeconds,
            warmSeconds: u.warmSeconds, diskBytes: disk)
    }

    static func total(_ u: UsageRecord, sprites: Int, disk: Int64) -> UsageTotal {
        UsageTotal(
            sprites: sprites, cpuSeconds: Double(u.cpuMicros) / 1e6, memoryByteSeconds: u.memoryByteSeconds,
            runningSeconds: u.runningSeconds, warmSeconds: u.warmSeconds, diskBytes: disk)
    }
}
