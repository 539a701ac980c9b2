// Network: one bridge per daemon, a veth per running sprite, NAT egress, and filters.
//
// What Hob adds to the host is named after the daemon's instance: bridge `<instance>0`, the
// nftables table `inet <instance>`, and veths `hv<sprite-id>`. All of it is created on start and
// removed on shutdown; rules Hob did not create are never touched. Bridge ports are isolated, so
// sprites cannot reach each other at L2; the forward chain stops routed sprite↔sprite traffic,
// and the input chain keeps sprites off every service of the host, the API above all.
// Root in a sprite owns its network namespace and could claim another sprite's address or MAC, so
// the `bridge <instance>` table pins each port to its sprite's IPv4 address (IP and ARP) and MAC
// (Ethernet source and ARP sender), and lets nothing but unicast IPv4 and ARP leave a sprite.
// Frames are dropped in prerouting, before the bridge learns their source, and sprite ports do not
// learn at all: each port has a static FDB entry for its sprite's MAC, so the host's frames for a
// sprite go to that sprite's port only (never flooded to the others). Link-local destinations
// (169.254.0.0/16, where cloud metadata services hand out the host's credentials) are not forwarded.
import Dispatch
import Foundation
import Glibc
import HobOS
import Logging
import Synchronization

public struct HostNetwork: Sendable {
    public let bridge: String
    public let subnet: IPv4Subnet
    public let table: String
    /// Resolvers the sprites use (the host's, minus loopback ones a sprite cannot reach).
    public let nameservers: [String]
    let forwardingStatePath: String
    /// The secrets gateway's port on the bridge address (HobServer's SecretGateway.swift).
    let gatewayPort: Int
    /// The egress policies of running sprites, by address (HostNetwork+Egress.swift).
    public let egress = EgressRegistry()
    /// Veths being deleted in the background (`detach`).
    let deletions = LinkDeletions()

    public static func setUp(config: DaemonConfig, logger: Logger) async throws -> HostNetwork {
        let network = HostNetwork(
            bridge: config.bridgeName, subnet: config.subnet, table: config.instance,
            nameservers: hostNameservers(), forwardingStatePath: "\(HostNetwork.runtimeDirectory)/ip_forward.saved",
            gatewayPort: config.gatewayPort)
        try await network.createBridge()
        try await network.enableForwarding()
        try await network.installRules()
        if network.nameservers.isEmpty {
            logger.warning("no non-loopback DNS server found in /etc/resolv.conf; sprites will have no DNS")
        }
        logger.info(
            "network ready",
            metadata: ["bridge": "\(network.bridge)", "subnet": "\(network.subnet)", "dns": "\(network.nameservers.joined(separator: ","))"])
        return network
    }

    func createBridge() async throws {
        let exists = try await HostCommand.run("ip", ["link", "show", "dev", bridge], allowFailure: true).status == 0
        if !exists {
            try await HostCommand.run("ip", ["link", "add", bridge, "type", "bridge"])
        }
        try await HostCommand.run("ip", ["addr", "replace", "\(subnet.gateway)/\(subnet.prefixLength)", "dev", bridge])
        try await HostCommand.run("ip", ["link", "set", bridge, "up"])
    }

    /// Host-wide runtime state shared by every daemon on this machine (tmpfs: gone at reboot, as
    /// sysctls are). Each daemon holds `<instance>.lock` here while it runs.
    public static let runtimeDirectory = "/run/hob"

    /// Routing is needed for NAT. The value from before the first running daemon is saved so that
    /// the last one to stop can put it back.
    func enableForwarding() async throws {
        let path = "/proc/sys/net/ipv4/ip_forward"
        let current = (try? Files.read(path))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "0"
        if !Files.exists(forwardingStatePath) { try Files.writeAtomically(forwardingStatePath, current) }
        if current != "1" { try Files.writeKernel(path, "1") }
    }

