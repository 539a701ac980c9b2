// The DNS forwarder of restricted sprites (egress policy), on the bridge gateway, port 53, UDP
// and TCP. Only restricted sprites are sent here (their port 53 traffic is redirected by nftables;
// HostNetwork+Egress.swift). The asking sprite is known by the query's source address, which it
// cannot forge: the bridge table pins each port to its sprite's address. A name the sprite's
// rules deny is answered REFUSED without asking anyone; an allowed one is forwarded to the host's
// resolvers, and the IPv4 addresses in the answer become reachable for the sprite before the
// answer reaches it (so a connect right after the lookup works). Queries from elsewhere (an
// unrestricted sprite with a stale redirect, the host itself) are forwarded untouched.
import Foundation
import Glibc
import HobOS
import Logging
import NIOCore
import NIOPosix
import Synchronization

public final class DNSForwarder: Sendable {
    public struct Upstream: Sendable, Equatable, CustomStringConvertible {
        public var host: String
        public var port: Int

        public init(host: String, port: Int = 53) {
            self.host = host
            self.port = port
        }

        /// `ADDR` or `ADDR:PORT` (IPv4).
        public init?(parsing text: String) {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard (1...2).contains(parts.count), IPv4Subnet.parse(String(parts[0])) != nil else { return nil }
            let port = parts.count == 2 ? Int(parts[1]) : 53
            guard let port, (1...65535).contains(port) else { return nil }
            self.init(host: String(parts[0]), port: port)
        }

        public var description: String { "\(host):\(port)" }
    }

    let network: HostNetwork
    let upstreams: [Upstream]
    let logger: Logger
    let channels = Mutex<[any Channel]>([])
    /// Queries being forwarded; beyond `maxInFlight` new ones are dropped (clients retry).
    let inFlight = Mutex(0)
    static let maxInFlight = 256
    static let maxTCPMessage = 65535

    public init(network: HostNetwork, upstreams: [Upstream], logger: Logger) {
        self.network = network
        self.upstreams = upstreams
        self.logger = logger
    }

    /// The resolvers the daemon itself uses: every IPv4 nameserver in /etc/resolv.conf, loopback
    /// ones included (the daemon, unlike a sprite, can reach 127.0.0.53).
    public static func hostUpstreams() -> [Upstream] {
        for file in ["/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"] {
            guard let text = try? Files.read(file) else { continue }
            let servers = text.split(separator: "\n").compactMap { line -> Upstream? in
                let parts = line.split(whereSeparator: \.isWhitespace)
                guard parts.count >= 2, parts[0] == "nameserver", IPv4Subnet.parse(String(parts[1])) != nil else { return nil }
                return Upstream(host: String(parts[1]))
            }
            if !servers.isEmpty { return servers }
        }
        return []
    }

