// Sleep and wake: a sprite nobody uses goes `warm` (every process frozen, memory kept, no CPU),
// then `cold` (stopped, memory freed, disk intact), and runs again on its next request.
//
// Activity is what keeps a sprite `running`:
//   - a hold: an open exec, console or attach connection (later, a proxied connection);
//   - input on such a connection, and any API call that needs the sprite (`running(_:)`);
//   - a session producing output or reading input, even with no client attached (hob-init
//     reports when each session last did either);
//   - a task: a keep-awake hold the sprite placed on itself through /.sprite/api.sock.
// A detached session that does nothing does not keep the sprite awake: it is frozen with the
// rest and carries on when the sprite wakes.
//
// One loop ticks every second. It picks the sprites idle past their timeout, asks hob-init when
// their sessions were last busy (outside lifecycle work: it may take a moment), and queues their
// sleep as lifecycle work (`exclusively`), which checks again before freezing or stopping:
// activity may have arrived in between. Waking is lifecycle work too, so a wake never overlaps a
// freeze. A sprite is marked `warm` before its freeze starts, so a request arriving during the
// freeze queues a wake behind it rather than talking to processes about to stop.
import Foundation
import HobAPI
import HobAgentProtocol
import HobOS
import Logging
import Metrics

extension Fleet {
    static let tick: Duration = .seconds(1)
    /// Meter samples and store writes happen every so many ticks.
    static let meterEvery = 5
    static let flushEvery = 30
    /// Tasks: at most an hour each (renew for longer), at most this many per sprite.
    static let maxTaskSeconds = 3600
    static let maxTasks = 100
    /// The longest idle or cold timeout a sprite may set (30 days).
    static let maxTimeout = 30 * 86400

    // MARK: - Timeouts

    func idleTimeout(_ r: SpriteRecord) -> Duration? {
        let s = r.idleTimeout ?? config.defaults.idleTimeout
        return s > 0 ? .seconds(s) : nil
    }

    func coldTimeout(_ r: SpriteRecord) -> Duration? {
        let s = r.coldTimeout ?? config.defaults.coldTimeout
        return s > 0 ? .seconds(s) : nil
    }

    static func validateTimeout(_ seconds: Int, _ field: String) throws -> Int {
        guard (0...maxTimeout).contains(seconds) else {
            throw HobError(.invalidArgument, "\(field) must be a number of seconds from 0 (never) to \(maxTimeout)")
        }
        return seconds
    }

    /// Where an idle sprite should be now, if not where it is: `warm` or `cold`.
    func sleepTarget(_ record: SpriteRecord, now: ContinuousClock.Instant) -> SpriteStatus? {
        let id = record.id
        guard (sprites[id]?.holds ?? 0) == 0, sprites[id]?.tasks.isEmpty ?? true else { return nil }
        let idle = now - (sprites[id]?.lastActive ?? now)
        switch sprites[id]?.phase {
        case .running?:
            if let cold = coldTimeout(record), idle >= cold { return .cold }
            if let warm = idleTimeout(record), idle >= warm { return .warm }
            return nil
        case .warm?:
            if let cold = coldTimeout(record), idle >= cold { return .cold }
            return nil
        default:
            return nil
        }
    }

    // MARK: - The loop

    func startLifecycleLoop() {
        lifecycleLoop = Task {
            var n = 0
            while !Task.isCancelled {
                try? await Task.sleep(for: Self.tick)
                if Task.isCancelled { return }
                n += 1
                await self.tick(n)
            }
        }
    }

    func tick(_ n: Int) async {
        guard !stopping else { return }
        expireTasks()
        let now = ContinuousClock.now
        for record in registered where !(sprites[record.id]?.sleeping ?? false) {
            guard let target = sleepTarget(record, now: now) else { continue }
            sprites[record.id]?.sleeping = true
            Task { await self.sleepIfIdle(record, to: target) }
        }
        if n % Self.meterEvery == 0 { await sampleRunning() }
        if n % Self.flushEvery == 0 { await flushUsage() }
        await refreshQuotas(tick: n)
    }

