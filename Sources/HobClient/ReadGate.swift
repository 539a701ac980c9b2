// Back-pressure shared by the streaming handlers (exec WebSockets, streamed HTTP bodies): the
// socket is read only while the consumer of the async sequence keeps up.
import NIOCore
import NIOHTTP1

/// When a handler may read from its socket.
struct ReadGate {
    private enum State { case flowing, paused, pausedWithReadPending, stopped }
    private var state = State.flowing

    /// Reads go straight through (the consumer is keeping up).
    var isFlowing: Bool { state == .flowing }

    /// NIO asks to read: true when the read should go ahead now; otherwise it is held back.
    mutating func allowsRead() -> Bool {
        switch state {
        case .flowing: return true
        case .paused: state = .pausedWithReadPending
        case .pausedWithReadPending, .stopped: break
        }
        return false
    }

    /// The consumer wants more: true when a held-back read must be issued now.
    mutating func resume() -> Bool {
        switch state {
        case .paused: state = .flowing
        case .pausedWithReadPending:
            state = .flowing
            return true
        case .flowing, .stopped: break
        }
        return false
    }

    /// The producer said the consumer is behind.
    mutating func pause() {
        if state == .flowing { state = .paused }
    }

    /// The consumer is gone: nothing is read again.
    mutating func stop() { state = .stopped }
}

/// A handler driven by its consumer's demand, through `ReadDemand`.
protocol ReadDemandHandler: AnyObject, SendableMetatype {
    func produceMore()
    func consumerGone()
}

/// Tells the handler, on its event loop, that the consumer wants more or has gone away.
struct ReadDemand<Handler: ReadDemandHandler>: NIOAsyncSequenceProducerDelegate {
    let handler: NIOLoopBound<Handler>
    let eventLoop: any EventLoop

    func produceMore() {
        let handler = self.handler
        eventLoop.execute { handler.value.produceMore() }
    }

    func didTerminate() {
        let handler = self.handler
        eventLoop.execute { handler.value.consumerGone() }
    }
}

extension ChannelHandlerContext {
    /// Writes a whole HTTP/1.1 request, head, body and end, and flushes it.
    func writeRequest(_ head: HTTPRequestHead, body: ByteBuffer?) {
        write(NIOAny(HTTPClientRequestPart.head(head)), promise: nil)
        if let body { write(NIOAny(HTTPClientRequestPart.body(.byteBuffer(body))), promise: nil) }
        writeAndFlush(NIOAny(HTTPClientRequestPart.end(nil)), promise: nil)
    }
}
