// Host network changes over netlink (CHobShim/netlink.c): a sprite's veth pair, its bridge FDB
// entry and its elements in nf_tables sets, without spawning `ip`, `bridge` or `nft` on every boot.
import CHobShim
import Glibc

public enum Netlink {
    /// nf_tables address families (NFPROTO_*).
    public enum TableFamily: UInt8, Sendable {
        case inet = 1
        case bridge = 7
    }

    /// One element of an nf_tables set: the set's name and the key as the kernel stores it
    /// (`NFTablesKey`).
    public struct SetElement: Sendable, Equatable {
        public var set: String
        public var key: [UInt8]

        public init(set: String, key: [UInt8]) {
            self.set = set
            self.key = key
        }
    }

    /// The veth pair `host` ⇄ `peer`: `host` an isolated, non-learning, non-flooding port of
    /// `bridge`, up; `peer` inside the network namespace of `pid`, with MAC `mac`.
    public static func createVeth(host: String, bridge: String, peer: String, inNetworkNamespaceOf pid: pid_t, mac: [UInt8]) throws(SystemError) {
        guard mac.count == 6 else { throw SystemError(operation: "create veth \(host)", errno: EINVAL, detail: "a MAC address has 6 bytes") }
        try syscall("create veth \(host) on \(bridge)") {
            mac.withUnsafeBufferPointer { hob_veth_create(host, bridge, pid, peer, $0.baseAddress) }
        }
    }

    /// A static bridge FDB entry: frames for `mac` go to `port` only.
    public static func pinFDB(port: String, mac: [UInt8]) throws(SystemError) {
        guard mac.count == 6 else { throw SystemError(operation: "pin \(port) in the bridge FDB", errno: EINVAL, detail: "a MAC address has 6 bytes") }
        try syscall("pin \(port) in the bridge FDB") { mac.withUnsafeBufferPointer { hob_fdb_pin(port, $0.baseAddress) } }
    }

    /// Deletes an interface; false when there was none.
    @discardableResult
    public static func deleteLink(_ name: String) throws(SystemError) -> Bool {
        if hob_link_delete(name) == 0 { return true }
        let e = errno
        if e == ENODEV { return false }
        throw SystemError(operation: "delete interface \(name)", errno: e)
    }

    /// Adds (idempotent) or deletes (ENOENT when one is missing) set elements of a table, in one
    /// transaction.
    public static func setElements(adding: Bool, family: TableFamily, table: String, _ elements: [SetElement]) throws(SystemError) {
        let operation = "\(adding ? "add" : "delete") elements of \(elements.map(\.set).joined(separator: ", ")) in nftables table \(table)"
        guard !elements.isEmpty, elements.count <= 8 else { throw SystemError(operation: operation, errno: EINVAL, detail: "1 to 8 elements") }
        var raw: [hob_nft_element] = []
        for element in elements {
            guard !element.key.isEmpty, element.key.count <= 64 else { throw SystemError(operation: operation, errno: EINVAL, detail: "a key has 1 to 64 bytes") }
            var e = hob_nft_element()
            withUnsafeMutableBytes(of: &e.key) { buffer in
                for (i, byte) in element.key.enumerated() { buffer[i] = byte }
            }
            e.key_len = UInt32(element.key.count)
            raw.append(e)
        }
        // The set names must stay alive for the call: C strings made here, freed after.
        let names = elements.map { strdup($0.set) }
        defer { for name in names { free(name) } }
        for i in raw.indices {
            guard let name = names[i] else { throw SystemError(operation: operation, errno: ENOMEM) }
            raw[i].set = UnsafePointer(name)
        }
        try syscall(operation) { raw.withUnsafeBufferPointer { hob_nft_set_elements(adding ? 1 : 0, family.rawValue, table, $0.baseAddress, Int32($0.count)) } }
    }
}

/// Keys of nf_tables sets, laid out as the kernel compares them: an `ifname` is 16 bytes (the
/// name, zero-padded), an `ipv4_addr` 4 bytes in network order, an `ether_addr` 6; in a
/// concatenation every part is padded to a multiple of 4 bytes.
public enum NFTablesKey {
    public static func interfaceName(_ name: String) -> [UInt8]? {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, bytes.count < 16, !bytes.contains(0) else { return nil }
        return bytes + [UInt8](repeating: 0, count: 16 - bytes.count)
    }

    /// "10.1.2.3" → [10, 1, 2, 3].
    public static func ipv4(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0 >= "0" && $0 <= "9" }), let value = UInt8(part) else { return nil }
            bytes.append(value)
        }
        return bytes
    }

    /// "02:ab:…" → 6 bytes.
    public static func mac(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard part.count == 2, let value = UInt8(part, radix: 16) else { return nil }
            bytes.append(value)
        }
        return bytes
    }

    /// The parts of a concatenated key, each padded to 4 bytes.
    public static func concatenation(_ parts: [[UInt8]]) -> [UInt8] {
        parts.flatMap { $0 + [UInt8](repeating: 0, count: (4 - $0.count % 4) % 4) }
    }
}
