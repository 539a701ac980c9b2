// The exec WebSocket (SPRITES-API.md §4): a bridge between a client and a session in hob-init.
//
// Frames: non-TTY binary frames carry a stream-id byte (0 stdin, 1 stdout, 2 stderr, 3 exit,
// 4 stdin EOF); TTY frames are raw terminal bytes. The server sends `session_info` first and ends
// with `{"type":"exit","exit_code":N}` (Go, Python, Elixir), then — non-TTY only — the binary
// `[0x03, N]` (JS, Python), then a 1000 close. All output is flushed before the exit frames.
import Foundation
import HobAPI
import HobAccess
import HobAgentProtocol
import HobCore
import Hummingbird
import HTTPTypes
import WSCore
import NIOCore
import NIOWebSocket
import Synchronization

struct ExecRoutes {
    let fleet: Fleet
    let access: AccessCheck
    let watches: WatchRoutes
    var registry = ExecSessionRegistry.shared

    /// Plain HTTP routes: session list, kill, HEAD for version discovery.
    func register<Context: RequestContext>(on router: Router<Context>) {
        router.get("/v1/sprites/:name/exec") { _, context in
            let name = try context.parameters.require("name")
            return jsonResponse(ExecSessionList(sessions: try await sessions(name)))
        }
        router.head("/v1/sprites/:name/exec") { _, _ in Response(status: .ok) }
        router.post("/v1/sprites/:name/exec/:id/kill") { request, context in
            try await kill(name: context.parameters.require("name"), rawID: context.parameters.require("id"), request: request)
        }
    }

    func sessions(_ name: String) async throws -> [ExecSessionInfo] {
        guard let running = try await fleet.awake(name) else { return [] }
        guard case .sessions(let list) = try await running.agent.request(.listSessions) else {
            throw HobError(.internalError, "sprite \(name)'s agent did not list sessions")
        }
        let live = list.filter { !$0.exited }
        registry.prune(sprite: name, running: Set(live.map(\.id)))
        return live.map { s in
            ExecSessionInfo(
                id: String(s.id), command: s.command, workdir: s.workdir, created: Self.time(s.createdMs), bytesPerSecond: 0,
                isActive: s.isActive, lastActivity: Self.time(s.lastActivityMs), tty: s.tty)
        }
    }

    static func time(_ ms: Int64) -> String { Timestamp.format(Date(timeIntervalSince1970: Double(ms) / 1000)) }

