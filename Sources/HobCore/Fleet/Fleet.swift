// Fleet: the sprite registry and the only place that changes a sprite's state.
//
// Every operation goes through this actor. Because an actor is re-entrant at every `await`,
// each method re-checks what it relies on after suspending: that the sprite still exists (same
// id) and is still in the state it saw. Stop, cleanup, sleep, wake, checkpoint and restore work for
// one sprite runs through `exclusively` (or `serialize`), one piece after another, and a boot waits
// for it, so a boot never overlaps the cleanup of the previous run.
// Different sprites proceed in parallel. "Wake on demand" lives here: `running(_:)` boots a
// cold sprite or thaws a warm one, and concurrent callers share one boot. Falling asleep when
// idle, tasks and metering are in Fleet+Lifecycle.swift and Fleet+Usage.swift.
//
// Crash safety: create writes the disk before the row; destroy marks the row, deletes the disk,
// then deletes the row. `start()` reconciles rows, volumes, cgroups and surviving processes, and
// retries destroys that could not finish.
import Foundation
import HobAgentProtocol
import HobAPI
import HobOS
import Logging
import Metrics

public actor Fleet {
    enum Runtime {
        /// Being created: the disk exists, the row may not yet. Not bootable.
        case creating
        case cold
        case booting(Task<RunningSprite, any Error>)
        case running(RunningSprite)
        /// Asleep: every process frozen, memory kept.
        case warm(RunningSprite)
    }

    let config: DaemonConfig
    let store: any SpriteStore
    let pool: BtrfsPool
    let runtime: NamespaceRuntime
    let logger: Logger
    /// Counters and timings for `/metrics` (FleetMetrics.swift).
    let metrics = FleetMetrics()
    let image: String

    var byName: [String: SpriteRecord] = [:]
    var states: [String: Runtime] = [:]  // by sprite id
    /// Checkpoints by sprite id, oldest first (Fleet+Checkpoints.swift).
    var checkpoints: [String: [CheckpointRecord]] = [:]
    /// Space accounting (Fleet+Space.swift): reports by sprite id, the queue and its worker, and
    /// the base image's extents (scanned once).
    var spaceReports: [String: SpaceReport] = [:]
    var spacePending: [String] = []
    var spaceWorker: Task<Void, Never>?
    var imageExtents: [UInt64: UInt64]?
    /// Each sprite's checkpoint rate (Fleet+Limits.swift), by sprite id.
    var checkpointRate: [String: TokenBucket] = [:]
    /// Per-sprite serialisation of stop, cleanup, checkpoint and restore work.
    var lifecycle: [String: Task<Void, Never>] = [:]
    /// Sprites whose destroy could not finish (their slot stays taken until it does).
    private var undestroyed: [String: SpriteRecord] = [:]
    /// Activity (Fleet+Lifecycle.swift), by sprite id: when each was last active, open holds
    /// (exec and console connections), keep-awake tasks, sleeps under way, sprites whose agent
    /// missed a change while it slept (checkpoint mounts, services), and the loop that puts idle
    /// sprites to sleep.
    var lastActive: [String: ContinuousClock.Instant] = [:]
    var holds: [String: Int] = [:]
    var tasks: [String: [String: SpriteTaskRecord]] = [:]
    var sleeping: Set<String> = []
    var staleAgent: Set<String> = []
    var lifecycleLoop: Task<Void, Never>?
    /// Services (Fleet+Services.swift), by sprite id in order of definition; and the running
    /// sprites whose hob-init has been given a service set.
    var services: [String: [ServiceRecord]] = [:]
    var agentKnowsServices: Set<String> = []
    /// Set by `shutdown`: nothing falls asleep any more.
    var stopping = false
    /// Metering (Fleet+Usage.swift), by sprite id: totals, the instant up to which they are
    /// counted, and which ones the store has not seen yet. Totals of destroyed sprites are retired
    /// into the store's host total.
    var usage: [String: UsageRecord] = [:]
    var meterMark: [String: ContinuousClock.Instant] = [:]
    var usageDirty: Set<String> = []
    /// The last write of usage to the store; each waits for the one before (see `flushUsage`).
    var usageFlush: Task<Bool, Never>?
    /// The file API (Fleet+Files.swift), by sprite id: operations in flight on a disk, disks a
    /// restore is swapping (new operations are refused meanwhile), and restores waiting for the
    /// operations in flight to end.
    var fileAccess: [String: Int] = [:]
    var diskSwaps: Set<String> = []
    var fileAccessWaiters: [String: [CheckedContinuation<Void, Never>]] = [:]

    public init(config: DaemonConfig, store: any SpriteStore, pool: BtrfsPool, runtime: NamespaceRuntime, image: String, logger: Logger) {
        self.config = config
        self.store = store
        self.pool = pool
        self.runtime = runtime
        self.image = image
        self.logger = logger
    }

    // MARK: - Start and shutdown

    /// Loads the registry and reconciles it with the pool, cgroups and processes.
    public func start() async throws {
        let records = try await store.allSprites()
        for c in try await store.allCheckpoints() { checkpoints[c.spriteID, default: []].append(c) }
        for u in try await store.allUsage() { usage[u.spriteID] = u }
        let savedTasks = Dictionary(grouping: try await store.allTasks(), by: \.spriteID)
        for s in try await store.allServices() { services[s.spriteID, default: []].append(s) }
        var known = Set<String>()
        for var record in records {
            if record.destroying {
                logger.info("finishing an interrupted destroy", metadata: ["sprite": "\(record.name)"])
                await finishDestroy(record)
                checkpoints[record.id] = nil
                continue
            }
            known.insert(record.id)
            record = await reconcileCheckpoints(record)
            byName[record.name] = record
            if !pool.hasSpriteVolume(record.id) {
                logger.error("sprite has no disk in the pool; it cannot boot", metadata: ["sprite": "\(record.name)", "id": "\(record.id)"])
            }
            // A frozen sprite was asleep: it stays warm and wakes on its next request. One frozen
            // since it last ran was caught by a crash mid-checkpoint, and one half frozen by a
            // crash mid-sleep: those are thawed and adopted running.
            let asleep = (record.lastWarmingAt ?? .distantPast) >= (record.lastRunningAt ?? .distantPast)
            let frozen = asleep && runtime.isFrozen(record.id)
            if !frozen { await runtime.thaw(record.id) }
            if let running = await runtime.adopt(record, frozen: frozen, onExit: exitHandler(record.id)), runtime.isAlive(running) {
                states[record.id] = frozen ? .warm(running) : .running(running)
                adoptActivity(record, running: running, frozen: frozen, tasks: savedTasks[record.id] ?? [])
            } else {
                await runtime.cleanUp(record.id)
                states[record.id] = .cold
            }
        }
        await runtime.releaseHostIDsOfSpritesNotAdopted()
        // Tasks hold a run; a sprite that did not survive has none.
        for (spriteID, held) in savedTasks where tasks[spriteID] == nil {
            try? await store.deleteTasks(spriteID: spriteID, names: held.map(\.name))
        }
        // Volumes whose create never reached the database.
        for id in pool.spriteVolumeIDs() where !known.contains(id) {
            logger.info("removing a disk left by an interrupted create", metadata: ["id": "\(id)"])
            await runtime.cleanUp(id)
            _ = try? await offload { [pool] in try pool.deleteSpriteVolume(id) }
        }
        for id in runtime.strayCgroups(known: known) {
            logger.info("removing stray cgroup", metadata: ["id": "\(id)"])
            await runtime.cleanUp(id)
        }
        await adoptQuotas()
        var counts: [SpriteStatus: Int] = [:]
        for record in byName.values { counts[status(of: record), default: 0] += 1 }
        logger.info("fleet ready", metadata: [
            "sprites": "\(byName.count)", "running": "\(counts[.running] ?? 0)", "warm": "\(counts[.warm] ?? 0)",
            "idle_timeout": "\(DurationText.format(config.defaults.idleTimeout))", "cold_timeout": "\(DurationText.format(config.defaults.coldTimeout))",
        ])
        startLifecycleLoop()
    }

    /// Stops every sprite (they boot again on demand after the next start).
    public func shutdown() async {
        stopping = true
        lifecycleLoop?.cancel()
        await lifecycleLoop?.value
        // A space scan holds files of the pool open, which would keep it from unmounting.
        spacePending.removeAll()
        await spaceWorker?.value
        for task in lifecycle.values { await task.value }
        for id in states.keys { accrue(id) }
        let finals = await withTaskGroup(of: (String, CgroupUsage?).self) { group in
            for record in byName.values {
                let state = states[record.id] ?? .cold
                group.addTask {
                    switch state {
                    case .creating, .cold: return (record.id, nil)
                    case .booting(let task):
                        let running = try? await task.value
                        return (record.id, await self.runtime.stop(record, running: running))
                    case .running(let running), .warm(let running):
                        return (record.id, await self.runtime.stop(record, running: running))
                    }
                }
            }
            var finals: [(String, CgroupUsage?)] = []
            for await result in group { finals.append(result) }
            return finals
        }
        for id in states.keys { states[id] = .cold }
        for (id, final) in finals { await stopped(id, final: final, persist: false) }
        await flushUsage()
    }

    // MARK: - Queries

    public func status(of record: SpriteRecord) -> SpriteStatus {
        switch states[record.id] ?? .cold {
        case .creating, .cold: return .cold
        case .booting, .running: return .running
        case .warm: return .warm
        }
    }

    public func info(_ name: String) throws -> SpriteInfo {
        guard let record = byName[name] else { throw notFound(name) }
        return info(record)
    }

    /// `refreshingSpace: false` reports the cached size only: a listing must not queue a scan of
    /// every sprite it shows.
    func info(_ r: SpriteRecord, refreshingSpace: Bool = true) -> SpriteInfo {
        SpriteInfo(
            id: r.id, name: r.name, organization: config.instance, status: status(of: r),
            config: SpriteConfig(
                ramMB: r.ramMB, cpus: r.cpus, region: r.region, storageGB: r.storageGB,
                idleTimeout: r.idleTimeout ?? config.defaults.idleTimeout, coldTimeout: r.coldTimeout ?? config.defaults.coldTimeout),
            environment: r.environment, createdAt: Timestamp.format(r.createdAt), updatedAt: Timestamp.format(r.updatedAt),
            url: config.url.url(of: r.name),
            urlSettings: URLSettings(auth: r.urlAuth, privateAccess: r.urlPrivateAccess), labels: r.labels,
            bucketName: nil, primaryRegion: r.region, lastRunningAt: r.lastRunningAt.map(Timestamp.format),
            lastWarmingAt: r.lastWarmingAt.map(Timestamp.format), version: spriteAPIVersion, environmentVersion: imageName(of: r.id),
            storageBytes: (refreshingSpace ? spaceReport(r.id) : spaceReports[r.id])?.total,
            storageQuotaBytes: Self.quotaBytes(r), storageQuotaUsedBytes: pool.quotaUsage(r.id)?.referenced)
    }

    /// A page of sprites sorted by name. The continuation token is the last name of the previous page.
    /// `visible`: the sprites the caller may see (a token's scope); the counts are of those too.
    public func list(
        prefix: String?, maxResults: Int, after token: String?, visible: (@Sendable (SpriteRecord) -> Bool)? = nil
    ) -> SpriteList {
        let seen = byName.values.filter { visible?($0) ?? true }
        let names = seen.map(\.name).sorted().filter { name in
            (prefix.map { name.hasPrefix($0) } ?? true) && (token.map { name > $0 } ?? true)
        }
        let page = names.prefix(maxResults)
        let hasMore = names.count > page.count
        var counts: [SpriteStatus: Int] = [:]
        for record in seen { counts[status(of: record), default: 0] += 1 }
        let org = OrgInfo(
            name: config.instance, running: counts[.running] ?? 0, warm: counts[.warm] ?? 0, cold: counts[.cold] ?? 0,
            runningLimit: NamespaceRuntime.maxSlots, warmLimit: NamespaceRuntime.maxSlots)
        return SpriteList(
            sprites: page.compactMap { byName[$0].map { info($0, refreshingSpace: false) } }, hasMore: hasMore,
            nextContinuationToken: hasMore ? page.last : nil, org: org)
    }

    public func record(_ name: String) throws -> SpriteRecord {
        guard let r = byName[name] else { throw notFound(name) }
        return r
    }

    /// The sprite a process belongs to, from the host uid it runs as (each running sprite maps its
    /// users onto a host-wide unique range; see HostIDRanges.swift). Nil for host processes, other
    /// daemons' sprites and ranges no sprite holds.
    public func spriteName(forHostUID uid: UInt32) -> String? {
        runtime.spriteID(forHostUID: uid).flatMap { record(id: $0)?.name }
    }

    /// The sprite whose address on the bridge this is (its slot's; unique among live sprites).
    public func sprite(atAddress address: String) -> SpriteRecord? {
        byName.values.first { config.subnet.address(slot: $0.slot) == address }
    }

    /// The live sprite with this id (the registry is keyed by name).
    func record(id: String) -> SpriteRecord? { byName.values.first { $0.id == id } }

    func notFound(_ name: String) -> HobError { Self.notFound(name) }
    /// The answer for a sprite that does not exist, and for one a token may not see.
    public nonisolated static func notFound(_ name: String) -> HobError { HobError(.notFound, "sprite \(name) not found") }

    // MARK: - Create, update, destroy

    /// `admit` sees every sprite before the name is taken, with no suspension in between: a
    /// token's count cap holds however many creates race.
    public func create(_ request: CreateSpriteRequest, admit: (@Sendable ([SpriteRecord]) throws -> Void)? = nil) async throws -> SpriteInfo {
        let info = try await makeSprite(request, admit: admit)
        metrics.created.increment()
        return info
    }

    private func makeSprite(_ request: CreateSpriteRequest, admit: (@Sendable ([SpriteRecord]) throws -> Void)?) async throws -> SpriteInfo {
        try SpriteName.validate(request.name)
        guard byName[request.name] == nil else { throw HobError(.exists, "a sprite named \(request.name) already exists") }
        try admit?(Array(byName.values))
        try requireSpace("create sprite \(request.name)")
        if let source = request.source { return try await fork(request, from: source) }
        let record = try makeRecord(request)
        byName[record.name] = record  // reserve the name and slot while the disk is made
        states[record.id] = .creating
        let v0 = CheckpointRecord(
            spriteID: record.id, id: "v0", createdAt: record.createdAt, comment: "", isAuto: false, history: [],
            volume: BtrfsPool.imageVolume(image))
        do {
            try await offload { [pool] in try pool.createSpriteVolume(record.id, from: v0.volume, quotaBytes: Self.quotaBytes(record)) }
            try await store.insert(record, checkpoints: [v0])
        } catch {
            byName[record.name] = nil
            states[record.id] = nil
            _ = try? await offload { [pool] in try pool.deleteSpriteVolume(record.id) }
            throw HobError.wrap(error, "create sprite \(record.name)")
        }
        checkpoints[record.id] = [v0]
        states[record.id] = .cold
        // A new disk is the base image: it holds nothing of its own, and scanning it to find that
        // out would cost a core for a moment per create.
        spaceReports[record.id] = SpaceReport(checkpoints: [:], total: 0, rootExclusive: 0, measuredAt: .now)
        logger.info("sprite created", metadata: ["sprite": "\(record.name)", "id": "\(record.id)", "slot": "\(record.slot)"])
        return info(record)
    }

    /// `base` supplies the defaults a fork inherits from its source (resources, environment,
    /// privileges and network policy).
    func makeRecord(_ request: CreateSpriteRequest, inheriting base: SpriteRecord? = nil) throws -> SpriteRecord {
        var d = config.defaults
        if let base {
            d.ramMB = base.ramMB
            d.cpus = base.cpus
            d.storageGB = base.storageGB
            d.region = base.region
        }
        let ram = request.config?.ramMB ?? d.ramMB
        let cpus = request.config?.cpus ?? d.cpus
        let storage = request.config?.storageGB ?? d.storageGB
        guard (64...1_048_576).contains(ram) else { throw HobError(.invalidArgument, "config.ram_mb must be between 64 and 1048576") }
        // The kernel's smallest CFS quota is 1 ms per 100 ms period.
        guard cpus >= 0.01, cpus <= 1024 else { throw HobError(.invalidArgument, "config.cpus must be between 0.01 and 1024") }
        guard (1...1_048_576).contains(storage) else { throw HobError(.invalidArgument, "config.storage_gb must be between 1 and 1048576") }
        for key in (request.environment ?? [:]).keys {
            guard EnvironmentName.isValid(key) else { throw HobError(.invalidArgument, "invalid environment variable name \(key)") }
        }
        let labels = try Labels.validate(request.labels ?? [])
        let idle = try request.config?.idleTimeout.map { try Self.validateTimeout($0, "config.idle_timeout") }
        let cold = try request.config?.coldTimeout.map { try Self.validateTimeout($0, "config.cold_timeout") }
        let auth = try URLAuth.validate(request.urlSettings?.auth ?? "sprite")
        let used = Set(byName.values.map(\.slot)).union(undestroyed.values.map(\.slot))
        let capacity = min(NamespaceRuntime.maxSlots, config.subnet.capacity)
        guard let slot = (0..<capacity).first(where: { !used.contains($0) }) else {
            throw HobError(.unavailable, "this host is full (\(capacity) sprites)")
        }
        let now = Date()
        return SpriteRecord(
            id: SpriteID.generate(), name: request.name, slot: slot, ramMB: ram, cpus: cpus, storageGB: storage,
            region: request.config?.region ?? d.region, environment: request.environment ?? base?.environment ?? [:], labels: labels,
            urlAuth: auth, urlPrivateAccess: request.urlSettings?.privateAccess, createdAt: now, updatedAt: now,
            idleTimeout: idle ?? base?.idleTimeout, coldTimeout: cold ?? base?.coldTimeout,
            privileges: base?.privileges ?? .standard, networkPolicy: base?.networkPolicy ?? .unrestricted)
    }

    public func update(_ name: String, _ request: UpdateSpriteRequest) async throws -> SpriteInfo {
        if let c = request.config, c.ramMB != nil || c.cpus != nil || c.region != nil || c.storageGB != nil {
            throw HobError(.invalidArgument, "only config.idle_timeout and config.cold_timeout can change after create")
        }
        let updated = try await changeRecord(name) { r in
            if request.clearLabels == true { r.labels = [] }
            if let idle = request.config?.idleTimeout { r.idleTimeout = try Self.validateTimeout(idle, "config.idle_timeout") }
            if let cold = request.config?.coldTimeout { r.coldTimeout = try Self.validateTimeout(cold, "config.cold_timeout") }
            if let labels = request.labels { r.labels = try Labels.validate(labels) }
            if let settings = request.urlSettings {
                if let auth = settings.auth { r.urlAuth = try URLAuth.validate(auth) }
                if let access = settings.privateAccess { r.urlPrivateAccess = access }
            }
        }
        return info(updated)
    }

    /// Changes a sprite's metadata with `change`, writes it, and applies the same change to the
    /// registry's record as it is once the write is done: a destroy may have run meanwhile (then
    /// the sprite is not found), and a checkpoint may have moved the head, which an older copy
    /// must not turn back. Returns the registry's record.
    @discardableResult
    func changeRecord(_ name: String, _ change: (inout SpriteRecord) throws -> Void) async throws -> SpriteRecord {
        guard var record = byName[name] else { throw notFound(name) }
        try change(&record)
        record.updatedAt = Date()
        try await store.update(record)
        guard var latest = byName[name], latest.id == record.id else { throw notFound(name) }
        try change(&latest)
        latest.updatedAt = record.updatedAt
        byName[name] = latest
        return latest
    }

    public func destroy(_ name: String) async throws {
        guard var record = byName[name] else { throw notFound(name) }
        if case .creating? = states[record.id] { throw HobError(.invalidState, "sprite \(name) is still being created") }
        byName[name] = nil  // from now on the sprite is gone for every caller
        record.destroying = true
        do {
            try await store.update(record)
        } catch {
            record.destroying = false
            byName[name] = record
            throw HobError.wrap(error, "destroy sprite \(name)")
        }
        metrics.destroyed.increment()
        let state = states[record.id] ?? .cold
        accrue(record.id)
        states[record.id] = nil
        let doomed = record
        await serialize(record.id) {
            let record = doomed
            switch state {
            case .creating, .cold: await self.runtime.cleanUp(record.id)
            case .booting(let task):
                task.cancel()
                await self.runtime.stop(record, running: try? await task.value, graceMs: 0)
            case .running(let running), .warm(let running): await self.runtime.stop(record, running: running, graceMs: 0)
            }
        }
        if await !finishDestroy(record) {
            throw HobError(.internalError, "sprite \(name) is stopped but its disk could not be deleted yet; it will be retried at the next start")
        }
        logger.info("sprite destroyed", metadata: ["sprite": "\(name)"])
    }

    /// Deletes the disk and then the row of a sprite marked `destroying`. On failure the sprite
    /// keeps its slot and the next start tries again.
    @discardableResult
    func finishDestroy(_ record: SpriteRecord) async -> Bool {
        do {
            await runtime.cleanUp(record.id)
            try await offload { [pool] in try pool.deleteSpriteVolume(record.id) }
            // The store retires the sprite's usage into the host total as it deletes the row.
            try await store.delete(id: record.id, usage: usage[record.id])
            undestroyed[record.id] = nil
            checkpoints[record.id] = nil
            services[record.id] = nil
            spaceReports[record.id] = nil
            checkpointRate[record.id] = nil
            forgetActivity(record.id)
            return true
        } catch {
            undestroyed[record.id] = record
            logger.error("destroy could not finish", metadata: ["sprite": "\(record.name)", "error": "\(error)"])
            return false
        }
    }

    // MARK: - Running sprites

    /// The sprite, booted if it was cold. Concurrent callers share one boot.
    public func running(_ name: String) async throws -> (SpriteRecord, RunningSprite) {
        // Every await below may let a destroy, an exit or another boot in: loop and look again.
        while true {
            guard let record = byName[name] else { throw notFound(name) }
            switch states[record.id] ?? .cold {
            case .creating:
                throw HobError(.unavailable, "sprite \(name) is still being created; retry")
            case .running(let r):
                lastActive[record.id] = .now
                return (record, r)
            case .warm:
                // Activity now, so that a sleep already queued ahead of the wake does not go ahead.
                lastActive[record.id] = .now
                try await exclusively(record.id) { try await self.wake(record.id) }
                continue
            case .booting(let task):
                _ = try await task.value
                // Awaiting a finished task does not give up the actor: let boot() record the
                // result before looking again, or this loop would spin and starve it.
                await Task.yield()
                continue
            case .cold:
                if let pending = lifecycle[record.id] {
                    await pending.value
                    // Finished work no longer needs waiting for, even if its owner has not yet
                    // cleared it; waiting again would spin without ever letting the owner run.
                    if lifecycle[record.id] == pending { lifecycle[record.id] = nil }
                    continue
                }
                try await boot(record)
            }
        }
    }

    /// The running sprite, or nil when it is cold: for questions that must not boot it (a cold
    /// sprite has no sessions). A warm sprite is woken; a boot already under way is waited for.
    public func awake(_ name: String) async throws -> RunningSprite? {
        let record = try self.record(name)
        guard status(of: record) != .cold else { return nil }
        return try await running(name).1
    }

    /// Boots a cold sprite; the result is left in `states` for `running(_:)` to pick up.
    private func boot(_ record: SpriteRecord) async throws {
        let id = record.id
        let started = ContinuousClock.now
        let task = Task { try await self.runtime.boot(record, onExit: self.exitHandler(id)) }
        states[id] = .booting(task)
        let r: RunningSprite
        do {
            r = try await task.value
        } catch {
            if case .booting? = states[id] { states[id] = .cold }
            logger.error("sprite failed to boot", metadata: ["sprite": "\(record.name)", "error": "\(error)"])
            throw error
        }
        guard case .booting? = states[id] else { return }  // destroyed meanwhile; destroy stops it
        guard runtime.isAlive(r) else {
            // Its init died before we stored it; the exit notice found no running sprite.
            states[id] = .cold
            await serialize(id) { await self.runtime.cleanUp(id) }
            throw HobError(.internalError, "sprite \(record.name) stopped right after booting")
        }
        states[id] = .running(r)
        lastActive[id] = .now
        metrics.wokeCold.increment()
        metrics.wakeColdTime.record(since: started)
        startMetering(id, boot: r)
        // Off the boot path: the first exec need not wait for services or /.sprite/checkpoints.
        enqueue(id) { await self.refreshAgent(id) }
        markRunning(id)
    }

    nonisolated func exitHandler(_ id: String) -> @Sendable () -> Void {
        { Task { await self.initExited(id) } }
    }

    /// hob-init ended (crash, OOM, `kill 1` inside, or our own stop): clean up and go cold.
    func initExited(_ id: String) async {
        switch states[id] {
        case .running?, .warm?: break
        default: return
        }
        accrue(id)
        states[id] = .cold
        let name = record(id: id)?.name ?? id
        logger.info("sprite init exited; sprite is cold", metadata: ["sprite": "\(name)"])
        await serialize(id) {
            let final = await self.runtime.cleanUp(id)
            await self.stopped(id, final: final)
        }
    }

    func serialize(_ id: String, _ work: @escaping @Sendable () async -> Void) async {
        _ = try? await exclusively(id) { await work() }
    }

    /// Runs `work` after every earlier piece of lifecycle work for this sprite has finished, and
    /// makes later work wait for it.
    func exclusively<T: Sendable>(_ id: String, _ work: @escaping @Sendable () async throws -> T) async throws -> T {
        try await enqueue(id, work).value
    }

    /// Queues `work` behind the sprite's lifecycle work without waiting for it: queued before the
    /// caller's next await, so whatever is queued after runs after it.
    @discardableResult
    func enqueue<T: Sendable>(_ id: String, _ work: @escaping @Sendable () async throws -> T) -> Task<T, any Error> {
        let previous = lifecycle[id]
        let task = Task<T, any Error> {
            await previous?.value
            return try await work()
        }
        let done = Task<Void, Never> { _ = try? await task.value }
        lifecycle[id] = done
        Task {
            await done.value
            if lifecycle[id] == done { lifecycle[id] = nil }
        }
        return task
    }

    /// Waits for the sprite's queued lifecycle work (a boot's service push, a sleep) to finish.
    public func settle(_ name: String) async {
        guard let id = byName[name]?.id else { return }
        await serialize(id) {}
    }

    /// The complete environment of an exec: defaults, then the sprite's, then the request's.
    public func execEnvironment(_ record: SpriteRecord, request: [String], tty: Bool) throws -> [String] {
        var env: [(String, String)] = [
            ("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/.sprite/bin"), ("HOME", "/root"), ("USER", "root"),
            ("LOGNAME", "root"), ("SHELL", "/bin/bash"), ("LANG", "C.UTF-8"), ("HOSTNAME", record.name),
        ]
        if tty { env.append(("TERM", "xterm-256color")) }
        func set(_ key: String, _ value: String) {
            if let i = env.firstIndex(where: { $0.0 == key }) { env[i].1 = value } else { env.append((key, value)) }
        }
        for (k, v) in record.environment.sorted(by: { $0.key < $1.key }) { set(k, v) }
        for item in request {
            guard let eq = item.firstIndex(of: "="), EnvironmentName.isValid(String(item[..<eq])) else {
                throw HobError(.invalidArgument, "env must be KEY=VALUE with a valid name, got \"\(item)\"")
            }
            set(String(item[..<eq]), String(item[item.index(after: eq)...]))
        }
        return env.map { "\($0.0)=\($0.1)" }
    }
}
