// Services (SPRITES-API.md §8): long-running processes inside a sprite, kept alive by hob-init.
//
// The definitions, and whether each should run, are rows of the `service` table: a stop is sticky
// across sleep, cold boots and daemon restarts, and a restore or a fork keeps them. hob-init gets
// the whole set (`setServices`) after every boot and every change and supervises the processes
// (needs order, restart with backoff, logs under /.sprite/logs/services). The daemon never tracks
// processes itself: state questions go to hob-init.
import Foundation
import HobAPI
import HobAgentProtocol
import Logging

extension Fleet {
    /// The port the sprite's URL reaches: the service that declares `http_port`, else 8080.
    public func httpPort(of name: String) throws -> Int {
        let record = try self.record(name)
        return sprites[record.id]?.services.first { $0.httpPort != nil }?.httpPort ?? 8080
    }

    // MARK: - Questions

    public func serviceList(_ name: String) async throws -> [ServiceInfo] {
        let record = try bootable(name)
        let defined = sprites[record.id]?.services ?? []
        let observed = try await serviceStates(name, defined)
        return defined.map { Self.info($0, observed[$0.name]) }
    }

    public func serviceInfo(_ name: String, _ service: String) async throws -> ServiceInfo {
        let record = try bootable(name)
        let defined = try self.service(record, service)
        let observed = try await serviceStates(name, [defined])
        return Self.info(defined, observed[service])
    }

