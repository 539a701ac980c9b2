// The daemon's side of the hob-init protocol: a connection to a sprite's agent.
// The agent runs inside the sprite, so root there can stall or corrupt it: every answer the
// daemon waits for has a deadline, and every frame is validated (HobAgentProtocol).
//
// Where the agent listens is the runtime's business: it hands out an `AgentEndpoint` with each
// running sprite, and everything above the runtime talks to the agent through that.
import Glibc
import HobAgentProtocol
import HobOS
import NIOCore
import NIOPosix

/// Agent events decoded from a connection's byte stream.
public struct AgentEvents: AsyncSequence, Sendable {
    public typealias Element = AgentEvent
    let inbound: NIOAsyncChannelInboundStream<ByteBuffer>

    public struct AsyncIterator: AsyncIteratorProtocol {
        var bytes: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
        var decoder = FrameDecoder()

        public mutating func next() async throws -> AgentEvent? {
            while true {
                if let frame = try decoder.next() { return try AgentEvent(kind: frame.kind, payload: frame.payload) }
                guard let chunk = try await bytes.next() else { return nil }
                decoder.append(chunk.readableBytesView)
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(bytes: inbound.makeAsyncIterator()) }
}

/// Sends requests to the agent.
public struct AgentWriter: Sendable {
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>

    public func send(_ request: AgentRequest) async throws {
        try await outbound.write(ByteBuffer(bytes: request.frame()))
    }
}

/// The way to one running sprite's agent, handed out by its runtime (`RunningSprite.agent`).
public struct AgentEndpoint: Sendable, Equatable {
    /// A unix stream socket on the host that the agent accepts connections on.
    let socketPath: String

    package init(socketPath: String) { self.socketPath = socketPath }

    /// Connects to the agent and runs `body`; the connection closes afterwards.
    public func withConnection<R: Sendable>(_ body: (AgentEvents, AgentWriter) async throws -> R) async throws -> R {
        try await AgentClient.withConnection(socketPath: socketPath, body)
    }

    /// One request, one answer (list, kill, ping, shutdown), within `timeout`.
    public func request(_ request: AgentRequest, timeout: Duration = .seconds(5)) async throws -> AgentEvent {
        try await AgentClient.request(socketPath: socketPath, request, timeout: timeout)
    }

    /// One request that carries descriptors, one answer, within `timeout`; the caller keeps `fds`.
    package func request(_ request: AgentRequest, fds: [Int32], timeout: Duration = .seconds(10)) async throws -> AgentEvent {
        try await AgentClient.request(socketPath: socketPath, request, fds: fds, timeout: timeout)
    }
}

package enum AgentClient {
    /// Connects to the agent at `socketPath` and runs `body`; the connection closes afterwards.
    package static func withConnection<R: Sendable>(
        socketPath: String, _ body: (AgentEvents, AgentWriter) async throws -> R
    ) async throws -> R {
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(5))
                .connect(unixDomainSocketPath: socketPath) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw HobError(.unavailable, "the sprite's agent is not reachable", cause: error)
        }
        return try await channel.executeThenClose { inbound, outbound in
            try await body(AgentEvents(inbound: inbound), AgentWriter(outbound: outbound))
        }
    }

    /// One request, one answer (list, kill, ping, shutdown), within `timeout`.
    package static func request(
        socketPath: String, _ request: AgentRequest, timeout: Duration = .seconds(5)
    ) async throws -> AgentEvent {
        try await withThrowingTaskGroup(of: AgentEvent.self) { group in
            group.addTask {
                try await withConnection(socketPath: socketPath) { events, writer in
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
