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
    let config: DaemonConfig
    let store: any SpriteStore
    let storage: any Storage
    let runtimes: Runtimes
    let logger: Logger
    /// Counters and timings for `/metrics` (FleetMetrics.swift).
    let metrics = FleetMetrics()
    let image: String

    /// Every registered sprite's state, by sprite id (SpriteState.swift), and the id of each name.
    var sprites: [String: SpriteState] = [:]
    var ids: [String: String] = [:]
    /// Per-sprite serialisation of stop, cleanup, checkpoint and restore work, by sprite id. It
    /// outlives the registration: a destroy stops the sprite after it left the registry.
    var lifecycle: [String: Task<Void, Never>] = [:]
    /// Sprites whose destroy could not finish (their slot stays taken until it does).
    private var undestroyed: [String: SpriteRecord] = [:]
    /// Space accounting (Fleet+Space.swift): sprites queued for a scan, and the worker.
    var spacePending: [String] = []
    var spaceWorker: Task<Void, Never>?
    /// The loop that puts idle sprites to sleep (Fleet+Lifecycle.swift).
    var lifecycleLoop: Task<Void, Never>?
    /// Set by `shutdown`: nothing falls asleep any more.
    var stopping = false
    /// Sprites whose usage the store has not seen yet (Fleet+Usage.swift), and the last write of
    /// usage to the store; each waits for the one before (see `flushUsage`).
    var usageDirty: Set<String> = []
    var usageFlush: Task<Bool, Never>?

    public init(config: DaemonConfig, store: any SpriteStore, storage: any Storage, runtimes: Runtimes, image: String, logger: Logger) {
        self.config = config
        self.store = store
        self.storage = storage
        self.runtimes = runtimes
        self.image = image
        self.logger = logger
    }

    // MARK: - Start and shutdown

    /// Loads the registry and reconciles it with the storage and the runtime's processes.
    public func start() async throws {
        let records = try await store.allSprites()
        let savedCheckpoints = Dictionary(grouping: try await store.allCheckpoints(), by: \.spriteID)
        let savedUsage = Dictionary(try await store.allUsage().map { ($0.spriteID, $0) }, uniquingKeysWith: { a, _ in a })
        let savedTasks = Dictionary(grouping: try await store.allTasks(), by: \.spriteID)
        let savedServices = Dictionary(grouping: try await store.allServices(), by: \.spriteID)
        var known = Set<String>()
        for record in records {
            if record.destroying {
                logger.info("finishing an interrupted destroy", metadata: ["sprite": "\(record.name)"])
                await finishDestroy(record, usage: savedUsage[record.id])
                continue
            }
            known.insert(record.id)
            var state = SpriteState(record: record, phase: .cold)
            state.checkpoints = savedCheckpoints[record.id] ?? []
            state.usage = savedUsage[record.id]
            state.services = savedServices[record.id] ?? []
            sprites[record.id] = state
            ids[record.name] = record.id
            let record = await reconcileCheckpoints(record)
            sprites[record.id]?.record = record
            if !storage.hasDisk(record.id) {
                logger.error("sprite has no disk in the storage; it cannot boot", metadata: ["sprite": "\(record.name)", "id": "\(record.id)"])
            }
            // A frozen sprite was asleep: it stays warm and wakes on its next request. One frozen
            // since it last ran was caught by a crash mid-checkpoint, and one half frozen by a
            // crash mid-sleep: those are thawed and adopted running.
            let asleep = (record.lastWarmingAt ?? .distantPast) >= (record.lastRunningAt ?? .distantPast)
            let runtime = runtimes.of(record)
            let frozen = asleep && runtime.isFrozen(record.id)
            if !frozen { await runtime.thaw(record.id) }
            if let running = await runtime.adopt(record, frozen: frozen, onExit: exitHandler(record.id)), runtime.isAlive(running) {
                sprites[record.id]?.phase = frozen ? .warm(running) : .running(running)
                adoptActivity(record, running: running, frozen: frozen, tasks: savedTasks[record.id] ?? [])
            } else {
                await runtime.cleanUp(record.id)
                sprites[record.id]?.phase = .cold
            }
        }
        for runtime in runtimes.all.values { await runtime.finishAdoption() }
        // Tasks hold a run; a sprite that did not survive has none.
        for (spriteID, held) in savedTasks where sprites[spriteID]?.tasks.isEmpty ?? true {
            try? await store.deleteTasks(spriteID: spriteID, names: held.map(\.name))
        }
        // Volumes whose create never reached the database.
        for id in storage.diskIDs() where !known.contains(id) {
            logger.info("removing a disk left by an interrupted create", metadata: ["id": "\(id)"])
            for runtime in runtimes.all.values { await runtime.cleanUp(id) }
            try? await storage.deleteDisk(id)
        }
        for runtime in runtimes.all.values {
            for id in runtime.strays(known: known) {
                logger.info("removing what a sprite the daemon does not know left running", metadata: ["id": "\(id)"])
                await runtime.cleanUp(id)
            }
        }
        await adoptQuotas()
        var counts: [SpriteStatus: Int] = [:]
        for record in registered { counts[status(of: record), default: 0] += 1 }
        logger.info("fleet ready", metadata: [
            "sprites": "\(sprites.count)", "running": "\(counts[.running] ?? 0)", "warm": "\(counts[.warm] ?? 0)",
            "idle_timeout": "\(DurationText.format(config.defaults.idleTimeout))", "cold_timeout": "\(DurationText.format(config.defaults.coldTimeout))",
        ])
        startLifecycleLoop()
    }

    /// Stops every sprite (they boot again on demand after the next start).
    public func shutdown() async {
        stopping = true
        lifecycleLoop?.cancel()
        await lifecycleLoop?.value
        // A space scan holds files of the storage open, which would keep it from unmounting.
        spacePending.removeAll()
        await spaceWorker?.value
        for task in lifecycle.values { await task.value }
        for id in sprites.keys { accrue(id) }
        let finals = await withTaskGroup(of: (String, CgroupUsage?).self) { group in
            for record in registered {
                let state = sprites[record.id]?.phase ?? .cold
                let runtime = runtimes.of(record)
                group.addTask {
                    switch state {
                    case .creating, .cold: return (record.id, nil)
                    case .booting(let task):
                        let running = try? await task.value
                        return (record.id, await runtime.stop(record, running: running))
                    case .running(let running), .warm(let running):
                        return (record.id, await runtime.stop(record, running: running))
                    }
                }
            }
            var finals: [(String, CgroupUsage?)] = []
            for await result in group { finals.append(result) }
            return finals
        }
        for id in sprites.keys { sprites[id]?.phase = .cold }
        for (id, final) in finals { await stopped(id, final: final, persist: false) }
        await flushUsage()
    }

    // MARK: - Queries

    public func status(of record: SpriteRecord) -> SpriteStatus {
        switch sprites[record.id]?.phase ?? .cold {
        case .creating, .cold: return .cold
        case .booting, .running: return .running
        case .warm: return .warm
        }
    }

    public func info(_ name: String) throws -> SpriteInfo {
        guard let record = named(name) else { throw notFound(name) }
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
            storageBytes: (refreshingSpace ? spaceReport(r.id) : sprites[r.id]?.space)?.total,
            storageQuotaBytes: Self.quotaBytes(r), storageQuotaUsedBytes: storage.quotaUsedBytes(r.id))
    }

    /// A page of sprites sorted by name. The continuation token is the last name of the previous page.
    /// `visible`: the sprites the caller may see (a token's scope); the counts are of those too.
    public func list(
        prefix: String?, maxResults: Int, after token: String?, visible: (@Sendable (SpriteRecord) -> Bool)? = nil
    ) -> SpriteList {
        let seen = registered.filter { visible?($0) ?? true }
        let names = seen.map(\.name).sorted().filter { name in
            (prefix.map { name.hasPrefix($0) } ?? true) && (token.map { name > $0 } ?? true)
        }
        let page = names.prefix(maxResults)
        let hasMore = names.count > page.count
        var counts: [SpriteStatus: Int] = [:]
        for record in seen { counts[status(of: record), default: 0] += 1 }
        let org = OrgInfo(
            name: config.instance, running: counts[.running] ?? 0, warm: counts[.warm] ?? 0, cold: counts[.cold] ?? 0,
            runningLimit: runtimes.capacity, warmLimit: runtimes.capacity)
        return SpriteList(
            sprites: page.compactMap { named($0).map { info($0, refreshingSpace: false) } }, hasMore: hasMore,
            nextContinuationToken: hasMore ? page.last : nil, org: org)
    }

    public func record(_ name: String) throws -> SpriteRecord {
        guard let r = named(name) else { throw notFound(name) }
        return r
    }

    /// The sprite a process that connected to the in-sprite API runs in, as its runtime tells it
    /// from the connection's peer credentials. Nil for host processes and other daemons' sprites.
    public func spriteName(ofCaller caller: PeerCredentials) -> String? {
        runtimes.all.values.lazy.compactMap { $0.spriteID(ofCaller: caller) }.first.flatMap { record(id: $0)?.name }
    }

    /// The sprite whose address on the bridge this is (its slot's; unique among live sprites).
    public func sprite(atAddress address: String) -> SpriteRecord? {
        registered.first { config.subnet.address(slot: $0.slot) == address }
    }

    /// The registered sprite with this id.
    func record(id: String) -> SpriteRecord? { sprites[id]?.record }

    /// The registered sprite with this name.
    func named(_ name: String) -> SpriteRecord? { ids[name].flatMap { sprites[$0]?.record } }

    /// Every registered sprite's record.
    var registered: [SpriteRecord] { sprites.values.map(\.record) }

    /// Adds a sprite to the registry in `phase`: from now on its name is taken.
    func register(_ record: SpriteRecord, _ phase: SpritePhase) {
        sprites[record.id] = SpriteState(record: record, phase: phase)
        ids[record.name] = record.id
    }

    /// Removes a sprite from the registry, as a whole; returns what it was. A restore waiting for
    /// file operations on its disk goes on (and finds the sprite gone).
    @discardableResult
    func unregister(_ id: String) -> SpriteState? {
        guard var state = sprites.removeValue(forKey: id) else { return nil }
        if ids[state.record.name] == id { ids[state.record.name] = nil }
        for waiter in state.fileAccessWaiters { waiter.resume() }
        state.fileAccessWaiters = []
        return state
    }

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
        guard named(request.name) == nil else { throw HobError(.exists, "a sprite named \(request.name) already exists") }
        try admit?(Array(registered))
        try requireSpace("create sprite \(request.name)")
        if let source = request.source { return try await fork(request, from: source) }
        let record = try makeRecord(request)
        register(record, .creating)  // reserve the name and slot while the disk is made
        let v0 = CheckpointRecord(
            spriteID: record.id, id: "v0", createdAt: record.createdAt, comment: "", isAuto: false, history: [],
            volume: storage.imageVolume(image))
        do {
            try await storage.createDisk(record.id, from: v0.volume, keepAsV0: false, quotaBytes: Self.quotaBytes(record))
            try await store.insert(record, checkpoints: [v0])
        } catch {
            unregister(record.id)
            try? await storage.deleteDisk(record.id)
            throw HobError.wrap(error, "create sprite \(record.name)")
        }
        sprites[record.id]?.checkpoints = [v0]
        sprites[record.id]?.phase = .cold
        // A new disk is the base image: it holds nothing of its own, and scanning it to find that
        // out would cost a core for a moment per create.
        sprites[record.id]?.space = SpaceReport(checkpoints: [:], total: 0, rootExclusive: 0, measuredAt: .now)
        logger.info("sprite created", metadata: ["sprite": "\(record.name)", "id": "\(record.id)", "slot": "\(record.slot)"])
        return info(record)
    }

    /// `base` supplies the defaults a fork inherits from its source (resources, environment,
    /// privileges, network policy and runtime).
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
        let runtime = try runtimes.resolve(request.runtime, inheriting: base?.runtime)
        let used = Set(registered.map(\.slot)).union(undestroyed.values.map(\.slot))
        let capacity = min(runtimes.capacity, config.subnet.capacity)
        guard let slot = (0..<capacity).first(where: { !used.contains($0) }) else {
            throw HobError(.unavailable, "this host is full (\(capacity) sprites)")
        }
        let now = Date()
        return SpriteRecord(
            id: SpriteID.generate(), name: request.name, slot: slot, ramMB: ram, cpus: cpus, storageGB: storage,
            region: request.config?.region ?? d.region, environment: request.environment ?? base?.environment ?? [:], labels: labels,
            urlAuth: auth, urlPrivateAccess: request.urlSettings?.privateAccess, createdAt: now, updatedAt: now,
            idleTimeout: idle ?? base?.idleTimeout, coldTimeout: cold ?? base?.coldTimeout,
            privileges: base?.privileges ?? .standard, networkPolicy: base?.networkPolicy ?? .unrestricted, runtime: runtime)
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
        guard var record = named(name) else { throw notFound(name) }
        try change(&record)
        record.updatedAt = Date()
        try await store.update(record)
        guard var latest = named(name), latest.id == record.id else { throw notFound(name) }
        try change(&latest)
        latest.updatedAt = record.updatedAt
        sprites[latest.id]?.record = latest
        return latest
    }

    public func destroy(_ name: String) async throws {
        guard var record = named(name) else { throw notFound(name) }
        if case .creating? = sprites[record.id]?.phase { throw HobError(.invalidState, "sprite \(name) is still being created") }
        accrue(record.id)
        // From now on the sprite is gone for every caller: it leaves the registry whole.
        guard let state = unregister(record.id) else { throw notFound(name) }
        record.destroying = true
        do {
            try await store.update(record)
        } catch {
            reregister(state)
            throw HobError.wrap(error, "destroy sprite \(name)")
        }
        metrics.destroyed.increment()
        let doomed = record
        let runtime = runtimes.of(record)
        await serialize(record.id) {
            let record = doomed
            switch state.phase {
            case .creating, .cold: await runtime.cleanUp(record.id)
            case .booting(let task):
                task.cancel()
                await runtime.stop(record, running: try? await task.value, graceMs: 0)
            case .running(let running), .warm(let running): await runtime.stop(record, running: running, graceMs: 0)
            }
        }
        if await !finishDestroy(record, usage: state.usage) {
            throw HobError(.internalError, "sprite \(name) is stopped but its disk could not be deleted yet; it will be retried at the next start")
        }
        logger.info("sprite destroyed", metadata: ["sprite": "\(name)"])
    }

    /// Puts back a sprite whose destroy could not be recorded. Its init may have exited while it
    /// was out of the registry (the exit handler found nothing): then it goes cold now.
    private func reregister(_ state: SpriteState) {
        let id = state.record.id
        sprites[id] = state
        ids[state.record.name] = id
        switch state.phase {
        case .running(let r), .warm(let r):
            if !runtimes.of(r).isAlive(r) { Task { await self.initExited(id) } }
        default:
            break
        }
    }

    /// Deletes the disk and then the row of a sprite marked `destroying` (out of the registry).
    /// On failure the sprite keeps its slot and the next start tries again.
    @discardableResult
    func finishDestroy(_ record: SpriteRecord, usage: UsageRecord?) async -> Bool {
        do {
            await runtimes.of(record).cleanUp(record.id)
            try await storage.deleteDisk(record.id)
            // The store retires the sprite's usage into the host total as it deletes the row.
            try await store.delete(id: record.id, usage: usage)
            undestroyed[record.id] = nil
            usageDirty.remove(record.id)
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
            guard let record = named(name) else { throw notFound(name) }
            switch sprites[record.id]?.phase ?? .cold {
            case .creating:
                throw HobError(.unavailable, "sprite \(name) is still being created; retry")
            case .running(let r):
                sprites[record.id]?.lastActive = .now
                return (record, r)
            case .warm:
                // Activity now, so that a sleep already queued ahead of the wake does not go ahead.
                sprites[record.id]?.lastActive = .now
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

    /// Boots a cold sprite; the result is left in its state for `running(_:)` to pick up.
    private func boot(_ record: SpriteRecord) async throws {
        let id = record.id
        let started = ContinuousClock.now
        let runtime = runtimes.of(record)
        let task = Task { try await runtime.boot(record, onExit: self.exitHandler(id)) }
        sprites[id]?.phase = .booting(task)
        let r: RunningSprite
        do {
            r = try await task.value
        } catch {
            if case .booting? = sprites[id]?.phase { sprites[id]?.phase = .cold }
            logger.error("sprite failed to boot", metadata: ["sprite": "\(record.name)", "error": "\(error)"])
            throw error
        }
        guard case .booting? = sprites[id]?.phase else { return }  // destroyed meanwhile; destroy stops it
        guard runtime.isAlive(r) else {
            // Its init died before we stored it; the exit notice found no running sprite.
            sprites[id]?.phase = .cold
            await serialize(id) { await runtime.cleanUp(id) }
            throw HobError(.internalError, "sprite \(record.name) stopped right after booting")
        }
        sprites[id]?.phase = .running(r)
        sprites[id]?.lastActive = .now
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
        guard let state = sprites[id] else { return }
        switch state.phase {
        case .running, .warm: break
        default: return
        }
        accrue(id)
        sprites[id]?.phase = .cold
        logger.info("sprite init exited; sprite is cold", metadata: ["sprite": "\(state.record.name)"])
        let runtime = runtimes.of(state.record)
        await serialize(id) {
            let final = await runtime.cleanUp(id)
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
        guard let id = named(name)?.id else { return }
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