    var ruleset: String {
        """
        table bridge \(table) {
            set ports { type ifname; }
            set addresses { type ifname . ipv4_addr; }
            set macs { type ifname . ether_addr; }
            chain prerouting {
                type filter hook prerouting priority filter; policy accept;
                iifname @ports iifname . ether saddr != @macs counter drop
                iifname @ports ether type != { ip, arp } counter drop
                iifname @ports ether type ip ether daddr & 01:00:00:00:00:00 == 01:00:00:00:00:00 counter drop
                iifname @ports ether type ip iifname . ip saddr != @addresses counter drop
                iifname @ports ether type arp arp htype != 1 counter drop
                iifname @ports ether type arp arp ptype != ip counter drop
                iifname @ports ether type arp arp hlen != 6 counter drop
                iifname @ports ether type arp arp plen != 4 counter drop
                iifname @ports ether type arp iifname . arp saddr ip != @addresses counter drop
                iifname @ports ether type arp iifname . arp saddr ether != @macs counter drop
            }
        }
        table inet \(table) {
        \(egressSets)
            chain input {
                type filter hook input priority filter; policy accept;
                iifname "\(bridge)" ct state established,related accept
        \(egressInputRules)
                iifname "\(bridge)" ip daddr \(subnet.gateway) tcp dport \(gatewayPort) accept
                iifname "\(bridge)" counter drop
            }
            chain forward {
                type filter hook forward priority filter; policy accept;
        \(egressForwardRules)
                iifname "\(bridge)" oifname "\(bridge)" counter drop
                iifname "\(bridge)" ip daddr 169.254.0.0/16 counter drop
                oifname "\(bridge)" ct state established,related accept
                oifname "\(bridge)" counter drop
            }
        \(egressPreroutingChain)
            chain postrouting {
                type nat hook postrouting priority srcnat; policy accept;
                ip saddr \(subnet) oifname != "\(bridge)" masquerade
            }
        }

        """
    }

    /// Replaces Hob's tables atomically (create-if-missing, delete, recreate in one transaction).
    /// Adopted sprites are pinned again afterwards (`pin`).
    func installRules() async throws {
        let reset = ["bridge", "inet"].map { "table \($0) \(table) {}\ndelete table \($0) \(table)\n" }.joined()
        let script = reset + ruleset
        try await HostCommand.run("nft", ["-f", "-"], input: script)
    }

    /// Removes everything Hob added to the host's network.
    public func tearDown(logger: Logger) async {
        _ = try? await offload { [deletions] in deletions.waitAll() }
        _ = try? await HostCommand.run("nft", ["delete", "table", "inet", table], allowFailure: true)
        _ = try? await HostCommand.run("nft", ["delete", "table", "bridge", table], allowFailure: true)
        _ = try? await HostCommand.run("ip", ["link", "del", bridge], allowFailure: true)
        if !otherDaemonsRunning(), let saved = try? Files.read(forwardingStatePath) {
            let value = saved.trimmingCharacters(in: .whitespacesAndNewlines)
            if value != "1" { try? Files.writeKernel("/proc/sys/net/ipv4/ip_forward", value) }
            Files.remove(forwardingStatePath)
        }
        logger.info("network removed", metadata: ["bridge": "\(bridge)", "table": "inet \(table)"])
    }

