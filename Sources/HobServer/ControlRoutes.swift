// The control connection (docs/API.md "The control connection"): `GET /v1/sprites/{name}/control`
// upgrades to one WebSocket that carries a sequence of operations, one at a time — exec, proxy
// and the file operations — so that an SDK can pool connections instead of dialling per command.
//
// An op starts with an `op.start` envelope. The SDKs frame it two ways and the server answers in
// the framing the op came in (ControlFraming): sprites-py, sprites-js and sprites-go's exec send
// text `control:{"type":"op.start","op":"exec","args":{…}}`; sprites-go's file ops send the bare
// JSON with url-encoded args, and its proxy `{"type":"start","operation":"proxy","params":{…}}`.
// While an op runs, other frames are its input, exactly as on its own WebSocket (ExecRoutes,
// ProxyRoutes). It ends with `op.complete` (exec: `{"exitCode":N}`) or `op.error`; the client then
// reuses the connection. A client may end an op early with `{"type":"release"}` (sprites-go) or by
// starting the next op (sprites-py and sprites-js only release on their side): the op is then
// detached like a closed exec WebSocket — its process keeps running — and nothing more is sent for
// it, so that a late envelope cannot be taken for the next op's.
//
// An idle connection neither wakes nor holds its sprite; each op holds it while it runs.
import Foundation
import HobAgentProtocol
import HobAPI
import HobAccess
import HobCore
import HTTPTypes
import NIOCore
import Synchronization
import WSCore

struct ControlRoutes {
    let exec: ExecRoutes
    let proxy: ProxyRoutes

    var fleet: Fleet { exec.fleet }

    /// Where the connection goes after an op.
    enum After: Sendable {
        /// Wait for the next op.
        case idle
        /// The client already started the next op.
        case next(ControlOp)
        /// The client went away.
        case ended
    }

    /// `grant`: the token that opened the connection; each op is checked against it when it starts.
    func serve(name: String, grant: Grant, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        var reader = ControlReader(frames: inbound.makeAsyncIterator())
        let connection = ControlConnection(routes: self, name: name, grant: grant, outbound: outbound)
        var after = After.idle
        while true {
            let op: ControlOp
            switch after {
            case .ended:
                return
            case .next(let started):
                op = started
            case .idle:
                // Between ops only a start matters: a release, a keepalive or input that arrives
                // after its op ended (sprites-py sends stdin EOF after a quick command's exit) is dropped.
                guard let message = try await reader.next() else { return }
                guard case .text(let text) = message, case .start(let started)? = ControlMessage(text) else { continue }
                op = started
            }
            after = try await connection.run(op, reader: &reader)
        }
    }
}

/// Reads whole messages from the client, or a binary message piece by piece (fs.write).
struct ControlReader {
    var frames: WebSocketInboundStream.AsyncIterator
    /// The largest text or stdin message, as on the exec WebSocket.
    static let maxMessage = 1 << 20

    mutating func next() async throws -> WebSocketMessage? { try await frames.nextMessage(maxSize: Self.maxMessage) }

    /// Hands the next message's frames to `body` as they arrive; false if the client went away
    /// first. A failure in `body` is thrown once the whole message has been read, so that its
    /// remaining frames are not taken for the next message.
    mutating func streamBinary(_ body: (ByteBuffer) async throws -> Void) async throws -> Bool {
        var failure: (any Error)?
        guard var frame = try await frames.next() else { return false }
        guard frame.opcode == .binary else {
            throw HobError(.invalidArgument, "fs.write expects the file's content as the next (binary) message")
        }
        while true {
            if failure == nil {
                do { try await body(frame.data) } catch { failure = error }
            }
            if frame.fin { break }
            guard let more = try await frames.next() else { return false }
            guard more.opcode == .continuation else { throw HobError(.invalidArgument, "a fragmented message was interrupted") }
            frame = more
        }
        if let failure { throw failure }
        return true
    }
}

/// How the client framed an op's start; envelopes for that op are sent the same way.
enum ControlFraming: Sendable {
    /// `control:` + JSON (sprites-py, sprites-js, sprites-go exec).
    case prefixed
    /// Bare JSON (sprites-go file ops and proxy), which sprites-go parses without a prefix.
    case plain
}

/// An operation a client asked for: its name (exec, proxy, fs.read, …), arguments as query items.
struct ControlOp: Sendable {
    var name: String
    var framing: ControlFraming
    /// The arguments as a url-encoded query, the form the HTTP routes parse.
    var query: String

    var arguments: FormQuery { FormQuery(query) }
}

/// A text message about the connection itself rather than input for the running op.
enum ControlMessage {
    case start(ControlOp)
    case release