    /// Accepts exec, attach and port-forwarding (proxy) upgrades; a refusal carries the error the
    /// client is answered with.
    func acceptor() -> WebSocketAcceptor {
        let proxy = ProxyRoutes(fleet: fleet)
        let control = ControlRoutes(exec: self, proxy: proxy)
        return { request in
            let headers: HTTPFields = [.spriteVersion: spriteAPIVersion, .spriteCapabilities: "signal"]
            let (path, query) = Self.split(request.uri)
            let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
            guard parts.count >= 4, parts.count <= 5, parts[0] == "v1", parts[1] == "sprites" else {
                return .failure(HobError(.notFound, "no WebSocket endpoint at \(path)"))
            }
            let name = parts[2]
            let action = "GET \(path) (WebSocket)"
            var grant: Grant?
            do {
                let admitted = try access.authority.verify(authorization: request.authorization)
                grant = admitted
                try await access.check(admitted, RouteAccess.classify(.get, path, webSocket: true))
                let handler: WebSocketDataHandler<UpgradedRequest>
                switch (parts[3], parts.count == 5 ? parts[4] : nil) {
                case ("ports", "watch"?):
                    handler = try await watches.portsHandler(name: name)
                case ("fs", "watch"?):
                    handler = try await watches.filesHandler(name: name)
                case ("proxy", nil):
                    // Woken before the upgrade, so that a sprite that cannot start is an HTTP error.
                    _ = try await fleet.running(name)
                    handler = { inbound, outbound, _ in try await proxy.tunnel(name: name, inbound: inbound, outbound: outbound) }
                case ("control", nil):
                    // Only the sprite's existence is checked: its ops wake it, an idle connection does not.
                    _ = try await fleet.record(name)
                    // fs.write's content is streamed to disk (ControlReader.streamBinary), whatever its size.
                    request.binaryMessages.stream()
                    handler = { inbound, outbound, _ in try await control.serve(name: name, grant: admitted, inbound: inbound, outbound: outbound) }
                case ("exec", nil):
                    let exec = try await ExecRequestParser.parse(query: query, fleet: fleet, name: name)
                    let afterDisconnect = try RunAfterDisconnect.parse(FormQuery(query)["max_run_after_disconnect"])
                    handler = { inbound, outbound, _ in
                        try await bridge(name: name, start: .exec(exec), inbound: inbound, outbound: outbound, afterDisconnect: afterDisconnect)
                    }
                case ("exec", let session?):
                    let id = try sessionID(session)
                    _ = try await fleet.running(name)
                    handler = { inbound, outbound, _ in try await bridge(name: name, start: .attach(sessionID: id), inbound: inbound, outbound: outbound) }
                default:
                    throw HobError(.notFound, "no WebSocket endpoint at \(path)")
                }
                if ["exec", "proxy"].contains(parts[3]) {
                    let command = FormQuery(query).all("cmd").joined(separator: " ")
                    await access.record(grant, action: action, sprite: name, status: 101, detail: command.isEmpty ? nil : command)
                }
                return .success((headers, handler))
            } catch {
                let status = Int(APIError.map(error).0.code)
                if status == 401 || status == 403 { await access.record(grant, action: action, sprite: name, status: status, detail: "\(error)") }
                return .failure(error)
            }
        }
    }

    static func split(_ uri: String) -> (String, String?) {
        guard let q = uri.firstIndex(of: "?") else { return (uri, nil) }
        return (String(uri[..<q]), String(uri[uri.index(after: q)...]))
    }

    func sessionID(_ raw: String) throws -> UInt32 {
        guard let id = UInt32(raw), id > 0 else { throw HobError(.invalidArgument, "invalid session id \(raw)") }
        return id
    }

    /// Holds the sprite awake while the client is connected. `afterDisconnect`: the exec's `max_run_after_disconnect`
    /// (nil: Sprites' default for its TTY mode); attach keeps what the session was started with.
    func bridge(
        name: String, start: AgentRequest, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter,
        afterDisconnect: RunAfterDisconnect? = nil
    ) async throws {
        try await fleet.withHold(name) { id, running in
            try await bridge(
                name: name, spriteID: id, running: running, start: start, inbound: inbound, outbound: outbound,
                afterDisconnect: afterDisconnect)
        }
    }

    func bridge(
        name: String, spriteID: String, running: RunningSprite, start: AgentRequest, inbound: WebSocketInboundStream,
        outbound: WebSocketOutboundWriter, afterDisconnect: RunAfterDisconnect? = nil
    ) async throws {
        let mode = TerminalMode()
        if case .exec(let request) = start { mode.set(tty: request.tty) }
        let describe = try await sessionDescriber(name: name, running: running, start: start, afterDisconnect: afterDisconnect)
        let session = BridgedSession()
        let end: PumpEnd
        do {
            end = try await pump(
                name: name, spriteID: spriteID, running: running, start: start, inbound: inbound, outbound: outbound,
                mode: mode, session: session, describe: describe)
        } catch {
            // A failed write to a client that left, say: the session may still run, so its allowance starts.
            if let id = session.id { registry.clientLeft(.init(sprite: name, session: id), fleet: fleet) }
            throw error
        }
        guard let id = session.id else { return }
        let key = ExecSessionRegistry.Key(sprite: name, session: id)
        if end == .clientGone { registry.clientLeft(key, fleet: fleet) } else { registry.ended(key) }
    }