    /// Puts an idle sprite to sleep, unless its sessions turn out to be busy or activity arrives
    /// before the lifecycle work runs.
    func sleepIfIdle(_ record: SpriteRecord, to target: SpriteStatus) async {
        defer { sprites[record.id]?.sleeping = false }
        if case .running(let running)? = sprites[record.id]?.phase, let busy = await sessionActivity(running) {
            let idleFor = Duration.seconds(max(0, Date().timeIntervalSince(busy)))
            let threshold = target == .cold ? coldTimeout(record) : idleTimeout(record)
            if let threshold, idleFor < threshold {
                let now = ContinuousClock.now
                if let last = sprites[record.id]?.lastActive, last < now - idleFor { sprites[record.id]?.lastActive = now - idleFor }
                return
            }
        }
        guard !stopping else { return }
        _ = try? await exclusively(record.id) { try await self.fallAsleep(record, to: target, force: false) }
    }

    /// When a session last produced output or read input (now, if a client is attached), as
    /// hob-init reports it. Nil when it has no sessions or cannot say.
    func sessionActivity(_ running: RunningSprite) async -> Date? {
        guard case .sessions(let list)? = try? await running.agent.request(.listSessions, timeout: .seconds(2))
        else { return nil }
        if list.contains(where: { $0.isActive && !$0.exited }) { return Date() }
        guard let ms = list.map(\.lastActivityMs).max() else { return nil }
        return Date(timeIntervalSince1970: Double(ms) / 1000)
    }

    /// Freezes (`warm`) or stops (`cold`) the sprite. Unless forced, only if it is still idle.
    /// Lifecycle work: runs through `exclusively`. Throws only when a forced freeze fails.
    func fallAsleep(_ expected: SpriteRecord, to target: SpriteStatus, force: Bool) async throws {
        guard let record = sprites[expected.id]?.record else { return }
        let id = record.id
        if !force {
            guard !stopping, let now = sleepTarget(record, now: .now), now == target || now == .cold else { return }
        }
        let log = logger.with(sprite: record)
        let runtime = runtimes.of(record)
        switch (sprites[id]?.phase, target) {
        case (.running(let r)?, .warm):
            let started = ContinuousClock.now
            accrue(id)
            sprites[id]?.phase = .warm(r)
            do {
                try await runtime.freeze(id)
            } catch {
                // A process stuck in the kernel can keep a freeze from completing: stay running
                // and try again after another idle period. If even the thaw fails, the sprite stays
                // marked warm, so the next request's wake tries again (and restarts it if need be).
                log.warning("could not put the sprite to sleep", metadata: ["error": "\(error)"])
                sprites[id]?.lastActive = .now
                if (try? await runtime.wake(id)) != nil, case .warm(let current)? = sprites[id]?.phase, current == r {
                    accrue(id)
                    sprites[id]?.phase = .running(r)
                }
                if force { throw HobError(.unavailable, "sprite \(record.name) could not be put to sleep; retry", cause: error) }
                return
            }
            // Its init may have exited, or a destroy begun, while it froze.
            guard case .warm(let current)? = sprites[id]?.phase, current == r else { return }
            let now = Date()
            setLifecycleDates(id) { $0.lastWarmingAt = now }
            // Written before the sleep is done: a restarted daemon adopts a frozen sprite as warm
            // only if it finds this date (otherwise the freeze was a crashed checkpoint's).
            try? await store.recordWarming(id: id, at: now)
            log.info("sprite is warm", metadata: ["ms": "\((ContinuousClock.now - started).milliseconds)", "forced": "\(force)"])
        case (.running(let r)?, .cold), (.warm(let r)?, .cold):
            await endRun(record, r)
            log.info("sprite is cold", metadata: ["forced": "\(force)"])
        default:
            return  // already there, or cold (which cannot go warm), or busy booting
        }
    }