    /// Nil for any other text (a resize, a signal, JSON that is not an envelope).
    init?(_ text: String) {
        var body = Substring(text)
        var framing = ControlFraming.plain
        if body.hasPrefix(ControlEnvelope.prefix) {
            body = body.dropFirst(ControlEnvelope.prefix.count)
            framing = .prefixed
        }
        guard body.first == "{", let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
            let type = object["type"] as? String
        else { return nil }
        switch type {
        case "op.start":
            self = .start(ControlOp(name: object["op"] as? String ?? "", framing: framing, query: Self.query(object["args"])))
        case "start":
            self = .start(ControlOp(name: object["operation"] as? String ?? "", framing: framing, query: Self.query(object["params"])))
        case "release":
            self = .release
        default:
            return nil
        }
    }

    /// Args as sent: a url-encoded string (sprites-go file ops) or an object whose values are
    /// strings, numbers, booleans, lists (`cmd`, `env`) or, for `env`, a map.
    static func query(_ args: Any?) -> String {
        if let encoded = args as? String { return encoded }
        guard let object = args as? [String: Any] else { return "" }
        var items: [(String, String)] = []
        for key in object.keys.sorted() {
            switch object[key] {
            case let list as [Any]: items += list.compactMap(scalar).map { (key, $0) }
            case let map as [String: Any]: items += map.keys.sorted().compactMap { k in scalar(map[k] as Any).map { (key, "\(k)=\($0)") } }
            case let value?: if let text = scalar(value) { items.append((key, text)) }
            case nil: continue
            }
        }
        return items.map { "\(encode($0.0))=\(encode($0.1))" }.joined(separator: "&")
    }

    static func scalar(_ value: Any) -> String? {
        switch value {
        case let text as String: return text
        case let flag as Bool: return flag ? "true" : "false"
        case let number as NSNumber: return number.stringValue
        default: return nil
        }
    }

    static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    static func encode(_ text: String) -> String { text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? "" }
}

/// Envelopes the server sends.
enum ControlEnvelope {
    static let prefix = "control:"

    struct Complete: Encodable {
        var type = "op.complete"
        var args: Args

        struct Args: Encodable {
            var exitCode: Int?
        }
    }

    /// op.error. For a file op it also carries the SDKs' file error fields at the top level
    /// (sprites-go reads `error`/`code`/`path` as the op's answer and stops there).
    struct Failure: Encodable {
        var type = "op.error"
        var args: Args
        var error: String?
        var code: String?
        var path: String?

        struct Args: Encodable {
            var error: String
        }
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    static func text(_ value: some Encodable, _ framing: ControlFraming) throws -> String {
        let json = String(decoding: try encoder.encode(value), as: UTF8.self)
        return framing == .prefixed ? prefix + json : json
    }
}

/// Whether the client moved on from an op (release, next op, gone): its session task then sends
/// nothing more for it. Every frame of the op — output, op.complete, op.error — goes through
/// `send`, which checks first; the one write that may have passed the check just before `abandon`
/// is finished before the next op runs, since ControlConnection.exec's task group awaits the
/// session task (cancelled at once) before it returns.
final class ControlOpState: Sendable {
    private let abandoned = Atomic<Bool>(false)

    func abandon() { abandoned.store(true, ordering: .sequentiallyConsistent) }
    var isAbandoned: Bool { abandoned.load(ordering: .sequentiallyConsistent) }

    /// Sends `frame` unless the op was abandoned (then drops it).
    func send(_ frame: WebSocketOutboundWriter.OutboundFrame, to outbound: WebSocketOutboundWriter) async throws {
        guard !isAbandoned else { return }
        try await outbound.write(frame)
    }
}

/// One control WebSocket: runs the ops it is sent.
struct ControlConnection: Sendable {
    let routes: ControlRoutes
    let name: String
    let grant: Grant
    let outbound: WebSocketOutboundWriter

    var fleet: Fleet { routes.fleet }
    var access: AccessCheck { routes.exec.access }

    /// File ops that change nothing, left out of the audit log as GETs are.
    static let readingFileOps: Set<String> = ["fs.read", "fs.list"]