    /// Listens on the gateway. A failure is logged, not thrown: restricted sprites then get no
    /// DNS (and so reach nothing), while everything else works.
    public func start() async {
        let host = network.subnet.gateway
        let group = MultiThreadedEventLoopGroup.singleton
        do {
            let udp = try await DatagramBootstrap(group: group)
                .channelOption(.socketOption(.so_reuseaddr), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(UDPHandler(forwarder: self)) }
                }
                .bind(host: host, port: 53).get()
            let tcp = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(TCPHandler(forwarder: self))
                        // A connection gets a bounded life, so idle ones cannot pile up.
                        channel.eventLoop.scheduleTask(in: .seconds(30)) { channel.close(promise: nil) }
                    }
                }
                .bind(host: host, port: 53).get()
            channels.withLock { $0 = [udp, tcp] }
            logger.info("DNS forwarder for restricted sprites listening", metadata: ["address": "\(host):53", "upstreams": "\(upstreams)"])
        } catch {
            for channel in channels.withLock({ c in defer { c = [] }; return c }) { try? await channel.close() }
            logger.error("could not start the DNS forwarder; sprites with a network policy will have no DNS", metadata: ["error": "\(error)"])
            // Another server on the port (one bound to 0.0.0.0:53 makes our bind fail) would
            // otherwise get the redirected queries and resolve denied names.
            do { try await network.refuseRedirectedDNS() } catch {
                logger.error("could not close port 53 on the gateway to restricted sprites", metadata: ["error": "\(error)"])
            }
        }
    }

    public func stop() async {
        for channel in channels.withLock({ c in defer { c = [] }; return c }) { try? await channel.close() }
    }

    /// The reply to `query` from `source` (nil: no reply).
    func answer(_ query: [UInt8], from source: String, overTCP: Bool) async -> [UInt8]? {
        guard let matcher = network.egress.matcher(for: source) else {
            return await forward(query, overTCP: overTCP) ?? DNSMessage.reply(to: query, rcode: DNSMessage.rcodeServerFailure)
        }
        guard let message = DNSMessage(parsing: query), !message.isResponse else { return nil }
        guard message.questions.count == 1, let name = message.questions.first?.name.lowercased(),
            EgressPolicy.isHostName(name) || name.isEmpty, matcher.allows(name)
        else {
            return DNSMessage.refused(replyingTo: query)
        }
        // No upstream answered: SERVFAIL, so the client gives up now rather than after its timeout.
        guard let reply = await forward(query, overTCP: overTCP) else { return DNSMessage.reply(to: query, rcode: DNSMessage.rcodeServerFailure) }
        if let parsed = DNSMessage(parsing: reply), parsed.id == message.id {
            let destinations = parsed.answers.compactMap { record -> (address: String, ttl: UInt32)? in
                guard let ip = record.ipv4, !Self.isBlocked(ip) else { return nil }
                return (ip, record.ttl)
            }
            if !destinations.isEmpty { await network.allowDestinations(from: source, name: name, destinations) }
        }
        return reply
    }

    /// Whether `ip` is in one of `HostNetwork.blockedRanges` (or is not an address at all).
    static func isBlocked(_ ip: String) -> Bool {
        guard let address = IPv4Subnet.parse(ip) else { return true }
        return HostNetwork.blockedRanges.contains { range in
            let parts = range.split(separator: "/")
            guard parts.count == 2, let network = IPv4Subnet.parse(String(parts[0])), let prefix = UInt32(parts[1]) else { return false }
            let mask: UInt32 = prefix == 0 ? 0 : ~((1 << (32 - prefix)) - 1)
            return address & mask == network
        }
    }

    /// Asks the upstreams in turn; nil when none answers.
    func forward(_ query: [UInt8], overTCP: Bool) async -> [UInt8]? {
        let admitted = inFlight.withLock { n -> Bool in
            guard n < Self.maxInFlight else { return false }
            n += 1
            return true
        }
        guard admitted else { return nil }
        defer { inFlight.withLock { $0 -= 1 } }
        let upstreams = self.upstreams
        return try? await offload {
            for upstream in upstreams {
                if var reply = UpstreamExchange.udp(query, to: upstream) {
                    // Truncated over UDP: a TCP client gets the whole answer over TCP.
                    if overTCP, reply.count > 2, reply[2] & 0x02 != 0, let full = UpstreamExchange.tcp(query, to: upstream) { reply = full }
                    return reply
                }
                if let reply = UpstreamExchange.tcp(query, to: upstream) { return reply }
            }
            return nil
        }
    }

    final class UDPHandler: ChannelInboundHandler, Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        let forwarder: DNSForwarder

        init(forwarder: DNSForwarder) { self.forwarder = forwarder }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let envelope = unwrapInboundIn(data)
            guard let source = envelope.remoteAddress.ipAddress, envelope.remoteAddress.protocol == .inet else { return }
            let query = Array(envelope.data.readableBytesView)
            let channel = context.channel
            let forwarder = self.forwarder
            Task {
                guard let reply = await forwarder.answer(query, from: source, overTCP: false) else { return }
                let out = AddressedEnvelope(remoteAddress: envelope.remoteAddress, data: ByteBuffer(bytes: reply))
                channel.writeAndFlush(out, promise: nil)
            }
        }
    }

    /// DNS over TCP: each message is preceded by its length (2 bytes, big-endian).
    final class TCPHandler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let forwarder: DNSForwarder
        var buffer = ByteBuffer()

        init(forwarder: DNSForwarder) { self.forwarder = forwarder }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var incoming = unwrapInboundIn(data)
            buffer.writeBuffer(&incoming)
            guard let source = context.channel.remoteAddress?.ipAddress else {
                context.close(promise: nil)
                return
            }
            let channel = context.channel
            let forwarder = self.forwarder
            while let length = buffer.getInteger(at: buffer.readerIndex, as: UInt16.self), buffer.readableBytes >= 2 + Int(length) {
                buffer.moveReaderIndex(forwardBy: 2)
                guard let query = buffer.readBytes(length: Int(length)) else { break }
                Task {
                    guard let reply = await forwarder.answer(query, from: source, overTCP: true), reply.count <= DNSForwarder.maxTCPMessage
                    else { return }
                    var out = ByteBuffer()
                    out.writeInteger(UInt16(reply.count))
                    out.writeBytes(reply)
                    channel.writeAndFlush(out, promise: nil)
                }
            }
            buffer.discardReadBytes()
        }
    }
}