    /// Thaws a warm sprite. If it cannot be thawed, it is stopped, so the caller boots it afresh:
    /// a request never fails because its sprite was asleep. Lifecycle work.
    func wake(_ id: String) async throws {
        guard case .warm(let r)? = sprites[id]?.phase, let record = record(id: id) else { return }
        let started = ContinuousClock.now
        do {
            try await runtimes.of(record).wake(id)
        } catch {
            guard case .warm(let current)? = sprites[id]?.phase, current == r else { return }
            logger.with(sprite: record).error("could not wake the sprite; restarting it", metadata: ["error": "\(error)"])
            await endRun(record, r, graceMs: 0)
            return
        }
        // Its init may have exited, or a destroy begun, while it thawed.
        guard case .warm(let current)? = sprites[id]?.phase, current == r else { return }
        accrue(id)
        sprites[id]?.phase = .running(r)
        sprites[id]?.lastActive = .now
        metrics.wokeWarm.increment()
        metrics.wakeWarmTime.record(since: started)
        markRunning(id)
        if sprites[id]?.staleAgent == true {
            sprites[id]?.staleAgent = false
            enqueue(id) { await self.refreshAgent(id) }
        }
        logger.with(sprite: record).debug("sprite woke", metadata: ["ms": "\((ContinuousClock.now - started).milliseconds)"])
    }

    /// Records that the sprite started running now (boot or wake), off the request path.
    func markRunning(_ id: String) {
        let now = Date()
        setLifecycleDates(id) { $0.lastRunningAt = now }
        Task { try? await self.store.recordRunning(id: id, at: now) }
    }

    func setLifecycleDates(_ id: String, _ change: (inout SpriteRecord) -> Void) {
        guard var record = record(id: id) else { return }
        change(&record)
        sprites[id]?.record = record
    }

    // MARK: - Holds and activity

    /// The sprite, running, and held awake until `release(_:)` with the returned sprite id: it does
    /// not fall asleep on its own meanwhile (an exec or console connection, a proxied connection).
    public func hold(_ name: String) async throws -> (id: String, running: RunningSprite) {
        let (record, running) = try await self.running(name)
        sprites[record.id]?.holds += 1
        return (record.id, running)
    }

    /// Runs `body` with the sprite running and held awake (`hold`), and releases the hold however
    /// `body` ends. `body` runs on the caller's executor, not the Fleet's.
    public nonisolated func withHold<R>(
        _ name: String, _ body: (_ id: String, _ running: RunningSprite) async throws -> R
    ) async throws -> R {
        let (id, running) = try await hold(name)
        do {
            let result = try await body(id, running)
            await release(id)
            return result
        } catch {
            await release(id)
            throw error
        }
    }

    /// A TCP connection to `host`:`port` made from inside the running sprite (see
    /// `Runtime.connect`); take a hold first.
    public nonisolated func connect(_ running: RunningSprite, host: String, port: Int) async throws -> Int32 {
        try await runtimes.of(running).connect(running, host: host, port: port)
    }

    /// Ends a hold; its end is the sprite's last activity.
    public func release(_ id: String) {
        let left = (sprites[id]?.holds ?? 1) - 1
        sprites[id]?.holds = max(0, left)
        sprites[id]?.lastActive = .now  // a no-op for a sprite destroyed meanwhile
    }

    /// Input from a client (stdin, a resize, a signal): activity, which wakes a warm sprite
    /// (one put to sleep by force while a client was attached).
    public func noteInput(_ name: String) async {
        guard let record = named(name) else { return }
        if case .warm? = sprites[record.id]?.phase {
            _ = try? await running(name)
        } else {
            sprites[record.id]?.lastActive = .now
        }
    }

    /// `hob sleep`: puts the sprite to sleep now, whatever its activity. `warm` freezes a running
    /// sprite (a cold one stays cold); `cold` stops it.
    public func sleep(_ name: String, to target: SpriteStatus) async throws -> SpriteInfo {
        guard target != .running else { throw HobError(.invalidArgument, "state must be warm or cold") }
        let record = try bootable(name)
        while case .booting(let task)? = sprites[record.id]?.phase {
            _ = try? await task.value
            await Task.yield()  // let boot() record its result
        }
        try await exclusively(record.id) { try await self.fallAsleep(record, to: target, force: true) }
        return try info(name)
    }