    func run(_ op: ControlOp, reader: inout ControlReader) async throws -> ControlRoutes.After {
        // Each op needs what its own route would (RouteAccess), and a token that has neither
        // expired nor been revoked since the connection opened.
        let needed: Permission = op.name.hasPrefix("fs.") ? .files : .exec
        do {
            try access.authority.requireStanding(grant)
            try grant.require(needed)
        } catch {
            await access.record(grant, action: "control \(op.name)", sprite: name, status: Int(APIError.map(error).0.code), detail: "\(error)")
            try await fail(op, error)
            return .idle
        }
        if !Self.readingFileOps.contains(op.name) {
            let command = op.arguments.all("cmd").joined(separator: " ")
            await access.record(grant, action: "control \(op.name)", sprite: name, status: 200, detail: command.isEmpty ? nil : command)
        }
        switch op.name {
        case "exec": return try await exec(op, reader: &reader)
        case "proxy": return try await proxy(op, reader: &reader)
        case let file where file.hasPrefix("fs."): return try await files(op, reader: &reader)
        default:
            try await fail(op, HobError(.invalidArgument, "unknown control operation \"\(op.name)\" (exec, proxy and fs.* are served)"))
            return .idle
        }
    }

    /// op.complete; with `state`, only while the client has not moved on from the op.
    func complete(_ op: ControlOp, exitCode: Int? = nil, state: ControlOpState? = nil) async throws {
        try await send(.text(ControlEnvelope.text(ControlEnvelope.Complete(args: .init(exitCode: exitCode)), op.framing)), state)
    }

    /// op.error; with `state`, only while the client has not moved on from the op.
    func fail(_ op: ControlOp, _ error: any Error, file: FsErrorBody? = nil, state: ControlOpState? = nil) async throws {
        let message = file?.error ?? APIError.map(error).1.message
        let failure = ControlEnvelope.Failure(args: .init(error: message), error: file?.error, code: file?.code, path: file?.path)
        try await send(.text(ControlEnvelope.text(failure, op.framing)), state)
    }

    func send(_ frame: WebSocketOutboundWriter.OutboundFrame, _ state: ControlOpState?) async throws {
        if let state { try await state.send(frame, to: outbound) } else { try await outbound.write(frame) }
    }

    // MARK: - exec

    /// An exec or attach op: the exec WebSocket's frames (ExecRoutes.pumpOutput, and `port_opened` /
    /// `port_closed` for ports the session's processes open and close), then op.complete with the
    /// exit status. Input is forwarded as on the exec WebSocket, except that sprites-go
    /// (which sends `path`, or `id` to attach) writes stdin as raw bytes and a lone 0x04 as EOF.
    func exec(_ op: ControlOp, reader: inout ControlReader) async throws -> ControlRoutes.After {
        let arguments = op.arguments
        let start: AgentRequest
        let afterDisconnect: RunAfterDisconnect?
        do {
            afterDisconnect = try RunAfterDisconnect.parse(arguments["max_run_after_disconnect"])
            // sprites-go attaches with `id` and an empty command (`cmd=[""]`, `path=""`).
            if let id = arguments["id"], !id.isEmpty, arguments.all("cmd").allSatisfy(\.isEmpty) {
                start = .attach(sessionID: try routes.exec.sessionID(id))
            } else {
                start = .exec(try await ExecRequestParser.parse(query: op.query, fleet: fleet, name: name))
            }
        } catch {
            try await fail(op, error)
            return .idle
        }
        let rawStdin = arguments["path"] != nil || arguments["id"] != nil
        let mode = TerminalMode()
        if case .exec(let request) = start { mode.set(tty: request.tty) }
        let state = ControlOpState()
        let (writers, handoff) = AsyncStream<AgentWriter>.makeStream()
        return try await withThrowingTaskGroup(of: Void.self, returning: ControlRoutes.After.self) { group in
            group.addTask {
                defer { handoff.finish() }
                await runSession(op, start: start, afterDisconnect: afterDisconnect, mode: mode, state: state) { handoff.yield($0) }
            }
            var handed = writers.makeAsyncIterator()
            // Nothing handed over: the session did not start, and its op.error is sent.
            guard let agent = await handed.next() else { return .idle }
            // However input ends — release, next op, the client gone or failing — the session is
            // left detached (not ended) and sends nothing more; the group then awaits it.
            defer {
                state.abandon()
                group.cancelAll()
            }
            return try await execInput(reader: &reader, agent: agent, mode: mode, rawStdin: rawStdin)
        }
    }