/// One blocking query to an upstream resolver (run off the event loops, see `offload`).
enum UpstreamExchange {
    static let timeoutMs: Int32 = 2500

    static func udp(_ query: [UInt8], to upstream: DNSForwarder.Upstream) -> [UInt8]? {
        guard query.count >= 12 else { return nil }
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        guard connect(fd, upstream), send(fd, query, query.count, 0) == query.count else { return nil }
        let deadline = ContinuousClock.now + .milliseconds(Int(timeoutMs))
        var buffer = [UInt8](repeating: 0, count: 65535)
        while ContinuousClock.now < deadline {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let left = Int32(max(1, (deadline - ContinuousClock.now).milliseconds))
            guard poll(&p, 1, left) > 0 else { continue }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            // Only the answer to this query (same id) counts; anything else is ignored.
            if n >= 12, buffer[0] == query[0], buffer[1] == query[1], buffer[2] & 0x80 != 0 { return Array(buffer[0..<n]) }
            if n < 0 && errno != EINTR && errno != EAGAIN { return nil }
        }
        return nil
    }

    static func tcp(_ query: [UInt8], to upstream: DNSForwarder.Upstream) -> [UInt8]? {
        guard query.count >= 12, query.count <= 65535 else { return nil }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var tv = timeval(tv_sec: Int(timeoutMs / 1000), tv_usec: Int(timeoutMs % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        guard connect(fd, upstream) else { return nil }
        let framed = [UInt8(query.count >> 8), UInt8(query.count & 0xFF)] + query
        guard send(fd, framed, framed.count, Int32(MSG_NOSIGNAL)) == framed.count else { return nil }
        guard let header = readExactly(fd, 2) else { return nil }
        let length = Int(header[0]) << 8 | Int(header[1])
        guard length >= 12, let reply = readExactly(fd, length), reply[0] == query[0], reply[1] == query[1] else { return nil }
        return reply
    }

    static func readExactly(_ fd: Int32, _ count: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = out.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return -1 }
                return recv(fd, base + got, count - got, 0)
            }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return nil }
            got += n
        }
        return out
    }

    static func connect(_ fd: Int32, _ upstream: DNSForwarder.Upstream) -> Bool {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(upstream.port).bigEndian)
        guard inet_pton(AF_INET, upstream.host, &address.sin_addr) == 1 else { return false }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}