    /// What hob-init reports, by service name; empty for a cold sprite (nothing runs).
    private func serviceStates(_ name: String, _ defined: [ServiceRecord]) async throws -> [String: ServiceStatus] {
        guard !defined.isEmpty, let running = try await awake(name) else { return [:] }
        let list = try await Self.agentStatuses(running)
        return Dictionary(list.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    }

    static func agentStatuses(_ running: RunningSprite) async throws -> [ServiceStatus] {
        switch try await running.agent.request(.listServices) {
        case .services(let list): return list
        case .error(_, let message): throw HobError(.unavailable, "the sprite's agent could not list services: \(message)")
        default: throw HobError(.internalError, "the sprite's agent answered listServices unexpectedly")
        }
    }

    static func info(_ s: ServiceRecord, _ status: ServiceStatus?) -> ServiceInfo {
        func time(_ ms: Int64) -> String? { ms > 0 ? Timestamp.format(Date(timeIntervalSince1970: Double(ms) / 1000)) : nil }
        let state = status.map { st in
            ServiceState(
                name: s.name, status: st.phase.name, pid: st.pid > 0 ? Int(st.pid) : nil, startedAt: time(st.startedAtMs),
                error: st.error.isEmpty ? nil : st.error, restartCount: Int(st.restartCount), nextRestartAt: time(st.nextRestartMs))
        } ?? ServiceState(name: s.name, status: "stopped")
        return ServiceInfo(
            name: s.name, cmd: s.cmd, args: s.args, needs: s.needs, httpPort: s.httpPort, env: s.environment, dir: s.directory,
            state: state)
    }

    func service(_ record: SpriteRecord, _ name: String) throws -> ServiceRecord {
        guard let s = sprites[record.id]?.services.first(where: { $0.name == name }) else {
            throw HobError(.notFound, "service \(name) not found in sprite \(record.name)")
        }
        return s
    }

    // MARK: - Changes

    /// The definition, or a 404.
    public func serviceDefinition(_ name: String, _ service: String) throws -> ServiceRecord {
        try self.service(try bootable(name), service)
    }

    /// Everything wrong with a definition, found before any stream starts (or sprite boots).
    public func checkService(_ name: String, _ service: String, _ request: ServiceRequest) throws {
        _ = try validatedService(name, service, request)
    }

    /// Creates or replaces a service definition and marks it wanted.
    public func defineService(_ name: String, _ service: String, _ request: ServiceRequest) async throws -> ServiceRecord {
        let defined = try validatedService(name, service, request)
        try await store.saveService(defined)
        replaceService(defined)
        logger.info("service defined", metadata: ["sprite": "\(name)", "service": "\(service)"])
        return defined
    }

    private func validatedService(_ name: String, _ service: String, _ request: ServiceRequest) throws -> ServiceRecord {
        let record = try bootable(name)
        if let problem = serviceNameProblem(service) { throw HobError(.invalidArgument, problem) }
        guard let cmd = request.cmd, !cmd.isEmpty else { throw HobError(.invalidArgument, "cmd is required") }
        let args = request.args ?? []
        guard args.count <= 4096, (args.reduce(cmd.utf8.count) { $0 + $1.utf8.count }) <= 256 << 10 else {
            throw HobError(.invalidArgument, "cmd and args are longer than 256 KiB")
        }
        if let dir = request.dir, !dir.hasPrefix("/") { throw HobError(.invalidArgument, "dir must be an absolute path, got \"\(dir)\"") }
        let env = request.env ?? [:]
        _ = try serviceEnvironment(record, env)  // validates the names
        var others = (sprites[record.id]?.services ?? []).filter { $0.name != service }
        if let port = request.httpPort {
            guard (1...65535).contains(port) else { throw HobError(.invalidArgument, "http_port must be from 1 to 65535, got \(port)") }
            if let holder = others.first(where: { $0.httpPort != nil }) {
                throw HobError(.exists, "another service already has an HTTP port configured (\(holder.name))")
            }
        }
        let needs = request.needs ?? []
        for need in needs {
            guard need != service else { throw HobError(.invalidArgument, "service \(service) cannot need itself") }
            guard others.contains(where: { $0.name == need }) else {
                throw HobError(.invalidArgument, "service \(service) needs \(need), which is not defined; create it first")
            }
        }
        guard others.count < maxServices else { throw HobError(.invalidArgument, "a sprite can have at most \(maxServices) services") }
        let now = Date()
        let existing = sprites[record.id]?.services.first { $0.name == service }
        let defined = ServiceRecord(
            spriteID: record.id, name: service, cmd: cmd, args: args, needs: needs, httpPort: request.httpPort, environment: env,
            directory: request.dir, wanted: true, createdAt: existing?.createdAt ?? now, updatedAt: now)
        others.append(defined)
        if let cycle = Self.needsCycle(others) {
            throw HobError(.invalidArgument, "needs would form a cycle: \(cycle.joined(separator: " → "))")
        }
        return defined
    }

    /// Marks a service (and, when starting, everything it needs) wanted or not. Returns whether
    /// the service was wanted before.
    @discardableResult
    public func setServiceWanted(_ name: String, _ service: String, _ wanted: Bool) async throws -> Bool {
        let record = try bootable(name)
        let target = try self.service(record, service)
        var names = [service]
        if wanted {
            // Starting a service starts what it needs, transitively.
            var i = 0
            while i < names.count {
                for need in (sprites[record.id]?.services.first { $0.name == names[i] }?.needs ?? []) where !names.contains(need) {
                    names.append(need)
                }
                i += 1
            }
        }
        for n in names {
            guard var s = sprites[record.id]?.services.first(where: { $0.name == n }), s.wanted != wanted else { continue }
            s.wanted = wanted
            s.updatedAt = Date()
            try await store.saveService(s)
            replaceService(s)
        }
        return target.wanted
    }

    public func deleteService(_ name: String, _ service: String) async throws {
        let record = try bootable(name)
        _ = try self.service(record, service)
        if let dependent = sprites[record.id]?.services.first(where: { $0.needs.contains(service) }) {
            throw HobError(.invalidState, "service \(service) is needed by \(dependent.name); delete or change that first")
        }
        try await store.deleteService(spriteID: record.id, name: service)
        sprites[record.id]?.services.removeAll { $0.name == service }
        logger.info("service deleted", metadata: ["sprite": "\(name)", "service": "\(service)"])
        try await pushServices(record.id)
    }

    public func signalService(_ name: String, _ service: String, signal: Int32) async throws {
        let record = try bootable(name)
        _ = try self.service(record, service)
        guard let running = try await awake(name) else { throw HobError(.invalidState, "service \(service) is not running") }
        switch try await running.agent.request(.signalService(service, signal)) {
        case .ok: return
        case .gone: throw HobError(.invalidState, "service \(service) is not running")
        case .error(.notFound, _): throw HobError(.invalidState, "service \(service) is not running")
        case .error(_, let message): throw HobError(.internalError, "signal service \(service): \(message)")
        default: throw HobError(.internalError, "the sprite's agent answered signalService unexpectedly")
        }
    }

    func replaceService(_ s: ServiceRecord) {
        var list = sprites[s.spriteID]?.services ?? []
        if let i = list.firstIndex(where: { $0.name == s.name }) { list[i] = s } else { list.append(s) }
        sprites[s.spriteID]?.services = list
    }

    /// A cycle in the needs graph, as a path that ends where it starts; nil when there is none.
    static func needsCycle(_ list: [ServiceRecord]) -> [String]? {
        let needs = Dictionary(list.map { ($0.name, $0.needs) }, uniquingKeysWith: { a, _ in a })
        var done = Set<String>()
        func visit(_ name: String, _ path: [String]) -> [String]? {
            if let i = path.firstIndex(of: name) { return Array(path[i...]) + [name] }
            guard !done.contains(name) else { return nil }
            for need in needs[name] ?? [] {
                if let cycle = visit(need, path + [name]) { return cycle }
            }
            done.insert(name)
            return nil
        }
        for s in list {
            if let cycle = visit(s.name, []) { return cycle }
        }
        return nil
    }

    // MARK: - Telling hob-init

    /// Sends the sprite's service set to its hob-init, in lifecycle order. A cold sprite gets it
    /// at its next boot, a warm one when it wakes. `startNow` names a service an explicit start
    /// asked for; `grace` is how long a stopping service gets before KILL.
    public func pushServices(_ id: String, startNow: String? = nil, grace: Duration = .seconds(10)) async throws {
        let graceMs = UInt32(clamping: grace.milliseconds)
        try await exclusively(id) { try await self.sendServices(id, startNow: startNow, graceMs: graceMs) }
    }

    /// Copies a sprite's services to a fork.
    func copyServices(from source: String, to fork: String) async {
        for var s in sprites[source]?.services ?? [] {
            s.spriteID = fork
            if (try? await store.saveService(s)) != nil { replaceService(s) }
        }
    }

    func sendServices(_ id: String, startNow: String? = nil, graceMs: UInt32 = 10_000) async throws {
        if case .warm? = sprites[id]?.phase {
            sprites[id]?.staleAgent = true  // its agent is frozen; told when it wakes
            return
        }
        guard case .running(let running)? = sprites[id]?.phase, let record = record(id: id) else { return }
        let specs = try (sprites[id]?.services ?? []).map { s in
            ServiceSpec(
                name: s.name, argv: [s.cmd] + s.args,
                environment: try serviceEnvironment(record, s.environment),
                directory: s.directory ?? "", needs: s.needs, wanted: s.wanted, stopGraceMs: graceMs, startNow: s.name == startNow)
        }
        // A sprite with none defined has nothing to be told (and may run an older hob-init).
        if specs.isEmpty && !(sprites[id]?.agentKnowsServices ?? false) { return }
        switch try await running.agent.request(.setServices(specs)) {
        case .ok:
            sprites[id]?.agentKnowsServices = true
        case .error(_, let message):
            throw HobError(.unavailable, "the sprite's agent refused the services: \(message); stop the sprite (hob sleep --cold) to update it")
        default:
            throw HobError(.internalError, "the sprite's agent answered setServices unexpectedly")
        }
    }

    /// A service's complete environment: the exec defaults and the sprite's, then its own.
    func serviceEnvironment(_ record: SpriteRecord, _ env: [String: String]) throws -> [String] {
        try execEnvironment(record, request: env.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }, tty: false)
    }

