// The daemon's side of the hob-init protocol: a connection to a sprite's agent.
// The agent runs inside the sprite, so root there can stall or corrupt it: every answer the
// daemon waits for has a deadline, and every frame is validated (HobAgentProtocol).
//
// Where the agent listens is the runtime's business: it hands out an `AgentEndpoint` with each
// running sprite, and everything above the runtime talks to the agent through that. Two
// transports: a unix socket on the host (namespace runtime), and TCP in the sprite's network
// with a per-boot token (gVisor, where a host socket inside the sandbox would make checkpoints
// fail): every TCP connection opens with `hello(token:)`, and the agent's `ok` is checked before
// the first event reaches the caller.
import Glibc
import HobAgentProtocol
import HobOS
import NIOCore
import NIOPosix

/// Agent events decoded from a connection's byte stream.
public struct AgentEvents: AsyncSequence, Sendable {
    public typealias Element = AgentEvent
    let inbound: NIOAsyncChannelInboundStream<ByteBuffer>
    /// The connection opened with a hello whose answer comes first: it must be `ok` and is not
    /// handed out. The hello is pipelined with the caller's first request, saving a round trip;
    /// an agent that refuses closes the connection before reading that request.
    var answersHello = false

    public struct AsyncIterator: AsyncIteratorProtocol {
        var bytes: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
        var decoder = FrameDecoder()
        var awaitingHelloAnswer: Bool

        public mutating func next() async throws -> AgentEvent? {
            if awaitingHelloAnswer {
                awaitingHelloAnswer = false
                let answer: AgentEvent?
                do {
                    answer = try await nextEvent()
                } catch {
                    throw HobError(.unavailable, "the sprite's agent refused the connection", cause: error)
                }
                guard answer == .ok else { throw HobError(.unavailable, "the sprite's agent refused the connection") }
            }
            return try await nextEvent()
        }

        private mutating func nextEvent() async throws -> AgentEvent? {
            while true {
                if let frame = try decoder.next() { return try AgentEvent(kind: frame.kind, payload: frame.payload) }
                guard let chunk = try await bytes.next() else { return nil }
                decoder.append(chunk.readableBytesView)
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(bytes: inbound.makeAsyncIterator(), awaitingHelloAnswer: answersHello)
    }
}

/// Sends requests to the agent.
public struct AgentWriter: Sendable {
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>

    public func send(_ request: AgentRequest) async throws {
        try await outbound.write(ByteBuffer(bytes: request.frame()))
    }
}

/// The way to one running sprite's agent, handed out by its runtime (`RunningSprite.agent`).
public struct AgentEndpoint: Sendable, Equatable, CustomStringConvertible {
    package enum Transport: Sendable, Equatable {
        /// A unix stream socket on the host that the agent accepts connections on.
        case unix(path: String)
        /// TCP to the agent in the sprite's network; every connection opens with the token.
        case tcp(host: String, port: Int, token: RedactedToken)
    }

    /// A token that never shows in a description or a log line.
    package struct RedactedToken: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
        package let value: String
        package var description: String { "<token>" }
        package var debugDescription: String { "<token>" }
    }

    package let transport: Transport

    package init(socketPath: String) { transport = .unix(path: socketPath) }

    /// The agent of a sprite that listens on TCP (`hob-init gvisor`), reached with `token`.
    package init(host: String, port: Int, token: String) {
        transport = .tcp(host: host, port: port, token: RedactedToken(value: token))
    }

    public var description: String {
        switch transport {
        case .unix(let path): "unix:\(path)"
        case .tcp(let host, let port, _): "tcp:\(host):\(port)"
        }
    }

    /// Connects to the agent and runs `body`; the connection closes afterwards.
    public func withConnection<R: Sendable>(_ body: (AgentEvents, AgentWriter) async throws -> R) async throws -> R {
        try await AgentClient.withConnection(to: transport, body)
    }

    /// One request, one answer (list, kill, ping, shutdown), within `timeout`.
    public func request(_ request: AgentRequest, timeout: Duration = .seconds(5)) async throws -> AgentEvent {
        try await AgentClient.request(to: transport, request, timeout: timeout)
    }