    /// State kept for a sprite adopted after a daemon restart.
    func adoptActivity(_ record: SpriteRecord, running: RunningSprite, frozen: Bool, tasks saved: [SpriteTaskRecord]) {
        let id = record.id
        let now = ContinuousClock.now
        sprites[id]?.lastActive = now
        if frozen, let idle = idleTimeout(record), let warmedAt = record.lastWarmingAt {
            // It fell asleep at lastWarmingAt, one idle period after its last activity.
            sprites[id]?.lastActive = now - .seconds(max(0, Date().timeIntervalSince(warmedAt))) - idle
        }
        if !saved.isEmpty { sprites[id]?.tasks = Dictionary(saved.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a }) }
        adoptMetering(id, running: running, frozen: frozen)
    }

    // MARK: - Tasks (/v1/tasks on the in-sprite API)

    /// The sprite's live tasks, by name.
    public func tasks(of name: String) throws -> [SpriteTaskRecord] {
        let record = try self.record(name)
        let now = Date()
        return (sprites[record.id]?.tasks ?? [:]).values.filter { $0.expiresAt > now }.sorted { $0.name < $1.name }
    }

    public func task(_ task: String, of name: String) throws -> SpriteTaskRecord {
        guard let t = try tasks(of: name).first(where: { $0.name == task }) else {
            throw HobError(.notFound, "task \(task) not found")
        }
        return t
    }

    /// Creates a task, or with `replace` creates or renews it. Returns it and whether it is new.
    /// `expire` is in seconds, at most an hour.
    public func putTask(_ task: String, of name: String, expire: Int, replace: Bool) async throws -> (SpriteTaskRecord, created: Bool) {
        try Self.validateTaskName(task)
        guard (1...Self.maxTaskSeconds).contains(expire) else {
            throw HobError(.invalidArgument, "expire must be between 1 second and 1h (renew a task to hold longer)")
        }
        let record = try self.record(name)
        let id = record.id
        guard status(of: record) != .cold else { throw HobError(.invalidState, "sprite \(name) is not running") }
        // A hold on a sprite frozen just after it asked must take effect now.
        if status(of: record) == .warm { _ = try await running(name) }
        expireTasks()
        let existing = sprites[id]?.tasks[task]
        if existing != nil, !replace { throw HobError(.exists, "task \(task) already exists") }
        if existing == nil, (sprites[id]?.tasks.count ?? 0) >= Self.maxTasks {
            throw HobError(.invalidArgument, "a sprite can hold at most \(Self.maxTasks) tasks")
        }
        let now = Date()
        let t = SpriteTaskRecord(
            spriteID: id, name: task, startedAt: existing?.startedAt ?? now, expiresAt: now.addingTimeInterval(Double(expire)))
        do {
            try await store.saveTask(t)
        } catch {
            if named(name)?.id != id { throw notFound(name) }  // destroyed meanwhile
            throw HobError.wrap(error, "save task \(task) of sprite \(name)")
        }
        guard named(name)?.id == id, status(of: record) != .cold else {
            try? await store.deleteTasks(spriteID: id, names: [task])
            throw HobError(.invalidState, "sprite \(name) stopped")
        }
        sprites[id]?.tasks[task] = t
        sprites[id]?.lastActive = .now
        return (t, existing == nil)
    }

    public func deleteTask(_ task: String, of name: String) async throws {
        let record = try self.record(name)
        _ = try self.task(task, of: name)
        try await store.deleteTasks(spriteID: record.id, names: [task])
        sprites[record.id]?.tasks[task] = nil
        sprites[record.id]?.lastActive = .now
    }

    static func validateTaskName(_ name: String) throws {
        let ok = !name.isEmpty && name.utf8.count <= 128 && name.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value != 0x7f && $0 != "/" }
        guard ok else { throw HobError(.invalidArgument, "task name must be 1–128 bytes without spaces, control characters or /") }
    }

    /// Drops expired tasks. The end of a hold is the sprite's last activity.
    func expireTasks() {
        let now = Date()
        for (id, state) in sprites {
            let expired = state.tasks.values.filter { $0.expiresAt <= now }.map(\.name)
            guard !expired.isEmpty else { continue }
            for name in expired { sprites[id]?.tasks[name] = nil }
            sprites[id]?.lastActive = .now
            Task { try? await self.store.deleteTasks(spriteID: id, names: expired) }
        }
    }
}