    private func pump(
        name: String, spriteID: String, running: RunningSprite, start: AgentRequest, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter,
        mode: TerminalMode, session: BridgedSession, describe: @escaping @Sendable (UInt32, Bool) -> SessionInfoMessage
    ) async throws -> PumpEnd {
        try await watches.withSessionPorts(spriteID: spriteID, running: running) { portWatch in
            try await running.agent.withConnection { events, agent in
                try await agent.send(start)
                return try await withThrowingTaskGroup(of: PumpEnd.self) { group in
                    group.addTask {
                        let end = try await pumpOutput(events, to: outbound, mode: mode, describe: { id, tty in
                            session.id = id
                            return describe(id, tty)
                        })
                        try await close(outbound, after: end)
                        return .output
                    }
                    group.addTask {
                        await pumpInput(inbound, to: agent, mode: mode, sprite: name) { rows, cols in
                            if let id = session.id { registry.resized(.init(sprite: name, session: id), rows: Int(rows), cols: Int(cols)) }
                        }
                    }
                    group.addTask {
                        await watches.notifyPorts(portWatch, session: mode) { try await outbound.write($0) }
                        return .portsEnded
                    }
                    // Output ending (exit, or the agent going away) ends the session for this client, and
                    // the client going away only detaches it. Input failing because the agent already
                    // closed (it does right after the exit) must not cut the exit frames short.
                    while let end = try await group.next() {
                        if end == .agentClosedInput || end == .portsEnded { continue }
                        group.cancelAll()
                        return end
                    }
                    return PumpEnd.output
                }
            }
        }
    }

    /// Builds the `session_info` for this connection once hob-init has said which session it is, and records a new
    /// session (its size and disconnect allowance) in the registry.
    func sessionDescriber(
        name: String, running: RunningSprite, start: AgentRequest, afterDisconnect: RunAfterDisconnect?
    ) async throws -> @Sendable (UInt32, Bool) -> SessionInfoMessage {
        let (registry, fleet) = (self.registry, self.fleet)
        switch start {
        case .exec(let request):
            let created = Int64(Date().timeIntervalSince1970)
            let command = request.argv.joined(separator: " ")
            return { id, tty in
                let rows = tty ? Int(request.rows) : 0
                let cols = tty ? Int(request.cols) : 0
                registry.started(
                    .init(sprite: name, session: id), rows: rows, cols: cols,
                    afterDisconnect: RunAfterDisconnect.resolved(afterDisconnect, tty: tty))
                fleet.countExecStarted()
                return SessionInfoMessage(
                    sessionID: String(id), tty: tty, command: command, created: created, cols: cols, rows: rows, isOwner: true)
            }
        default:
            // Attach: hob-init's summary has the command and start time, the registry the last known size.
            let summaries: [SessionSummary]
            if case .sessions(let list) = try await running.agent.request(.listSessions) {
                summaries = list
                registry.prune(sprite: name, running: Set(list.filter { !$0.exited }.map(\.id)))
            } else {
                summaries = []
            }
            return { id, tty in
                let summary = summaries.first { $0.id == id }
                let entry = registry.attached(.init(sprite: name, session: id))
                return SessionInfoMessage(
                    sessionID: String(id), tty: tty, command: summary?.command ?? "",
                    created: (summary?.createdMs).map { $0 / 1000 } ?? 0, cols: entry?.cols ?? 0, rows: entry?.rows ?? 0,
                    isOwner: false)
            }
        }
    }

    /// How a session's output ended. Who ends the connection decides what to do with it: the exec
    /// WebSocket closes (`close(_:after:)`), a control connection reports the end of its op.
    enum OutputEnd: Sendable, Equatable {
        case exited(Int32)
        case failed(AgentErrorKind, String)
        case agentGone
    }

    /// The exec WebSocket's last frame: a 1000 close after the exit frames, an error close otherwise.
    func close(_ ws: WebSocketOutboundWriter, after end: OutputEnd) async throws {
        switch end {
        case .exited: try await ws.close(.normalClosure, reason: nil)
        case .failed(let kind, let message): try await ws.close(kind == .notFound ? .policyViolation : .unexpectedServerError, reason: closeReason(message))
        case .agentGone: try await ws.close(.unexpectedServerError, reason: "sprite agent went away")
        }
    }

