// `POST /v1/sprites/{name}/exec/{id}/kill`: signal a session and stream, as NDJSON, how it ends (OpenAPI
// ExecKill*Event): `signal`, then `exited` or `timeout` + `killed` (KILL after the timeout) or `error`, then
// `complete` with the exit status. `timeout=0` (the Go SDK's in-band signal fallback) only delivers the signal: the
// stream is the `signal` line alone, and nothing is escalated. Parameters come from the query (Go) or a JSON body
// (Python: `{"signal":"SIGTERM","timeout":10}`).
import Foundation
import HobAPI
import HobAgentProtocol
import HobCore
import Hummingbird

/// One line of the kill stream.
struct ExecKillLine: Encodable, Sendable {
    var type: String
    var message: String?
    var signal: String?
    var pid: Int?
    var exitCode: Int?

    enum CodingKeys: String, CodingKey {
        case type, message, signal, pid
        case exitCode = "exit_code"
    }
}

/// The kill request: signal and how long to wait for the exit.
struct ExecKillRequest: Equatable {
    static let defaultTimeout = Duration.seconds(10)
    static let maxTimeout = Duration.seconds(300)
    /// After KILL, how long to wait for hob-init to report the exit.
    static let killWait = Duration.seconds(5)

    var signalName: String
    var signal: Int32
    var timeout: Duration

    /// `signal` and `timeout` from the body, else the query; body timeouts may be numbers (seconds) or durations.
    static func parse(query: FormQuery, body: KillBody?) throws -> ExecKillRequest {
        let rawSignal = body?.signal ?? query["signal"] ?? "TERM"
        guard let number = SignalName.number(rawSignal), let name = SignalName.numbers.first(where: { $0.value == number })?.key else {
            throw HobError(.invalidArgument, "unknown signal \"\(rawSignal)\": use TERM, INT, HUP, KILL, QUIT, USR1, USR2 (or SIGTERM, 15)")
        }
        let rawTimeout = body?.timeout?.text ?? query["timeout"]
        var timeout = defaultTimeout
        if let rawTimeout, !rawTimeout.isEmpty {
            guard let ms = DurationText.milliseconds(rawTimeout), .milliseconds(ms) <= maxTimeout else {
                throw HobError(.invalidArgument, "timeout must be a duration such as 10s or 0s, at most 5m; got \"\(rawTimeout)\"")
            }
            timeout = .milliseconds(ms)
        }
        return ExecKillRequest(signalName: "SIG" + name, signal: number, timeout: timeout)
    }

    /// The JSON body sprites-py sends.
    struct KillBody: Decodable {
        var signal: String?
        var timeout: NumberOrText?
    }

    /// A JSON number (seconds) or string (a duration).
    struct NumberOrText: Decodable {
        var text: String
        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let n = try? c.decode(Double.self) { text = String(n) } else { text = try c.decode(String.self) }
        }
    }
}

extension ExecRoutes {
    func kill(name: String, rawID: String, request: Request) async throws -> Response {
        let id = try sessionID(rawID)
        let body = try await decodeBodyIfPresent(ExecKillRequest.KillBody.self, from: request, limit: 4096)
        let kill = try ExecKillRequest.parse(query: FormQuery(request.uri.query), body: body)
        guard let running = try await fleet.awake(name) else {
            throw HobError(.notFound, "session \(id) not found in sprite \(name)")
        }
        let agent = running.agent
        let notFound = HobError(.notFound, "session \(id) not found in sprite \(name)")
        switch try await agent.request(.kill(sessionID: id, signal: kill.signal)) {
        case .ok: break
        case .gone: throw HobError(.gone, "session \(id) has already exited")
        case .error(.notFound, _): throw notFound
        case let other: throw HobError(.internalError, "unexpected agent reply \(other)")
        }
        let signalled = ExecKillLine(
            type: "signal", message: "Signaling \(kill.signalName) to process group \(id)", signal: kill.signalName, pid: Int(id))
        guard kill.timeout > .zero else {
            return ndjsonResponse({ _ in signalled }, failure: Self.killError)
        }
        return ndjsonResponse({ emit in
            await emit(signalled)
            if let code = try await Self.exitStatus(agent: agent, session: id, within: kill.timeout) {
                await emit(ExecKillLine(type: "exited", message: "Process exited"))
                return ExecKillLine(type: "complete", exitCode: code)
            }
            await emit(ExecKillLine(type: "timeout", message: "Process did not exit within \(kill.timeout); sending SIGKILL"))
            _ = try await agent.request(.kill(sessionID: id, signal: SIGKILL))
            guard let code = try await Self.exitStatus(agent: agent, session: id, within: ExecKillRequest.killWait) else {
                return Self.killError("process group \(id) did not exit after SIGKILL")
            }
            await emit(ExecKillLine(type: "killed", message: "Process killed"))
            return ExecKillLine(type: "complete", exitCode: code)
        }, failure: Self.killError)
    }

    static func killError(_ message: String) -> ExecKillLine { ExecKillLine(type: "error", message: message) }

    /// The session's exit status once it has exited (attaching shows it: hob-init keeps exited sessions for a
    /// while and ends an attach with the exit), or nil if it is still running after `within`.
    static func exitStatus(agent: AgentEndpoint, session: UInt32, within: Duration) async throws -> Int? {
        try await withThrowingTaskGroup(of: Int?.self) { group in
            group.addTask {
                try await agent.withConnection { events, agent in
                    try await agent.send(.attach(sessionID: session))
                    for try await event in events {
                        switch event {
                        case .exit(let code): return Int(code)
                        case .error(_, let message): throw HobError(.internalError, "watching session \(session): \(message)")
                        default: continue
                        }
                    }
                    throw HobError(.unavailable, "the sprite's agent closed the connection")
                }
            }
            group.addTask {
                try await Task.sleep(for: within)
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }
}
