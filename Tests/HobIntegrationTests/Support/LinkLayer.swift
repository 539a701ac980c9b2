// Link-layer fixtures: a sprite's MAC, address and bridge port; the host bridge's FDB and
// neighbour table; the counters of Hob's bridge rules; and a Python sender of raw Ethernet frames
// for a sprite to forge (root in a sprite owns its network namespace, so it may).
import Foundation

extension DaemonFixture {
    /// Gives the sprite the `privileged` profile: every capability of its user namespace
    /// (CAP_NET_ADMIN, CAP_NET_RAW) and packet sockets, which the default profile refuses. The
    /// bridge must hold against such a sprite too.
    func makePrivileged(_ sprite: String) async throws {
        let set = try await http("POST", "/v1/sprites/\(sprite)/policy/privileges", body: Data(#"{"profile":"privileged"}"#.utf8))
        guard set.status == 200 else { throw TestFailure("could not make \(sprite) privileged: \(set)") }
    }

    /// eth0's MAC address inside the sprite.
    func mac(of sprite: String) async throws -> String {
        let read = try await exec(sprite, ["cat", "/sys/class/net/eth0/address"])
        guard read.succeeded, !read.stdout.trimmed.isEmpty else { throw TestFailure("no eth0 address in \(sprite): \(read)") }
        return read.stdout.trimmed
    }

    /// eth0's IPv4 address inside the sprite.
    func address(of sprite: String) async throws -> String {
        let read = try await sh(sprite, "hostname -I")
        guard let address = read.stdout.split(separator: " ").first.map({ String($0).trimmed }), !address.isEmpty else {
            throw TestFailure("sprite \(sprite) has no address: \(read)")
        }
        return address
    }

    /// The sprite's default gateway (the bridge) and its MAC as the sprite resolved it.
    func gateway(of sprite: String) async throws -> (address: String, mac: String) {
        let found = try await sh(
            sprite, "gw=$(ip route | awk '/default/ {print $3}'); curl -s -m 1 http://$gw:1/ >/dev/null; echo $gw; ip neigh show $gw")
        let lines = found.stdout.lines
        let words = lines.dropFirst().first?.split(separator: " ").map(String.init) ?? []
        guard let address = lines.first, let mac = words.firstIndex(of: "lladdr").map({ words[$0 + 1] }) else {
            throw TestFailure("sprite \(sprite) did not resolve its gateway: \(found)")
        }
        return (address, mac)
    }

    /// The host end of the sprite's veth: its bridge port.
    func bridgePort(of sprite: String) async throws -> String { "hv" + (try await spriteID(sprite)).prefix(12) }

    /// `bridge fdb show br <bridge>`, one entry a line.
    func bridgeFDB() async throws -> [String] {
        try await HostProcess.check("bridge", ["fdb", "show", "br", bridge]).lines
    }

    /// The MAC the host's neighbour table has for `address` on the bridge, if any.
    func hostNeighbourMAC(_ address: String) async throws -> String? {
        let words = try await HostProcess.check("ip", ["neigh", "show", address, "dev", bridge]).split(separator: " ").map(String.init)
        return words.firstIndex(of: "lladdr").map { words[$0 + 1] }
    }

    /// Packets counted by the rule of Hob's `bridge <instance>` table whose text contains `rule`.
    func bridgeRuleCounter(_ rule: String) async throws -> Int {
        let chain = try await HostProcess.check("nft", ["list", "chain", "bridge", instance, "prerouting"])
        guard let line = chain.lines.first(where: { $0.contains(rule) }) else {
            throw TestFailure("no rule containing `\(rule)` in bridge \(instance) prerouting:\n\(chain)")
        }
        let words = line.split(separator: " ").map(String.init)
        guard let count = words.firstIndex(of: "packets").flatMap({ Int(words[$0 + 1]) }) else {
            throw TestFailure("rule `\(rule)` has no counter: \(line)")
        }
        return count
    }
}

/// Forges Ethernet frames from inside a sprite through an AF_PACKET socket on eth0.
enum RawFrames {
    static let script = """
        import socket, struct, sys, time
        def mac(text): return bytes.fromhex(text.replace(":", ""))
        def ip(text): return socket.inet_aton(text)
        def checksum(data):
            total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
            total = (total >> 16) + (total & 0xFFFF)
            return ~(total + (total >> 16)) & 0xFFFF
        kind, count, destination, source = sys.argv[1], int(sys.argv[2]), mac(sys.argv[3]), mac(sys.argv[4])
        if kind == "udp":
            # IPv4/UDP from argv[5] to argv[6]
            payload = b"hob-l2"
            udp = struct.pack("!HHHH", 40000, 40000, 8 + len(payload), 0) + payload
            header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, ip(sys.argv[5]), ip(sys.argv[6]))
            header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
            frame = destination + source + b"\\x08\\x00" + header + udp
        else:
            # ARP reply: sender MAC argv[5], sender IP argv[6], target MAC argv[7], target IP argv[8]
            arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 2, mac(sys.argv[5]), ip(sys.argv[6]), mac(sys.argv[7]), ip(sys.argv[8]))
            frame = destination + source + b"\\x08\\x06" + arp
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        s.bind(("eth0", 0))
        for _ in range(count):
            s.send(frame)
            time.sleep(0.01)
        print("sent", count)
        """

    /// Listens on eth0 for `seconds` and prints how many IPv4 frames for `address` arrived.
    static func count(framesFor address: String, seconds: Int) -> [String] {
        let sniffer = """
            import socket, sys, time
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
            s.bind(("eth0", 0))
            s.settimeout(0.2)
            target, end, seen = socket.inet_aton(sys.argv[1]), time.time() + float(sys.argv[2]), 0
            while time.time() < end:
                try:
                    frame = s.recv(65535)
                except socket.timeout:
                    continue
                if frame[12:14] == b"\\x08\\x00" and frame[30:34] == target:
                    seen += 1
            print(seen)
            """
        return ["python3", "-c", sniffer, address, "\(seconds)"]
    }

    /// `count` IPv4/UDP frames with the given Ethernet and IP addresses.
    static func udp(count: Int, to destinationMAC: String, from sourceMAC: String, ip source: String, to destination: String) -> [String] {
        ["python3", "-c", script, "udp", "\(count)", destinationMAC, sourceMAC, source, destination]
    }

    /// `count` ARP replies claiming that `senderIP` is at `senderMAC`.
    static func arpReply(
        count: Int, to destinationMAC: String, from sourceMAC: String, senderMAC: String, senderIP: String, targetMAC: String, targetIP: String
    ) -> [String] {
        ["python3", "-c", script, "arp", "\(count)", destinationMAC, sourceMAC, senderMAC, senderIP, targetMAC, targetIP]
    }
}