    /// Agent → client: session_info, output, and the exit frames. Tracks TTY mode from `started`.
    func pumpOutput(
        _ events: AgentEvents, to ws: WebSocketOutboundWriter, mode: TerminalMode,
        describe: @Sendable (UInt32, Bool) -> SessionInfoMessage = { SessionInfoMessage(sessionID: String($0), tty: $1) }
    ) async throws -> OutputEnd {
        try await pumpOutput(events, send: { try await ws.write($0) }, mode: mode, describe: describe)
    }

    /// pumpOutput through `send`, which may drop frames (a control op the client moved on from).
    func pumpOutput(
        _ events: AgentEvents, send: (WebSocketOutboundWriter.OutboundFrame) async throws -> Void, mode: TerminalMode,
        describe: @Sendable (UInt32, Bool) -> SessionInfoMessage
    ) async throws -> OutputEnd {
        var tty = false
        for try await event in events {
            switch event {
            case .started(let id, let isTTY):
                tty = isTTY
                mode.set(tty: isTTY)
                mode.set(sessionID: id)
                let info = describe(id, isTTY)
                try await send(.text(String(decoding: try jsonEncoder.encode(info), as: UTF8.self)))
            case .stdout(let bytes):
                try await send(.binary(Self.frame(tty ? nil : StreamID.stdout, bytes)))
            case .stderr(let bytes):
                try await send(.binary(Self.frame(tty ? nil : StreamID.stderr, bytes)))
            case .exit(let code):
                let exit = ExitMessage(exitCode: Int(code))
                try await send(.text(String(decoding: try jsonEncoder.encode(exit), as: UTF8.self)))
                if !tty { try await send(.binary(ByteBuffer(bytes: [StreamID.exit.rawValue, UInt8(truncatingIfNeeded: code)]))) }
                return .exited(code)
            case .error(let kind, let message):
                return .failed(kind, message)
            default:
                continue
            }
        }
        return .agentGone
    }

    /// A close reason must fit in 123 bytes of UTF-8; cut on a character boundary.
    func closeReason(_ message: String) -> String {
        var reason = ""
        for ch in message {
            if reason.utf8.count + String(ch).utf8.count > 120 { break }
            reason.append(ch)
        }
        return reason
    }

    /// One output frame: the stream-id byte (none on a TTY), then the bytes. HTTP exec's body uses the same frames.
    static func frame(_ stream: StreamID?, _ bytes: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(bytes.count + 1)
        if let stream { buffer.writeInteger(stream.rawValue) }
        buffer.writeBytes(bytes)
        return buffer
    }

    enum PumpEnd: Sendable {
        case output, clientGone, agentClosedInput, portsEnded
    }

    /// Client → agent. Ends when the client goes away (or breaks the protocol), or when the agent
    /// stops accepting input. Input is activity (`InputActivity`).
    func pumpInput(
        _ inbound: WebSocketInboundStream, to agent: AgentWriter, mode: TerminalMode, sprite: String,
        resized: @Sendable (UInt16, UInt16) -> Void = { _, _ in }
    ) async -> PumpEnd {
        var activity = InputActivity(fleet: fleet, sprite: sprite)
        do {
            for try await message in inbound.messages(maxSize: 1 << 20) {
                await activity.note()
                do {
                    try await forward(message, to: agent, mode: mode, resized: resized)
                } catch {
                    return .agentClosedInput
                }
            }
        } catch {
            return .clientGone
        }
        return .clientGone
    }

