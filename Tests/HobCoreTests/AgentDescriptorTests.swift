import CHobShim
import Foundation
import Glibc
import HobAgentProtocol
import HobCore
import Testing

/// A stand-in for hob-init's agent socket: accepts one connection, reads one request frame with
/// its descriptors (recvmsg, up to 8 per call, as hob-init does), then behaves as `reply` says.
final class FakeAgent: @unchecked Sendable {
    enum Reply {
        case frame([UInt8])
        case silence
    }

    let directory: String
    let socketPath: String
    private let listener: Int32
    private let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var received: (request: AgentRequest?, fds: [Int32]) = (nil, [])

    init(reply: Reply) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("agent-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        socketPath = "\(directory)/agent.sock"
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        listener = fd
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let path = Array(socketPath.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in path.enumerated() { raw[i] = b } }
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(fd, 4) == 0 else { throw POSIXError(.EADDRINUSE) }
        Thread.detachNewThread { [self] in
            let client = accept(fd, nil, nil)
            if client >= 0 { serve(client, reply: reply) }
            done.signal()
        }
    }

    deinit {
        close(listener)
        for fd in received.fds { close(fd) }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// What the agent received; waits for the exchange to finish.
    var request: (request: AgentRequest?, fds: [Int32]) {
        done.wait()
        done.signal()
        lock.lock()
        defer { lock.unlock() }
        return received
    }

    private func serve(_ client: Int32, reply: Reply) {
        defer { close(client) }
        var decoder = FrameDecoder()
        var fds: [Int32] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        var fdBuffer = [Int32](repeating: -1, count: 8)
        while true {
            var nfds: Int32 = 0
            let n = buffer.withUnsafeMutableBytes { raw in
                fdBuffer.withUnsafeMutableBufferPointer { hob_recv_fds(client, raw.baseAddress, raw.count, $0.baseAddress, 8, &nfds) }
            }
            fds += fdBuffer[0..<Int(nfds)]
            guard n > 0 else { break }
            decoder.append(buffer[0..<n])
            if let frame = try? decoder.next() {
                lock.lock()
                received = (try? AgentRequest(kind: frame.kind, payload: frame.payload), fds)
                lock.unlock()
                break
            }
        }
        switch reply {
        case .frame(let bytes):
            _ = bytes.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        case .silence:
            usleep(1_500_000)
        }
    }
}

/// A pipe whose read end holds `byte`: the receiver proves it got this very descriptor by reading it.
func markedPipe(_ byte: UInt8) -> (read: Int32, write: Int32) {
    var p: [Int32] = [-1, -1]
    pipe(&p)
    var b = byte
    _ = write(p[1], &b, 1)
    return (p[0], p[1])
}

@Suite("Agent requests with descriptors", .serialized)
struct AgentDescriptorTests {
    @Test("descriptors arrive with their frame, in order, more than eight included; the caller keeps its own")
    func descriptorsInOrder() async throws {
        let agent = try FakeAgent(reply: .frame(AgentEvent.ok.frame()))
        let pipes = (0..<11).map { markedPipe(UInt8($0)) }
        defer { for p in pipes { close(p.read); close(p.write) } }
        let names = (0..<11).map { "v\($0)" }
        let reply = try await AgentClient.request(
            socketPath: agent.socketPath, .mountCheckpoints(names: names), fds: pipes.map(\.read), timeout: .seconds(5))
        #expect(reply == .ok)

        let received = agent.request
        #expect(received.request == .mountCheckpoints(names: names))
        #expect(received.fds.count == 11)
        for (i, fd) in received.fds.enumerated() {
            var b: UInt8 = 0xff
            #expect(read(fd, &b, 1) == 1)
            #expect(b == UInt8(i))
        }
        // Ours are still open.
        #expect(fcntl(pipes[0].read, F_GETFD) >= 0)
    }

    @Test("an error reply comes back as the event")
    func errorReply() async throws {
        let agent = try FakeAgent(reply: .frame(AgentEvent.error(.failed, "mount checkpoints: mkdir: Read-only file system").frame()))
        let p = markedPipe(1)
        defer { close(p.read); close(p.write) }
        let reply = try await AgentClient.request(socketPath: agent.socketPath, .mountCheckpoints(names: ["v1"]), fds: [p.read])
        #expect(reply == .error(.failed, "mount checkpoints: mkdir: Read-only file system"))
    }

    @Test("an agent that does not answer is given up at the deadline")
    func deadline() async throws {
        let agent = try FakeAgent(reply: .silence)
        let started = ContinuousClock.now
        await #expect(throws: HobError.self) {
            try await AgentClient.request(socketPath: agent.socketPath, .mountCheckpoints(names: []), fds: [], timeout: .milliseconds(300))
        }
        #expect(ContinuousClock.now - started < .seconds(1))
    }

    @Test("a malformed reply is an error, not an event")
    func malformedReply() async throws {
        let agent = try FakeAgent(reply: .frame([0, 0, 0, 1, 0x7f]))
        await #expect(throws: HobError.self) {
            try await AgentClient.request(socketPath: agent.socketPath, .mountCheckpoints(names: []), fds: [])
        }
    }

    @Test("the descriptor count must match the request")
    func countMismatch() async {
        await #expect(throws: HobError.self) {
            try await AgentClient.request(socketPath: "/nonexistent/agent.sock", .mountCheckpoints(names: ["v1"]), fds: [])
        }
    }

    @Test("a missing agent socket is unavailable")
    func missingSocket() async {
        let error = await #expect(throws: HobError.self) {
            try await AgentClient.request(socketPath: "/nonexistent/agent.sock", .ping, fds: [])
        }
        #expect(error?.code == .unavailable)
    }
}