    /// After a boot, or a wake that follows missed changes: the network policy and privileges (a
    /// change may have come while it booted or slept), services (a URL request may be waiting for one), then
    /// /.sprite/checkpoints. Best effort, logged; run in lifecycle order.
    func refreshAgent(_ id: String) async {
        do {
            try await pushNetworkPolicy(id)
        } catch {
            logger.error("could not apply the sprite's network policy", metadata: ["sprite": "\(record(id: id)?.name ?? id)", "error": "\(error)"])
        }
        do {
            try await pushPrivileges(id)
        } catch {
            logger.error("could not apply the sprite's privileges", metadata: ["sprite": "\(record(id: id)?.name ?? id)", "error": "\(error)"])
        }
        do {
            try await sendServices(id)
        } catch {
            logger.error("could not start the sprite's services", metadata: ["sprite": "\(record(id: id)?.name ?? id)", "error": "\(error)"])
        }
        await refreshCheckpointMounts(id)
    }
}

// MARK: - Following a service

/// What a create, start or stop stream waits for before it completes (without a `duration`).
public enum ServiceStreamGoal: Sendable {
    case started, stopped
}

extension Fleet {
    /// Longest a stream without a duration waits for its goal.
    static let serviceStreamWait: Duration = .seconds(30)

    /// Follows `service` in the running sprite while `action` runs (it pushes the change), and
    /// hands every event to `emit`: until the goal is reached, or, with a `duration`, until it has
    /// passed. Returns a one-line summary for the stream's last line.
    public nonisolated func followService(
        _ running: RunningSprite, _ service: String, goal: ServiceStreamGoal, duration: Duration?, stopGrace: Duration = .seconds(10),
        action: @escaping @Sendable () async throws -> Void, emit: @escaping @Sendable (ServiceEvent) async -> Void
    ) async throws -> String {
        let deadline = ContinuousClock.now + (duration ?? (goal == .stopped ? stopGrace + .seconds(5) : Self.serviceStreamWait))
        try await running.agent.withConnection { events, writer in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    var feed = events.makeAsyncIterator()
                    try await writer.send(.followService(service))
                    switch try await feed.next() {
                    case .ok?: break
                    case .error(_, let message)?: throw HobError(.notFound, message)
                    default: throw HobError(.unavailable, "the sprite's agent did not follow service \(service)")
                    }
                    let before = try await Self.agentStatuses(running).first { $0.name == service }
                    try await action()
                    let after = try await Self.agentStatuses(running).first { $0.name == service }
                    if duration == nil, Self.settled(goal, before: before, after: after) { return }
                    while let event = try await feed.next() {
                        guard case .serviceEvent(let e) = event else { continue }
                        await emit(e)
                        guard duration == nil else { continue }
                        switch (goal, e.kind) {
                        case (.started, .started), (.started, .error), (.started, .stopped), (.stopped, .stopped): return
                        default: continue
                        }
                    }
                }
                group.addTask { try await Task.sleep(until: deadline, clock: .continuous) }
                try await group.next()
                group.cancelAll()
            }
        }
        let now = try await Self.agentStatuses(running).first { $0.name == service }
        return Self.summary(service, now)
    }

    /// Whether the action changed nothing, so no event will come: the service already ran (same
    /// process) for a start, or was not running for a stop. Events of anything that did change
    /// are in the feed, since it was followed before the action.
    static func settled(_ goal: ServiceStreamGoal, before: ServiceStatus?, after: ServiceStatus?) -> Bool {
        guard let after else { return true }
        switch goal {
        case .started: return after.phase == .running && before?.phase == .running && after.pid == before?.pid
        case .stopped: return before == nil || before?.phase == .stopped
        }
    }

    static func summary(_ service: String, _ status: ServiceStatus?) -> String {
        guard let status else { return "service \(service) is gone" }
        switch status.phase {
        case .running: return "service \(service) is running (pid \(status.pid))"
        case .stopped: return "service \(service) is stopped" + (status.error.isEmpty ? "" : " (\(status.error))")
        case .stopping: return "service \(service) is stopping"
        case .starting: return "service \(service) is starting" + (status.error.isEmpty ? "" : ": \(status.error)")
        case .failed: return "service \(service) failed: \(status.error); it will be restarted"
        }
    }
}