    /// Unknown or malformed frames are ignored, as Sprites clients expect.
    func forward(
        _ message: WebSocketMessage, to agent: AgentWriter, mode: TerminalMode, resized: @Sendable (UInt16, UInt16) -> Void = { _, _ in }
    ) async throws {
        switch message {
        case .binary(let buffer):
            let bytes = Array(buffer.readableBytesView)
            guard let first = bytes.first else { return }
            // TTY: every binary frame is raw keyboard input. Otherwise a stream-id prefix.
            if mode.tty {
                try await agent.send(.stdin(bytes))
            } else if first == StreamID.stdin.rawValue {
                if bytes.count > 1 { try await agent.send(.stdin(Array(bytes.dropFirst()))) }
            } else if first == StreamID.stdinEOF.rawValue && bytes.count == 1 {
                try await agent.send(.stdinEOF)
            }
        case .text(let text):
            guard let data = text.data(using: .utf8),
                let control = try? JSONDecoder().decode(ClientControlMessage.self, from: data)
            else { return }
            switch control.type {
            case "resize":
                if let rows = control.rows, let cols = control.cols, (1...10000).contains(rows), (1...10000).contains(cols) {
                    try await agent.send(.resize(rows: UInt16(rows), cols: UInt16(cols)))
                    resized(UInt16(rows), UInt16(cols))
                }
            case "signal":
                if let name = control.signal, let number = SignalName.number(name) { try await agent.send(.signal(number)) }
            default: return
            }
        }
    }
}

/// The session a bridge carries, once hob-init has named it.
final class BridgedSession: Sendable {
    private let value = Mutex<UInt32?>(nil)
    var id: UInt32? {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}

/// Whether the session is a terminal: known from the request for exec, from the agent for attach.
final class TerminalMode: Sendable {
    private let value = Atomic<Bool>(false)
    private let session = Atomic<UInt32>(0)
    func set(tty: Bool) { value.store(tty, ordering: .relaxed) }
    var tty: Bool { value.load(ordering: .relaxed) }
    /// The session's id (its pid in the sprite) once the agent has started it; 0 before.
    func set(sessionID: UInt32) { session.store(sessionID, ordering: .relaxed) }
    var sessionID: UInt32 { session.load(ordering: .relaxed) }
}

/// Parses and validates the exec query string and boots the sprite, before the upgrade, so that
/// every failure reaches the client as an HTTP status.
enum ExecRequestParser {
    static func parse(query raw: String?, fleet: Fleet, name: String) async throws -> ExecRequest {
        let record = try await fleet.record(name)
        let query = FormQuery(raw)
        // A NUL cannot be passed to execve or chdir; it would cut the value short (or fail late in hob-init).
        if let (key, _) = query.items.first(where: { $0.0.contains("\0") || $0.1.contains("\0") }) {
            throw HobError(.invalidArgument, "exec parameter \(key.contains("\0") ? "name" : key) contains a NUL byte")
        }
        _ = try RunAfterDisconnect.parse(query["max_run_after_disconnect"])
        var argv = query.all("cmd")
        if argv.isEmpty, let path = query["path"] { argv = [path] }
        guard !argv.isEmpty, !argv[0].isEmpty else { throw HobError(.invalidArgument, "exec needs a command: pass cmd=<argv0>&cmd=<arg>…") }
        let tty = isTrue(query["tty"])
        let rows = try dimension(query["rows"], "rows", default: 24)
        let cols = try dimension(query["cols"], "cols", default: 80)
        let env = try await fleet.execEnvironment(record, request: query.all("env"), tty: tty)
        let dir = query["dir"].flatMap { $0.isEmpty ? nil : $0 } ?? "/home/sprite"
        guard dir.hasPrefix("/") else { throw HobError(.invalidArgument, "dir must be an absolute path") }
        let stdin = query["stdin"].map { !["false", "0"].contains($0.lowercased()) } ?? true
        // Booting here, before the upgrade, turns a failed boot into an HTTP error the client sees.
        _ = try await fleet.running(name)
        return ExecRequest(argv: argv, environment: env, directory: dir, tty: tty, rows: rows, cols: cols, stdin: stdin)
    }

    static func isTrue(_ value: String?) -> Bool { value.map { ["true", "1", "yes"].contains($0.lowercased()) } ?? false }

    static func dimension(_ value: String?, _ name: String, default d: UInt16) throws -> UInt16 {
        guard let value, !value.isEmpty else { return d }
        guard let n = UInt16(value), n > 0 else { throw HobError(.invalidArgument, "\(name) must be a positive number") }
        return n
    }
}
