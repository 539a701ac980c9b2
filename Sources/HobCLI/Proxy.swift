// `hob proxy`: local ports forwarded to ports inside a sprite (GET /v1/sprites/{name}/proxy).

import ArgumentParser
import Foundation
import HobClient
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

public struct Proxy: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        abstract: "Forward local ports to ports inside a sprite.",
        discussion: """
            Each PORT listens on the same local port; LOCAL:REMOTE listens on LOCAL. Connections \
            start inside the sprite, so a server bound to the sprite's 127.0.0.1 is reachable. \
            An open connection keeps the sprite awake, and a sleeping sprite is woken by the next \
            one. Runs until Ctrl+C.

            With -W HOST:PORT it listens nowhere: stdin and stdout are relayed to HOST:PORT inside \
            the sprite (as `ssh -W` does), so it works as an ssh ProxyCommand. It ends when the \
            connection in the sprite closes or stdin ends (the tunnel has no half-close).

            Examples:
              hob proxy demo 8080
              hob proxy demo 3001:3000 5432
              hob proxy demo 9000:80 --host 10.0.0.5
              hob proxy -W localhost:22 demo
              ssh -o ProxyCommand='hob proxy -W localhost:22 %h' root@demo
            """)

    @Argument(help: "Sprite name.")
    public var name: String

    @Argument(help: ArgumentHelp("Ports to forward.", valueName: "PORT | LOCAL:REMOTE"))
    public var mappings: [String] = []

    @Option(help: ArgumentHelp("Where the connections go, as seen from inside the sprite.", valueName: "host"))
    public var host = "localhost"

    @Option(help: ArgumentHelp("Local address to listen on.", valueName: "address"))
    public var bind = "127.0.0.1"

    @Option(
        name: .customShort("W"),
        help: ArgumentHelp("Relay stdin and stdout to HOST:PORT inside the sprite instead of listening.", valueName: "host:port"))
    public var stdio: String?

    public init() {}

    /// A local port and the port it reaches inside the sprite.
    public struct Mapping: Equatable, Sendable {
        public var local: Int
        public var remote: Int
    }

    public static func parse(mapping text: String) throws -> Mapping {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map { Int($0) }
        func valid(_ p: Int?) -> Int? { p.flatMap { (1...65535).contains($0) ? $0 : nil } }
        switch parts.count {
        case 1: if let p = valid(parts[0]) { return Mapping(local: p, remote: p) }
        case 2: if let l = valid(parts[0]), let r = valid(parts[1]) { return Mapping(local: l, remote: r) }
        default: break
        }
        throw ValidationError("\(text) is not a port mapping: use PORT or LOCAL:REMOTE with ports from 1 to 65535")
    }

    /// The target of -W: HOST:PORT, [IPv6]:PORT, or a bare PORT on localhost.
    public static func parse(stdioTarget text: String) throws -> (host: String, port: Int) {
        var host = "localhost"
        var portText = Substring(text)
        if let colon = text.lastIndex(of: ":") {
            host = String(text[..<colon])
            portText = text[text.index(after: colon)...]
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        }
        guard !host.isEmpty, !host.contains(" "), let port = Int(portText), (1...65535).contains(port) else {
            throw ValidationError("\(text) is not a target for -W: use HOST:PORT (e.g. localhost:22) with a port from 1 to 65535")
        }
        return (host, port)
    }

    public func validate() throws {
        if let stdio {
            _ = try Self.parse(stdioTarget: stdio)
            if !mappings.isEmpty { throw ValidationError("-W relays stdin and stdout to one target: it takes no ports to forward") }
            return
        }
        if mappings.isEmpty { throw ValidationError("name at least one port to forward, e.g. hob proxy \(name) 8080") }
        let parsed = try mappings.map(Self.parse(mapping:))
        if Set(parsed.map(\.local)).count != parsed.count { throw ValidationError("each local port can be forwarded only once") }
    }

    public func run() async throws {
        if let stdio { return try await relayStandardIO(to: try Self.parse(stdioTarget: stdio)) }
        let parsed = try mappings.map(Self.parse(mapping:))
        try await CommandFailure.reporting(.sprite(name)) {
            let client = try Daemon.client()
            _ = try await client.getSprite(name)  // an unknown sprite or a bad token fails here, not per connection
            let (signals, signalled) = AsyncStream.makeStream(of: Int32.self)
            let trap = SignalTrap([SIGINT, SIGTERM]) { signalled.yield($0) }
            defer { trap.cancel() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for mapping in parsed {
                    let server = try await listen(mapping)
                    StandardStream.printError("Forwarding \(bind):\(mapping.local) → \(name):\(mapping.remote)\(host == "localhost" ? "" : " on \(host)")")
                    let (name, host) = (self.name, self.host)
                    group.addTask { try await Self.serve(server, mapping, name: name, host: host, client: client) }
                }
                StandardStream.printError("Press Ctrl+C to stop.")
                group.addTask { for await _ in signals { return } }
                _ = try await group.next()
                group.cancelAll()
            }
        }
    }

    typealias Listener = NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>

    func listen(_ mapping: Mapping) async throws -> Listener {
        do {
            return try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: bind, port: mapping.local) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw HobClientError(.configuration, "cannot listen on \(bind):\(mapping.local): \(error)")
        }
    }

    /// Accepts local connections until cancelled; each gets its own tunnel.
    static func serve(_ server: Listener, _ mapping: Mapping, name: String, host: String, client: HobClient) async throws {
        try await server.executeThenClose { connections in
            try await withThrowingDiscardingTaskGroup { group in
                for try await connection in connections {
                    group.addTask {
                        do {
                            try await client.forward(name, host: host, port: mapping.remote, local: connection)
                        } catch {
                            StandardStream.printError("hob: \(mapping.local) → \(name):\(mapping.remote): \(error)")
                        }
                    }
                }
            }
        }
    }

    /// `-W`: stdin to the target inside the sprite, what it sends to stdout.
    func relayStandardIO(to target: (host: String, port: Int)) async throws {
        try await CommandFailure.reporting(.sprite(name)) {
            try await Daemon.client().relay(name, host: target.host, port: target.port, outgoing: StandardInputChunks()) { bytes in
                guard StandardStream.write(STDOUT_FILENO, Array(bytes.readableBytesView)) else { throw CommandError("cannot write to stdout") }
            }
        }
    }
}

/// stdin as a sequence of chunks, read only as fast as they are taken (one read per chunk), and
/// ending when the task taking them is cancelled even while nothing arrives.
struct StandardInputChunks: AsyncSequence, Sendable {
    struct AsyncIterator: AsyncIteratorProtocol {
        var ended = false

        mutating func next() async throws -> ByteBuffer? {
            guard !ended else { return nil }
            switch await StandardStream.readUnlessCancelled(STDIN_FILENO) {
            case .data(let bytes)?: return ByteBuffer(bytes: bytes)
            case .failed(let code)?: throw CommandError("cannot read stdin: \(String(cString: strerror(code)))")
            case .endOfFile?, nil:
                ended = true
                return nil
            }
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator() }
}
