// HTTP exec (SPRITES-API.md §18): `POST /v1/sprites/{name}/exec?cmd=…` runs a command without a
// WebSocket, for clients that cannot open one (the Claude Managed Agents guide uses it).
//
// The query is the exec WebSocket's (ExecRequestParser), except that stdin is off unless
// `stdin=true`, and then the request body is the command's stdin, streamed to it as it arrives
// (any size), then end of file. A command that exits before the body ends gets no more of it: the
// answer ends and the connection closes, as a pipe's reader leaving does. The answer is 200 with the
// WebSocket's non-TTY binary frames laid end to end: `0x01`+stdout bytes, `0x02`+stderr bytes, and
// last `0x03`+exit code (one byte), which is what clients read (`body[-2] == 0x03`). A command
// that cannot start is an HTTP error instead (400, or 404 for an unknown sprite), so the
// response is held until the agent says the session started.
//
// Output is passed on with backpressure (`OutputCredits`): the agent is read no faster than the
// client reads the body, so a command with endless output and a slow client costs a few chunks.
// A client that goes away detaches: the command runs on for its max_run_after_disconnect, as after
// a WebSocket disconnect. The daemon learns of it when the connection's input ends (the edge reads
// past the request while answering it, RequestParts), even while the command is silent.
import Foundation
import HobAPI
import HobAgentProtocol
import HobCore
import Hummingbird
import NIOCore
import Synchronization

struct HTTPExecRoute {
    let fleet: Fleet

    func register<Context: RequestContext>(on router: Router<Context>) {
        router.post("/v1/sprites/:name/exec") { request, context in
            try await run(request, name: context.parameters.require("name"))
        }
    }

    enum Piece: Sendable {
        case output(ByteBuffer)
        case end
    }

    func run(_ request: Request, name: String) async throws -> Response {
        let query = request.uri.query
        var parsed = try await ExecRequestParser.parse(query: query, fleet: fleet, name: name)
        parsed.tty = false
        parsed.stdin = ExecRequestParser.isTrue(FormQuery(query)["stdin"])
        let exec = parsed
        let afterDisconnect = RunAfterDisconnect.resolved(try RunAfterDisconnect.parse(FormQuery(query)["max_run_after_disconnect"]), tty: false)
        let stdin: RequestBody? = exec.stdin ? request.body : nil
        let (pieces, sink) = AsyncStream<Piece>.makeStream()
        let credits = OutputCredits(Self.chunksInFlight)
        let (holdID, running) = try await fleet.hold(name)
        let fleet = self.fleet
        let registry = ExecSessionRegistry.shared
        // The session runs in its own task: its first event decides the response's status, and
        // the rest is streamed by the response body, which may start later or never. Closing the
        // credits (the body ended, or was never asked for) cancels it: the agent connection closes,
        // which detaches the command, and the sprite is released; the command's
        // max_run_after_disconnect (ExecSessionRegistry) then runs, as after a WebSocket disconnect.
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let started = StartSignal(continuation)
            let task = Task {
                let tracked = Mutex<(id: UInt32?, exited: Bool)>((nil, false))
                do {
                    let exited = try await Self.session(exec, stdin: stdin, running: running, credits: credits, sink: sink) { id in
                        tracked.withLock { $0.id = id }
                        registry.started(.init(sprite: name, session: id), rows: 0, cols: 0, afterDisconnect: afterDisconnect)
                        fleet.countExecStarted()
                        started.resume(.success(()))
                    }
                    tracked.withLock { $0.exited = exited }
                    started.resume(.failure(Self.stoppedBeforeStart(name)))
                } catch let error as HobError {
                    started.resume(.failure(error))
                } catch {
                    // The agent connection closed under the start: the sprite was stopped by a
                    // concurrent restore, restart or sleep. A conflict the caller can retry, not a 500.
                    started.resume(.failure(Self.stoppedBeforeStart(name, cause: error)))
                }
                sink.finish()
                let (id, exited) = tracked.withLock { ($0.id, $0.exited) }
                if let id {
                    let key = ExecSessionRegistry.Key(sprite: name, session: id)
                    if exited { registry.ended(key) } else { registry.clientLeft(key, fleet: fleet) }
                }
                await fleet.release(holdID)
            }
            credits.onClose { task.cancel() }
        }
        // Should the body never be asked for (the client left before the head was written), the
        // session must not wait for credits forever: it detaches, as for a client that left.
        Task {
            try? await Task.sleep(for: .seconds(30))
            credits.closeUnlessConsumed()
        }
        let stream = ResponseBody { writer in
            credits.markConsumed()
            defer { credits.close() }
            for await piece in pieces {
                switch piece {
                case .output(let buffer):
                    try await writer.write(buffer)
                    credits.give()
                case .end:
                    try await writer.finish(nil)
                    return
                }
            }
            // The agent went away without an exit status: end the body without the exit frame,
            // which clients read as a failure.
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "application/octet-stream"], body: stream)
    }

    static func stoppedBeforeStart(_ name: String, cause: (any Error)? = nil) -> HobError {
        HobError(.invalidState, "sprite \(name) stopped (a restore, restart or sleep) before the command started; retry", cause: cause)
    }

    /// How many output chunks may wait for the client.
    static let chunksInFlight = 8

    /// Runs `exec` through the agent, calling `started` with its session id once it runs, and
    /// passing frames to `sink` while the client takes them. Throws when the session cannot
    /// start. True when the command exited, false when the session was left running (the client
    /// went, or the agent did).
    static func session(
        _ exec: ExecRequest, stdin: RequestBody?, running: RunningSprite, credits: OutputCredits,
        sink: AsyncStream<Piece>.Continuation, started: @escaping @Sendable (UInt32) -> Void
    ) async throws -> Bool {
        try await running.agent.withConnection { events, agent in
            try await agent.send(.exec(exec))
            return try await withThrowingTaskGroup(of: Void.self) { group in
                for try await event in events {
                    switch event {
                    case .started(let id, _):
                        started(id)
                        if let stdin {
                            group.addTask { await feed(stdin, to: agent) }
                        }
                    case .stdout(let bytes):
                        guard await credits.take() else {
                            group.cancelAll()
                            return false
                        }
                        sink.yield(.output(ExecRoutes.frame(.stdout, bytes)))
                    case .stderr(let bytes):
                        guard await credits.take() else {
                            group.cancelAll()
                            return false
                        }
                        sink.yield(.output(ExecRoutes.frame(.stderr, bytes)))
                    case .exit(let code):
                        sink.yield(.output(ByteBuffer(bytes: [StreamID.exit.rawValue, UInt8(truncatingIfNeeded: code)])))
                        sink.yield(.end)
                        // Not cancelled: a stdin feed still reading the body must not cut the
                        // connection's input under the answer. It ends with the body, or when the
                        // connection closes after the answer (the edge does not wait for a body
                        // someone else is reading).
                        return true
                    case .error(let kind, let message):
                        // Before `started`: the command could not start, the client's mistake
                        // unless the agent failed. After it, the session is cut short.
                        throw HobError(kind == .failed ? .internalError : .invalidArgument, message)
                    default:
                        continue
                    }
                }
                group.cancelAll()
                return false
            }
        }
    }

    /// The request body as the command's stdin, as it arrives, then EOF. Once the agent is gone
    /// (the command exited) the rest of the body is read and dropped; a body that fails (the client
    /// left) just ends the input.
    static func feed(_ body: RequestBody, to agent: AgentWriter) async {
        var agentGone = false
        do {
            for try await var piece in body {
                while !agentGone, piece.readableBytes > 0 {
                    let chunk = piece.readBytes(length: min(piece.readableBytes, 32768)) ?? []
                    do { try await agent.send(.stdin(chunk)) } catch { agentGone = true }
                }
            }
            if !agentGone { try? await agent.send(.stdinEOF) }
        } catch {
            return
        }
    }
}

