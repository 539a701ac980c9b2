// The exec options of issue 12 as pure values: `max_run_after_disconnect` and the kill request.
import Foundation
import HobAPI
import HobCore
import Testing

@testable import HobServer

@Suite("Exec: max_run_after_disconnect")
struct RunAfterDisconnectTests {
    @Test("durations as the SDKs write them, a bare number is seconds")
    func durations() throws {
        #expect(try RunAfterDisconnect.parse("10s") == .limit(.seconds(10)))
        #expect(try RunAfterDisconnect.parse("600") == .limit(.seconds(600)))
        #expect(try RunAfterDisconnect.parse("1m30s") == .limit(.seconds(90)))
        #expect(try RunAfterDisconnect.parse("200ms") == .limit(.milliseconds(200)))
    }

    @Test("0 means forever; absent means the default for the TTY mode")
    func zeroAndAbsent() throws {
        #expect(try RunAfterDisconnect.parse("0") == .forever)
        #expect(try RunAfterDisconnect.parse("0s") == .forever)
        #expect(try RunAfterDisconnect.parse(nil) == nil)
        #expect(RunAfterDisconnect.resolved(nil, tty: true) == .forever)
        #expect(RunAfterDisconnect.resolved(nil, tty: false) == .limit(.seconds(10)))
        #expect(RunAfterDisconnect.resolved(.limit(.seconds(3)), tty: true) == .limit(.seconds(3)))
    }

    @Test("anything else is refused", arguments: ["soon", "-5s", "10x", "s"])
    func refused(raw: String) {
        #expect(throws: HobError.self) { try RunAfterDisconnect.parse(raw) }
    }
}

@Suite("Exec: kill request")
struct ExecKillRequestTests {
    @Test("defaults: SIGTERM, wait 10 s")
    func defaults() throws {
        let kill = try ExecKillRequest.parse(query: FormQuery(nil), body: nil)
        #expect(kill == ExecKillRequest(signalName: "SIGTERM", signal: 15, timeout: .seconds(10)))
    }

    @Test("the Go SDK's query: signal name and a zero timeout")
    func goQuery() throws {
        let kill = try ExecKillRequest.parse(query: FormQuery("signal=INT&timeout=0s"), body: nil)
        #expect(kill == ExecKillRequest(signalName: "SIGINT", signal: 2, timeout: .zero))
    }

    @Test("sprites-py's JSON body: SIG-prefixed name and a timeout in seconds; the body wins over the query")
    func pythonBody() throws {
        let body = try JSONDecoder().decode(ExecKillRequest.KillBody.self, from: Data(#"{"signal":"SIGKILL","timeout":3}"#.utf8))
        let kill = try ExecKillRequest.parse(query: FormQuery("signal=HUP"), body: body)
        #expect(kill == ExecKillRequest(signalName: "SIGKILL", signal: 9, timeout: .seconds(3)))
    }

    @Test("a timeout may also be a duration string in the body")
    func durationInBody() throws {
        let body = try JSONDecoder().decode(ExecKillRequest.KillBody.self, from: Data(#"{"timeout":"1500ms"}"#.utf8))
        #expect(try ExecKillRequest.parse(query: FormQuery(nil), body: body).timeout == .milliseconds(1500))
    }

    @Test("unknown signals and over-long or malformed timeouts are refused", arguments: ["signal=BOGUS", "timeout=1h", "timeout=later"])
    func refused(query: String) {
        #expect(throws: HobError.self) { try ExecKillRequest.parse(query: FormQuery(query), body: nil) }
    }
}
