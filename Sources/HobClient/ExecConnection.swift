// A live exec or attach WebSocket (SPRITES-API.md §4): events in, stdin/resize/signal out. Every write goes through
// the channel handler on its event loop, so frame order is kept and nothing is sent after the close frame.

import HobAPI
import NIOCore
import NIOWebSocket
import Synchronization

public final class ExecConnection: Sendable {
    /// Server events in order, ending with `.closed`. Iterate it once: it is a single-consumer sequence, and it
    /// stops reading from the socket while the consumer is behind.
    public let events: ExecEventStream

    private let channel: any Channel
    private let handler: NIOLoopBound<ExecChannelHandler>
    private let state: ExecSessionState

    init(channel: any Channel, events: ExecEventStream, handler: NIOLoopBound<ExecChannelHandler>, state: ExecSessionState) {
        self.channel = channel
        self.events = events
        self.handler = handler
        self.state = state
    }

    /// The TTY mode: known from the start for `exec`, learned from `session_info` for `attach` (nil until then).
    public var tty: Bool? { state.tty }

    /// The `session_info` message once it has arrived.
    public var sessionInfo: SessionInfoMessage? { state.sessionInfo }

    /// The reason text of the server's close frame, if it gave one (e.g. why an attach was refused).
    public var closeReason: String? { state.closeReason }

    /// Sends stdin bytes (non-TTY: a `0x00`-prefixed frame; TTY, or not yet known: raw). Returns when written.
    public func sendStdin(_ bytes: [UInt8]) async throws {
        guard !bytes.isEmpty else { return }
        try await send(.binary, ExecStreamEncoder.stdin(bytes, tty: state.tty ?? true))
    }

    /// Ends stdin (non-TTY: `[0x04]`). In TTY mode there is no EOF frame, so this does nothing.
    public func sendEOF() async throws {
        guard let payload = ExecStreamEncoder.endOfInput(tty: state.tty ?? true) else { return }
        try await send(.binary, payload)
    }

    /// Tells a TTY session the new terminal size.
    public func resize(rows: Int, cols: Int) async throws {
        try await send(.text, Array(ExecStreamEncoder.resize(rows: rows, cols: cols).utf8))
    }

    /// Sends a signal to the remote process: `TERM`, `INT`, `HUP`, `KILL`, `QUIT`, `USR1`, `USR2`.
    public func signal(_ name: String) async throws {
        try await send(.text, Array(ExecStreamEncoder.signal(name).utf8))
    }

    /// Sends a close frame (1000), waits up to two seconds for the server's, then closes the socket.
    /// Closing an attached TTY session detaches from it; the session keeps running.
    public func close() async {
        let handler = self.handler
        channel.eventLoop.execute { handler.value.initiateClose(code: .normalClosure) }
        try? await channel.closeFuture.get()
    }

    private func send(_ opcode: WebSocketOpcode, _ payload: [UInt8]) async throws {
        let handler = self.handler
        let frame = WebSocketFrame(
            fin: true, opcode: opcode, maskKey: .random(), data: channel.allocator.buffer(bytes: payload))
        try await channel.eventLoop.flatSubmit { handler.value.send(frame) }.get()
    }
}

/// `ExecConnection.events`.
public struct ExecEventStream: AsyncSequence, Sendable {
    public typealias Element = ExecEvent
    typealias Producer = NIOAsyncSequenceProducer<
        ExecEvent, NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark, ReadDemand<ExecChannelHandler>
    >

    let producer: Producer

    public struct AsyncIterator: AsyncIteratorProtocol {
        var inner: Producer.AsyncIterator

        public mutating func next() async -> ExecEvent? {
            await inner.next()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(inner: producer.makeAsyncIterator())
    }
}

/// What the socket side learns and the caller side reads: the TTY mode and the session info.
final class ExecSessionState: Sendable {
    private struct Values {
        var tty: Bool?
        var sessionInfo: SessionInfoMessage?
        var closeReason: String?
    }

    private let values: Mutex<Values>

    init(tty: Bool?) {
        values = Mutex(Values(tty: tty))
    }

    var tty: Bool? { values.withLock { $0.tty } }
    var sessionInfo: SessionInfoMessage? { values.withLock { $0.sessionInfo } }
    var closeReason: String? { values.withLock { $0.closeReason } }

    func closed(reason: String) {
        values.withLock { $0.closeReason = reason }
    }

    func learned(_ info: SessionInfoMessage) {
        values.withLock {
            $0.tty = info.tty
            $0.sessionInfo = info
        }
    }
}
