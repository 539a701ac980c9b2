// What RFC 6455 requires of a client's frames, enforced before a WebSocket handler sees them,
// with the close code the RFC names (§7.4.1), whatever the handler does with its input:
//   1002 protocol error   unmasked frame (§5.1), reserved bits without an extension, reserved
//                         opcode, continuation with no message started, new message inside a
//                         fragmented one
//   1007 invalid data     a text message that is not UTF-8 (§8.1)
//   1009 too big          a message larger than the limit (frames larger than the frame limit
//                         are NIO's WebSocketProtocolErrorHandler's, with the same code); an
//                         endpoint whose handler streams binary messages piece by piece (/control's
//                         fs.write) lifts the limit for binary messages only, never for text
//                         messages or single frames
// The close frame is sent and the connection closed at once: the handler's inbound just ends.
import NIOCore
import NIOWebSocket

/// The rules, apart from the channel: feed frames in order, get the close code of the first
/// violation.
struct FrameRules {
    let maxMessageSize: Int
    /// Binary messages of any size (their frames still within the frame limit): the handler
    /// reads them frame by frame instead of collecting them.
    let streamsBinary: Bool
    /// The fragmented message under way: its kind, size so far, and (text) bytes to validate.
    private var message: (text: Bool, size: Int, bytes: [UInt8])?

    init(maxMessageSize: Int, streamsBinary: Bool = false) {
        self.maxMessageSize = maxMessageSize
        self.streamsBinary = streamsBinary
    }

    func isTooLarge(_ size: Int, text: Bool) -> Bool { size > maxMessageSize && (text || !streamsBinary) }

    mutating func check(_ frame: WebSocketFrame) -> WebSocketErrorCode? {
        guard frame.maskKey != nil else { return .protocolError }
        guard !frame.rsv1, !frame.rsv2, !frame.rsv3 else { return .protocolError }
        switch frame.opcode {
        case .connectionClose, .ping, .pong:
            return nil
        case .text, .binary:
            guard message == nil else { return .protocolError }
            let text = frame.opcode == .text
            guard !isTooLarge(frame.length, text: text) else { return .messageTooLarge }
            if frame.fin {
                return text && !Self.isUTF8(frame.unmaskedData) ? .dataInconsistentWithMessage : nil
            }
            message = (text, frame.length, text ? Array(frame.unmaskedData.readableBytesView) : [])
            return nil
        case .continuation:
            guard var current = message else { return .protocolError }
            current.size += frame.length
            guard !isTooLarge(current.size, text: current.text) else { return .messageTooLarge }
            if current.text { current.bytes += frame.unmaskedData.readableBytesView }
            if frame.fin {
                message = nil
                return current.text && !Self.isUTF8(current.bytes) ? .dataInconsistentWithMessage : nil
            }
            message = current
            return nil
        default:
            return .protocolError
        }
    }

    static func isUTF8(_ buffer: ByteBuffer) -> Bool { isUTF8(Array(buffer.readableBytesView)) }

    static func isUTF8(_ bytes: [UInt8]) -> Bool { String(validating: bytes, as: UTF8.self) != nil }
}

final class FrameGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private var rules: FrameRules
    private var failed = false

    init(maxMessageSize: Int, streamsBinary: Bool) { rules = FrameRules(maxMessageSize: maxMessageSize, streamsBinary: streamsBinary) }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        let frame = unwrapInboundIn(data)
        guard let code = rules.check(frame) else { return context.fireChannelRead(data) }
        failed = true
        var payload = context.channel.allocator.buffer(capacity: 2)
        payload.write(webSocketErrorCode: code)
        let close = WebSocketFrame(fin: true, opcode: .connectionClose, data: payload)
        context.writeAndFlush(wrapOutboundOut(close)).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }
}
