import HobAgentProtocol
import Testing

@Suite("Agent protocol")
struct AgentProtocolTests {
    static let requests: [AgentRequest] = [
        .exec(ExecRequest(argv: ["sh", "-c", "echo ü"], environment: ["A=1"], directory: "/tmp", tty: true, rows: 50, cols: 132, stdin: false)),
        .attach(sessionID: 42), .stdin([0, 1, 255]), .stdinEOF, .resize(rows: 1, cols: 2), .signal(15), .listSessions,
        .kill(sessionID: 7, signal: 9), .ping, .shutdown(graceMs: 1500),
        .mountCheckpoints(names: ["v1", "v2", "v10"]), .mountCheckpoints(names: []),
        .setServices([
            ServiceSpec(name: "web", argv: ["python3", "-m", "http.server"], environment: ["A=1"], directory: "/srv", needs: ["db"], wanted: true, stopGraceMs: 5000, startNow: true),
            ServiceSpec(name: "db", argv: ["pg"], environment: [], wanted: false),
        ]),
        .setServices([]), .followService("web"), .listServices, .signalService("web", 1),
        .setPrivileges(SpritePrivileges(profile: .privileged, noNewPrivileges: true, devices: ["fuse", "net/tun"])),
        .setPrivileges(.standard), .hello(token: String(repeating: "ab", count: 32)), .hello(token: ""),
    ]

    static let events: [AgentEvent] = [
        .started(sessionID: 9, tty: false), .stdout([104, 105]), .stderr([]), .exit(code: 137),
        .error(.notFound, "session 3 not found"),
        .sessions([SessionSummary(id: 3, command: "bash -l", workdir: "/home/sprite", tty: true, createdMs: 1, lastActivityMs: 2, isActive: true, exited: false)]),
        .ok, .gone, .pong,
        .services([ServiceStatus(name: "web", phase: .failed, pid: 0, startedAtMs: 5, nextRestartMs: 9, restartCount: 3, error: "exited with status 1")]),
        .serviceEvent(ServiceEvent(kind: .exit, data: [], exitCode: 137, timestampMs: 1_700_000_000_000)),
        .serviceEvent(ServiceEvent(kind: .stdout, data: [104, 105], timestampMs: 1)),
    ]

    @Test("service names become file names: only safe ones pass")
    func serviceNames() {
        for good in ["web", "db-1", "A.b_c", String(repeating: "x", count: 64)] { #expect(serviceNameProblem(good) == nil, "\(good)") }
        for bad in ["", ".hidden", "-x", "a/b", "..", "a b", "ü", String(repeating: "x", count: 65)] { #expect(serviceNameProblem(bad) != nil, "\(bad)") }
    }

    @Test("every request survives encoding", arguments: requests)
    func requestRoundTrip(_ request: AgentRequest) throws {
        var decoder = FrameDecoder()
        decoder.append(request.frame())
        let frame = try #require(try decoder.next())
        #expect(try AgentRequest(kind: frame.kind, payload: frame.payload) == request)
    }

    @Test("every event survives encoding", arguments: events)
    func eventRoundTrip(_ event: AgentEvent) throws {
        var decoder = FrameDecoder()
        decoder.append(event.frame())
        let frame = try #require(try decoder.next())
        #expect(try AgentEvent(kind: frame.kind, payload: frame.payload) == event)
    }

    @Test("frames split across reads are reassembled in order")
    func splitFrames() throws {
        let bytes = AgentEvent.stdout([1, 2, 3]).frame() + AgentEvent.exit(code: 0).frame()
        var decoder = FrameDecoder()
        var decoded: [AgentEvent] = []
        for byte in bytes {
            decoder.append([byte])
            while let f = try decoder.next() { decoded.append(try AgentEvent(kind: f.kind, payload: f.payload)) }
        }
        #expect(decoded == [.stdout([1, 2, 3]), .exit(code: 0)])
    }

    @Test("an absurd frame length is rejected, not buffered")
    func hugeLength() {
        var decoder = FrameDecoder()
        decoder.append([0xff, 0xff, 0xff, 0xff, 1])
        #expect(throws: WireError.self) { try decoder.next() }
    }

    @Test("truncated payloads and unknown kinds are errors")
    func malformed() {
        #expect(throws: WireError.self) { try AgentRequest(kind: 1, payload: [0, 0, 0, 5]) }
        #expect(throws: WireError.self) { try AgentRequest(kind: 99, payload: []) }
        #expect(throws: WireError.self) { try AgentEvent(kind: 0x84, payload: [0, 0, 0, 0, 9]) }
    }

    @Test("request kinds keep their wire numbers; new kinds are appended")
    func stableKinds() {
        #expect(AgentRequest.ping.frame() == [0, 0, 0, 1, 9])
        #expect(AgentRequest.shutdown(graceMs: 0).frame()[4] == 10)
        #expect(AgentRequest.mountCheckpoints(names: []).frame() == [0, 0, 0, 5, 11, 0, 0, 0, 0])
        #expect(AgentRequest.hello(token: "ab").frame() == [0, 0, 0, 7, 17, 0, 0, 0, 2, 0x61, 0x62])
    }

    @Test("a hello with a token longer than any agent accepts is rejected")
    func oversizedHello() throws {
        var decoder = FrameDecoder()
        decoder.append(AgentRequest.hello(token: String(repeating: "a", count: AgentToken.maxLength + 1)).frame())
        let frame = try #require(try decoder.next())
        #expect(throws: WireError.self) { try AgentRequest(kind: frame.kind, payload: frame.payload) }
    }

    @Test("a checkpoint mount request travels with one descriptor per name")
    func checkpointDescriptors() {
        #expect(AgentRequest.mountCheckpoints(names: ["v1", "v2"]).descriptorCount == 2)
        #expect(AgentRequest.ping.descriptorCount == 0)
    }

    @Test("a checkpoint mount request naming too many checkpoints is rejected")
    func tooManyCheckpoints() throws {
        let names = (0...AgentRequest.maxCheckpointMounts).map { "v\($0)" }
        var decoder = FrameDecoder()
        decoder.append(AgentRequest.mountCheckpoints(names: names).frame())
        let frame = try #require(try decoder.next())
        #expect(throws: WireError.self) { try AgentRequest(kind: frame.kind, payload: frame.payload) }
    }

    @Test(
        "checkpoint names must be single path components",
        arguments: ["", ".", "..", "a/b", "/v1", "v1\0", String(repeating: "x", count: 65)])
    func badCheckpointNames(_ name: String) {
        #expect(checkpointMountNameProblem(name) != nil)
    }

    @Test("ordinary checkpoint names are accepted", arguments: ["v0", "v12", "auto-20260712", "...", String(repeating: "x", count: 64)])
    func goodCheckpointNames(_ name: String) {
        #expect(checkpointMountNameProblem(name) == nil)
    }

    @Test("boot configuration round trip")
    func bootConfig() throws {
        let config = BootConfig(hostname: "demo", address: "10.77.0.2", prefixLength: 16, gateway: "10.77.0.1", nameservers: ["10.255.255.53"])
        #expect(try BootConfig(decoding: config.encoded()) == config)
    }
}
