// Keeps the bytes a server sends right after its 101 when it also ends the stream at once.
//
// NIO removes the HTTP response decoder on the event-loop tick after the 101 and only then forwards the bytes it
// had already read past the response (`leftOverBytesStrategy: .forwardBytes`). If the end of the stream reaches the
// decoder before that removal, it runs its last decode with "EOF seen" and drops those bytes instead
// (HTTPDecoder.decodeLast). A short command answers with 101, session_info, the exit frames and the close in one
// burst and closes the socket; when the client reads late (a busy host) the burst and the EOF arrive in the same
// read loop and the exit status was lost (issue 12: 18 of 100 `hob exec -- true` under load).
//
// So the channel is opened with remote half-closure allowed: the end of the stream becomes an `inputClosed` event
// instead of an immediate close. This handler, first in the pipeline, keeps that event from the HTTP decoder while
// the upgrade (or the refused response) is being settled, and closes the channel, as NIO would have on EOF, only once
// the bytes after the 101 have been handed to the WebSocket handlers.

import NIOCore

final class UpgradeEndOfStreamHold: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    /// Upper bound on holding the end of the stream if the upgrade never settles (a server that closed mid-answer):
    /// the close then fails the upgrade as it did before. The settling itself is a few event-loop ticks.
    static let settleTimeout: TimeAmount = .seconds(2)

    private var settled = false
    private var endSeen = false
    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let event = event as? ChannelEvent, event == .inputClosed else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        guard settled else {
            endSeen = true
            context.eventLoop.assumeIsolated().scheduleTask(in: Self.settleTimeout) {
                self.context?.close(promise: nil)
            }
            return
        }
        context.close(promise: nil)
    }

    /// The upgrade future has completed (upgraded or refused). Call on the channel's event loop.
    func upgradeSettled() {
        settled = true
        guard endSeen, let context else { return }
        // The upgrade handler completes its promise first and replays the bytes it buffered right after, in the same
        // tick: close on the next one, after they have reached the WebSocket handlers.
        context.eventLoop.assumeIsolated().execute {
            self.context?.close(promise: nil)
        }
    }
}
