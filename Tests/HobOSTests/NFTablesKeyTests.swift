// Keys of nf_tables set elements as the kernel stores them: a wrong length or padding would be
// refused (EINVAL) or, worse, never match the packets the set is meant to catch.
import HobOS
import Testing

@Suite("nf_tables set keys")
struct NFTablesKeyTests {
    @Test("an interface name is 16 bytes, zero-padded; empty, too long or NUL-holding names are refused")
    func interfaceName() {
        let key = NFTablesKey.interfaceName("hv0123456789ab")
        #expect(key?.count == 16)
        #expect(key.map { Array($0.prefix(14)) } == Array("hv0123456789ab".utf8))
        #expect(key.map { Array($0.suffix(2)) } == [0, 0])
        #expect(NFTablesKey.interfaceName("") == nil)
        #expect(NFTablesKey.interfaceName(String(repeating: "a", count: 16)) == nil)
        #expect(NFTablesKey.interfaceName("a\u{0}b") == nil)
    }

    @Test("IPv4 addresses in network order; anything else is refused")
    func ipv4() {
        #expect(NFTablesKey.ipv4("10.230.0.7") == [10, 230, 0, 7])
        for bad in ["10.230.0", "10.230.0.256", "10.230..7", "a.b.c.d", "1.2.3.4.5", " 1.2.3.4", "+1.2.3.4"] {
            #expect(NFTablesKey.ipv4(bad) == nil, "\(bad)")
        }
    }

    @Test("MAC addresses are six hex octets")
    func mac() {
        #expect(NFTablesKey.mac("02:ab:CD:00:01:ff") == [0x02, 0xab, 0xcd, 0x00, 0x01, 0xff])
        for bad in ["02:ab:cd:00:01", "02:ab:cd:00:01:ff:00", "2:ab:cd:00:01:ff", "02:ab:cd:00:01:fg", "02-ab-cd-00-01-ff"] {
            #expect(NFTablesKey.mac(bad) == nil, "\(bad)")
        }
    }

    @Test("each part of a concatenation is padded to 4 bytes")
    func concatenation() {
        let name = NFTablesKey.interfaceName("hv1")!
        #expect(NFTablesKey.concatenation([name, [10, 0, 0, 1]]).count == 20)
        let withMAC = NFTablesKey.concatenation([name, [1, 2, 3, 4, 5, 6]])
        #expect(withMAC.count == 24)
        #expect(Array(withMAC[16..<24]) == [1, 2, 3, 4, 5, 6, 0, 0])
    }
}
