// hob-init's agent as the fake runtime's sprites have it: a real unix socket in a temporary
// directory, served by a thread, speaking the real protocol (HobAgentProtocol). It answers what
// the Fleet asks an agent (ping, sessions, services, shutdown) and records every request.
import Foundation
import Glibc
import HobAgentProtocol
import HobCore
import Synchronization

final class InProcessAgent: Sendable {
    let socketPath: String
    private let listener: Int32
    private let state = Mutex(State())

    private struct State {
        var requests: [AgentRequest] = []
        var sessions: [SessionSummary] = []
        var closed = false
    }

    init(directory: String, name: String) throws {
        socketPath = "\(directory)/\(name).sock"
        unlink(socketPath)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let path = Array(socketPath.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in path.enumerated() where i < raw.count - 1 { raw[i] = b } }
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard fd >= 0, bound == 0, listen(fd, 64) == 0 else {
            let code = POSIXErrorCode(rawValue: errno) ?? .EIO
            if fd >= 0 { Glibc.close(fd) }
            throw POSIXError(code)
        }
        listener = fd
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    var endpoint: AgentEndpoint { AgentEndpoint(socketPath: socketPath) }
    var requests: [AgentRequest] { state.withLock { $0.requests } }

    /// Sessions `listSessions` reports from now on.
    func setSessions(_ sessions: [SessionSummary]) { state.withLock { $0.sessions = sessions } }

    /// Stops accepting; connections refused from now on (the sprite's init is gone).
    func close() {
        let wasOpen = state.withLock { s -> Bool in
            defer { s.closed = true }
            return !s.closed
        }
        guard wasOpen else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        Glibc.close(listener)
        unlink(socketPath)
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            Thread.detachNewThread { [self] in serve(client) }
        }
    }

    private func serve(_ client: Int32) {
        defer { Glibc.close(client) }
        var decoder = FrameDecoder()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            while let frame = try? decoder.next() {
                guard let request = try? AgentRequest(kind: frame.kind, payload: frame.payload) else { return }
                for event in answer(request) { guard send(client, event.frame()) else { return } }
            }
            let n = read(client, &buffer, buffer.count)
            guard n > 0 else { return }
            decoder.append(buffer[0..<n])
        }
    }

    private func answer(_ request: AgentRequest) -> [AgentEvent] {
        let sessions = state.withLock { s -> [SessionSummary] in
            s.requests.append(request)
            return s.sessions
        }
        switch request {
        case .ping: return [.pong]
        case .listSessions: return [.sessions(sessions)]
        case .listServices: return [.services([])]
        case .setServices, .shutdown, .setPrivileges, .mountCheckpoints, .kill, .signalService: return [.ok]
        case .exec: return [.started(sessionID: 1, tty: false), .exit(code: 0)]
        default: return [.error(.invalid, "the fake agent does not answer \(request)")]
        }
    }

    private func send(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { return false }
            offset += n
        }
        return true
    }
}