    /// Whether another Hob daemon still holds its instance lock (and so still needs forwarding).
    func otherDaemonsRunning() -> Bool {
        let dir = HostNetwork.runtimeDirectory
        let locks = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".lock") && $0 != "\(table).lock" }
        return locks.contains { Files.isLockHeld("\(dir)/\($0)") }
    }

    public static func vethName(for spriteID: String) -> String { "hv" + spriteID.prefix(12) }

    /// A sprite's MAC address: fixed by the daemon's instance and the sprite's slot, so it is the
    /// same on every boot. Locally administered (0x02 set) and unicast (0x01 clear) in the first
    /// octet, then three bytes of the instance name's FNV-1a hash and the slot.
    public static func macAddress(instance: String, slot: Int) -> String {
        var hash: UInt32 = 0x811c_9dc5
        for byte in instance.utf8 {
            hash ^= UInt32(byte)
            hash = hash &* 0x0100_0193
        }
        let bytes: [UInt8] = [
            0x02, UInt8(truncatingIfNeeded: hash >> 16), UInt8(truncatingIfNeeded: hash >> 8), UInt8(truncatingIfNeeded: hash),
            UInt8(truncatingIfNeeded: slot >> 8), UInt8(truncatingIfNeeded: slot),
        ]
        return bytes.map { String(format: "%02x", $0) }.joined(separator: ":")
    }

    /// Creates the sprite's veth pair: `eth0` (with the sprite's MAC) inside the network namespace
    /// of `pid`, the host end on the bridge as an isolated port that neither learns addresses nor
    /// receives unknown unicast. Over netlink: no process spawn on the boot path.
    public func attach(spriteID: String, pid: pid_t, address: String, mac: String) async throws -> String {
        let veth = HostNetwork.vethName(for: spriteID)
        guard let macBytes = NFTablesKey.mac(mac) else {
            throw SystemError(operation: "attach sprite \(spriteID) to \(bridge)", errno: EINVAL, detail: "bad MAC address \(mac)")
        }
        // Off the cooperative threads: deleting an interface waits for RCU grace periods.
        try await offload { [self] in
            // The previous run's port, if its removal is still under way, is gone first.
            deletions.wait(veth)
            // Pinned before the port exists: its first frame already meets the filter.
            try pinNow(spriteID: spriteID, address: address, mac: mac, fdb: false)
            // A leftover of an earlier run (a crash between attach and detach) is replaced.
            try Netlink.deleteLink(veth)
            try Netlink.createVeth(host: veth, bridge: bridge, peer: "eth0", inNetworkNamespaceOf: pid, mac: macBytes)
            try Netlink.pinFDB(port: veth, mac: macBytes)
        }
        return veth
    }

    /// The bridge table's elements that pin a sprite's port (`ports`, `addresses`, `macs`).
    static func pinElements(veth: String, address: String, mac: String) -> [Netlink.SetElement]? {
        guard let name = NFTablesKey.interfaceName(veth), let ip = NFTablesKey.ipv4(address), let ether = NFTablesKey.mac(mac) else { return nil }
        return [
            Netlink.SetElement(set: "ports", key: name),
            Netlink.SetElement(set: "addresses", key: NFTablesKey.concatenation([name, ip])),
            Netlink.SetElement(set: "macs", key: NFTablesKey.concatenation([name, ether])),
        ]
    }

    /// Allows the sprite's port to send only from its own address and MAC, and (`fdb`, once the
    /// port exists) has the bridge deliver frames for that MAC to this port (static: never
    /// learned, never aged out). One nftables transaction and one netlink message.
    public func pin(spriteID: String, address: String, mac: String) async throws {
        try await offload { [self] in try pinNow(spriteID: spriteID, address: address, mac: mac, fdb: true) }
    }

    /// `pin`, blocking the calling thread for a few netlink round trips.
    func pinNow(spriteID: String, address: String, mac: String, fdb: Bool) throws {
        let veth = HostNetwork.vethName(for: spriteID)
        guard let elements = Self.pinElements(veth: veth, address: address, mac: mac), let macBytes = NFTablesKey.mac(mac) else {
            throw SystemError(operation: "pin \(veth) to \(address) and \(mac)", errno: EINVAL, detail: "bad interface name, address or MAC")
        }
        try Netlink.setElements(adding: true, family: .bridge, table: table, elements)
        if fdb { try Netlink.pinFDB(port: veth, mac: macBytes) }
    }

    /// Removes the host end (the sprite end goes with its network namespace anyway).
    public func detach(spriteID: String) async {
        let veth = HostNetwork.vethName(for: spriteID)
        // Without its port in `ports`, the address and MAC entries no longer match anything; the
        // table is rebuilt on every start, which clears such entries. The port's FDB entries go
        // with the port.
        // In the background: a stop does not wait for it (deleting an interface waits for RCU
        // grace periods), and the sprite's next `attach` does. Meanwhile the port forwards
        // nothing: its sprite's processes are gone, and its network namespace with them.
        deletions.start(veth) { [table] in
            if let name = NFTablesKey.interfaceName(veth) {
                _ = try? Netlink.setElements(adding: false, family: .bridge, table: table, [Netlink.SetElement(set: "ports", key: name)])
            }
        }
    }

    static func hostNameservers() -> [String] {
        for file in ["/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"] {
            guard let text = try? Files.read(file) else { continue }
            let servers = text.split(separator: "\n").compactMap { line -> String? in
                let parts = line.split(whereSeparator: \.isWhitespace)
                guard parts.count >= 2, parts[0] == "nameserver" else { return nil }
                let addr = String(parts[1])
                // Only IPv4 (sprites have no IPv6 yet), and not loopback (unreachable from a sprite).
                guard IPv4Subnet.parse(addr) != nil, !addr.hasPrefix("127.") else { return nil }
                return addr
            }
            if !servers.isEmpty { return servers }
        }
        return []
    }
}

/// Interfaces being deleted on background threads, by name, so that whoever needs a name again
/// (or the daemon's shutdown) can wait for its deletion to be over.
final class LinkDeletions: Sendable {
    private let pending = Mutex<[String: DispatchGroup]>([:])

    /// Runs `first`, then deletes `name`, in the background, after any deletion of it already
    /// under way.
    func start(_ name: String, first: @escaping @Sendable () -> Void = {}) {
        let group = DispatchGroup()
        group.enter()
        let earlier = pending.withLock { pending in
            defer { pending[name] = group }
            return pending[name]
        }
        // On the bounded pool: a deletion only ever waits for one submitted before it, which the
        // pool's FIFO order has started already.
        BlockingPool.shared.submit { [self] in
            earlier?.wait()
            first()
            _ = try? Netlink.deleteLink(name)
            pending.withLock { if $0[name] === group { $0[name] = nil } }
            group.leave()
        }
    }

    /// Blocks until no deletion of `name` is under way.
    func wait(_ name: String) {
        pending.withLock { $0[name] }?.wait()
    }

    /// Blocks until every deletion started so far is over.
    func waitAll() {
        for group in pending.withLock({ Array($0.values) }) { group.wait() }
    }
}