/// Resumes the handler waiting for a session to start, once (later results are dropped).
final class StartSignal: Sendable {
    private let continuation: Mutex<CheckedContinuation<Void, any Error>?>

    init(_ continuation: CheckedContinuation<Void, any Error>) { self.continuation = Mutex(continuation) }

    func resume(_ result: Result<Void, any Error>) {
        let waiting = continuation.withLock { c in
            defer { c = nil }
            return c
        }
        waiting?.resume(with: result)
    }
}

/// Backpressure between a producer and the response body: the producer takes a credit per chunk
/// and the body gives it back once the chunk is written. Closing wakes the producer with false.
final class OutputCredits: Sendable {
    private struct State {
        var available: Int
        var waiter: CheckedContinuation<Bool, Never>?
        var closed = false
        var consumed = false
        var onClose: (@Sendable () -> Void)?
    }
    private let state: Mutex<State>

    init(_ count: Int) { state = Mutex(State(available: count)) }

    /// A credit, waiting for one if none is free; false once closed.
    func take() async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let ready: Bool? = state.withLock { s in
                if s.closed { return false }
                if s.available > 0 {
                    s.available -= 1
                    return true
                }
                s.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    func give() {
        let waiter: CheckedContinuation<Bool, Never>? = state.withLock { s in
            if let w = s.waiter {
                s.waiter = nil
                return w
            }
            s.available += 1
            return nil
        }
        waiter?.resume(returning: true)
    }

    func close() {
        let (waiter, onClose) = state.withLock { s in
            s.closed = true
            defer {
                s.waiter = nil
                s.onClose = nil
            }
            return (s.waiter, s.onClose)
        }
        waiter?.resume(returning: false)
        onClose?()
    }

    /// Runs `action` when the credits close (at once if they already are).
    func onClose(_ action: @escaping @Sendable () -> Void) {
        let closed = state.withLock { s in
            if !s.closed { s.onClose = action }
            return s.closed
        }
        if closed { action() }
    }

    func markConsumed() { state.withLock { $0.consumed = true } }

    func closeUnlessConsumed() {
        if !state.withLock({ $0.consumed }) { close() }
    }
}
