// What RFC 6455 requires of a client's frames, enforced before a WebSocket handler sees them,
// with the close code the RFC names (§7.4.1), whatever the handler does with its input:
//   1002 protocol error   unmasked frame (§5.1), reserved bits without an extension, reserved
//                         opcode, continuation with no message started, new message inside a
//                         fragmented one
//   1007 invalid data     a text message that is not UTF-8 (§8.1)
//   1009 too big          a message larger than the limit (frames larger than the frame limit
//                         are NIO's WebSocketProtocolErrorHandler's, with the same code)
// The close frame is sent and the connection closed at once: the handler's inbound just ends.
import NIOCore
import NIOWebSocket

/// The rules, apart from the channel: feed frames in order, get the close code of the first
/// violation.
struct FrameRules {
    let maxMessageSize: Int
    /// The fragmented message under way: its kind, size so far, and (text) bytes to validate.
    private var message: (text: Bool, size: Int, bytes: [UInt8])?

    init(maxMessageSize: Int) { self.maxMessageSize = maxMessageSize }

    mutating func check(_ frame: WebSocketFrame) -> WebSocketErrorCode? {
        guard frame.maskKey != nil else { return .protocolError }
        guard !frame.rsv1, !frame.rsv2, !frame.rsv3 else { return .protocolError }
        switch frame.opcode {
        case .connectionClose, .ping, .pong:
            return nil
        case .text, .binary:
            guard message == nil else { return .protocolError }
            guard frame.length <= maxMessageSize else { return .messageTooLarge }
            let text = frame.opcode == .text
            if frame.fin {
                return text && !Self.isUTF8(frame.unmaskedData) ? .dataInconsistentWithMessage : nil
            }
            message = (text, frame.length, text ? Array(frame.unmaskedData.readableBytesView) : [])
            return nil
        case .continuation:
            guard var current = message else { return .protocolError }
            current.size += frame.length
            guard current.size <= maxMessageSize else { return .messageTooLarge }
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

    init(maxMessageSize: Int) { rules = FrameRules(maxMessageSize: maxMessageSize) }

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