    /// The session's side of an exec op: holds the sprite, starts the session, sends its output and
    /// the op's end. A session the client moved on from is left like one whose exec WebSocket closed
    /// (ExecSessionRegistry: `max_run_after_disconnect` starts counting).
    func runSession(
        _ op: ControlOp, start: AgentRequest, afterDisconnect: RunAfterDisconnect?, mode: TerminalMode, state: ControlOpState,
        started: @Sendable (AgentWriter) -> Void
    ) async {
        let registry = routes.exec.registry
        let session = BridgedSession()
        func left(_ clientLeft: Bool) {
            guard let id = session.id else { return }
            let key = ExecSessionRegistry.Key(sprite: name, session: id)
            if clientLeft { registry.clientLeft(key, fleet: fleet) } else { registry.ended(key) }
        }
        do {
            let end: ExecRoutes.OutputEnd
            do {
                end = try await fleet.withHold(name) { id, running in
                    try await runAgentSession(
                        start, spriteID: id, running: running, afterDisconnect: afterDisconnect, mode: mode, state: state, session: session,
                        started: started)
                }
            } catch {
                left(true)
                throw error
            }
            left(state.isAbandoned)
            switch end {
            case .exited(let code): try await complete(op, exitCode: Int(code), state: state)
            case .failed(let kind, let message):
                try await fail(op, HobError(kind == .notFound ? .notFound : .internalError, message), state: state)
            case .agentGone: try await fail(op, HobError(.unavailable, "sprite agent went away"), state: state)
            }
        } catch {
            guard !Task.isCancelled else { return }
            try? await fail(op, error, state: state)
        }
    }

    /// Starts the session in the held sprite and sends its output, and `port_opened` / `port_closed` for ports its
    /// processes open, until it ends.
    private func runAgentSession(
        _ start: AgentRequest, spriteID id: String, running: RunningSprite, afterDisconnect: RunAfterDisconnect?, mode: TerminalMode,
        state: ControlOpState, session: BridgedSession, started: @Sendable (AgentWriter) -> Void
    ) async throws -> ExecRoutes.OutputEnd {
        let describe = try await routes.exec.sessionDescriber(name: name, running: running, start: start, afterDisconnect: afterDisconnect)
        let watches = routes.exec.watches
        let send: @Sendable (WebSocketOutboundWriter.OutboundFrame) async throws -> Void = { [outbound] frame in
            // A command that never stops writing keeps its events ready, so the pump
            // would not notice its cancellation by waiting: it checks at each frame.
            try Task.checkCancellation()
            try await state.send(frame, to: outbound)
        }
        return try await watches.withSessionPorts(spriteID: id, running: running) { portWatch in
            try await running.agent.withConnection { events, agent in
                try await agent.send(start)
                started(agent)
                return try await withThrowingTaskGroup(of: ExecRoutes.OutputEnd?.self) { group in
                    group.addTask {
                        try await routes.exec.pumpOutput(events, send: send, mode: mode) { id, tty in
                            session.id = id
                            return describe(id, tty)
                        }
                    }
                    group.addTask {
                        await watches.notifyPorts(portWatch, session: mode, send: send)
                        return nil
                    }
                    // The output's end is the op's; the notifications just stop with it.
                    while let next = try await group.next() {
                        guard let end = next else { continue }
                        group.cancelAll()
                        return end
                    }
                    throw HobError(.unavailable, "sprite agent went away")
                }
            }
        }
    }

    /// Client → session until the client moves on. Input that arrives after the session ended is
    /// dropped (the agent has closed its side).
    func execInput(reader: inout ControlReader, agent: AgentWriter, mode: TerminalMode, rawStdin: Bool) async throws -> ControlRoutes.After {
        var activity = InputActivity(fleet: fleet, sprite: name)
        while let message = try await reader.next() {
            if case .text(let text) = message, let control = ControlMessage(text) {
                switch control {
                case .start(let next): return .next(next)
                case .release: return .idle
                }
            }
            await activity.note()
            if case .binary(let buffer) = message, let control = Self.binaryControl(buffer) {
                try? await routes.exec.forward(.text(control), to: agent, mode: mode)
            } else if rawStdin, !mode.tty, case .binary(let buffer) = message {
                let bytes = Array(buffer.readableBytesView)
                if bytes == [StreamID.stdinEOF.rawValue] {
                    try? await agent.send(.stdinEOF)
                } else if !bytes.isEmpty {
                    try? await agent.send(.stdin(bytes))
                }
            } else {
                try? await routes.exec.forward(message, to: agent, mode: mode)
            }
        }
        return .ended
    }

    /// sprites-js sends `resize` and `signal` as binary frames. A binary message that is exactly
    /// such a JSON object is taken as one (no stdin frame starts with `{`, and a terminal's
    /// keystrokes are not a whole JSON object of that shape).
    static func binaryControl(_ buffer: ByteBuffer) -> String? {
        guard buffer.readableBytes >= 2, buffer.readableBytes <= 256, buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) == UInt8(ascii: "{"),
            let control = try? JSONDecoder().decode(ClientControlMessage.self, from: Data(buffer.readableBytesView)),
            control.type == "resize" || control.type == "signal"
        else { return nil }
        return String(decoding: buffer.readableBytesView, as: UTF8.self)
    }
}
