// issue 12: the end of the stream is kept from the HTTP decoder until the WebSocket upgrade has settled, so the
// frames a server sends with its 101 reach the exec handler before the channel closes.
import NIOCore
import NIOEmbedded
import Testing

@testable import HobClient

@Suite("Upgrade end-of-stream hold")
struct UpgradeEndOfStreamHoldTests {
    @Test("an end of stream during the upgrade closes the channel only after the upgrade settled, a tick later")
    func heldUntilSettled() throws {
        let hold = UpgradeEndOfStreamHold()
        let channel = EmbeddedChannel(handler: hold)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        channel.embeddedEventLoop.run()
        #expect(channel.isActive, "closed before the upgrade settled: the bytes after the 101 would be lost")
        hold.upgradeSettled()
        #expect(channel.isActive, "closed in the same tick as the settling, before the buffered frames were replayed")
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive)
    }

    @Test("after the upgrade an end of stream closes at once, as NIO does without half-closure")
    func closesAtOnceAfterwards() throws {
        let hold = UpgradeEndOfStreamHold()
        let channel = EmbeddedChannel(handler: hold)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        hold.upgradeSettled()
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(!channel.isActive)
    }

    @Test("an upgrade that never settles does not hold the connection open forever")
    func boundedHold() throws {
        let hold = UpgradeEndOfStreamHold()
        let channel = EmbeddedChannel(handler: hold)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        channel.embeddedEventLoop.advanceTime(by: UpgradeEndOfStreamHold.settleTimeout)
        #expect(!channel.isActive)
    }

    @Test("bytes pass through untouched")
    func bytesPassThrough() throws {
        let channel = EmbeddedChannel(handler: UpgradeEndOfStreamHold())
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 101"))
        #expect(try channel.readInbound(as: ByteBuffer.self) == ByteBuffer(string: "HTTP/1.1 101"))
    }
}