    /// One request that carries descriptors, one answer, within `timeout`; the caller keeps `fds`.
    /// Unix sockets only: descriptors cannot cross TCP.
    package func request(_ request: AgentRequest, fds: [Int32], timeout: Duration = .seconds(10)) async throws -> AgentEvent {
        guard case .unix(let socketPath) = transport else {
            throw HobError(.unsupported, "descriptors cannot be passed to a sprite's agent over TCP (\(self))")
        }
        return try await AgentClient.request(socketPath: socketPath, request, fds: fds, timeout: timeout)
    }
}

package enum AgentClient {
    /// Connects to the agent at `socketPath` and runs `body`; the connection closes afterwards.
    package static func withConnection<R: Sendable>(
        socketPath: String, _ body: (AgentEvents, AgentWriter) async throws -> R
    ) async throws -> R {
        try await withConnection(to: .unix(path: socketPath), body)
    }

    /// Connects over `transport` and runs `body`; the connection closes afterwards. Over TCP the
    /// hello goes out first and its answer is checked by `AgentEvents`.
    static func withConnection<R: Sendable>(
        to transport: AgentEndpoint.Transport, _ body: (AgentEvents, AgentWriter) async throws -> R
    ) async throws -> R {
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connectTimeout(.seconds(5))
            switch transport {
            case .unix(let path):
                channel = try await bootstrap.connect(unixDomainSocketPath: path) { channel in
                    channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
                }
            case .tcp(let host, let port, _):
                channel = try await bootstrap.connect(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
                }
            }
        } catch {
            throw HobError(.unavailable, "the sprite's agent is not reachable", cause: error)
        }
        return try await channel.executeThenClose { inbound, outbound in
            var events = AgentEvents(inbound: inbound)
            let writer = AgentWriter(outbound: outbound)
            if case .tcp(_, _, let token) = transport {
                try await writer.send(.hello(token: token.value))
                events.answersHello = true
            }
            return try await body(events, writer)
        }
    }

    /// One request, one answer (list, kill, ping, shutdown), within `timeout`.
    package static func request(
        socketPath: String, _ request: AgentRequest, timeout: Duration = .seconds(5)
    ) async throws -> AgentEvent {
        try await self.request(to: .unix(path: socketPath), request, timeout: timeout)
    }

    /// One request, one answer over `transport`, within `timeout`.
    static func request(
        to transport: AgentEndpoint.Transport, _ request: AgentRequest, timeout: Duration = .seconds(5)
    ) async throws -> AgentEvent {
        try await withThrowingTaskGroup(of: AgentEvent.self) { group in
            group.addTask {
                try await withConnection(to: transport) { events, writer in
                    try await writer.send(request)
                    for try await event in events { return event }
                    throw HobError(.unavailable, "the sprite's agent closed the connection")
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw HobError(.unavailable, "the sprite's agent did not answer within \(timeout)")
            }
            defer { group.cancelAll() }
            guard let answer = try await group.next() else { throw HobError(.unavailable, "the sprite's agent did not answer") }
            return answer
        }
    }
    /// Largest reply `request(socketPath:_:fds:timeout:)` reads: its requests are answered with
    /// `ok` or a short error, so anything bigger is a misbehaving agent.
    static let maxDescriptorReplyBytes = 1 << 20

    /// One request that carries descriptors (SCM_RIGHTS), one answer, within `timeout`. NIO cannot
    /// pass descriptors, so this is a blocking exchange on its own connection, run through
    /// `offload`. The kernel sends duplicates: the caller keeps ownership of `fds`.
    package static func request(
        socketPath: String, _ request: AgentRequest, fds: [Int32], timeout: Duration = .seconds(10)
    ) async throws -> AgentEvent {
        guard fds.count == request.descriptorCount else {
            throw HobError(.internalError, "agent request needs \(request.descriptorCount) descriptors, got \(fds.count)")
        }
        return try await offload { try exchange(socketPath: socketPath, request, fds: fds, timeout: timeout) }
    }

    /// The blocking body of `request(socketPath:_:fds:timeout:)`.
    static func exchange(socketPath: String, _ request: AgentRequest, fds: [Int32], timeout: Duration) throws -> AgentEvent {
        let stream: UnixStream
        do {
            stream = try UnixStream.connect(to: socketPath, deadline: .now + timeout)
            try stream.send(request.frame(), fds: fds)
        } catch {
            throw HobError(.unavailable, "the sprite's agent is not reachable", cause: error)
        }
        var decoder = FrameDecoder()
        var received = 0
        while true {
            do {
                if let frame = try decoder.next() { return try AgentEvent(kind: frame.kind, payload: frame.payload) }
            } catch {
                throw HobError(.internalError, "the sprite's agent sent a malformed reply", cause: error)
            }
            let chunk: [UInt8]
            do {
                chunk = try stream.receive(upTo: 65536)
            } catch where error.errno == ETIMEDOUT {
                throw HobError(.unavailable, "the sprite's agent did not answer within \(timeout)")
            } catch {
                throw HobError(.unavailable, "read the reply of the sprite's agent", cause: error)
            }
            guard !chunk.isEmpty else { throw HobError(.unavailable, "the sprite's agent closed the connection") }
            received += chunk.count
            guard received <= maxDescriptorReplyBytes else {
                throw HobError(.internalError, "the sprite's agent sent a reply larger than \(maxDescriptorReplyBytes) bytes")
            }
            decoder.append(chunk)
        }
    }
}
