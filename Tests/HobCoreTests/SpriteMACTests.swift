@testable import HobCore
import HobOS
import Testing

@Suite("Sprite MAC addresses")
struct SpriteMACTests {
    func octets(_ mac: String) -> [UInt8] { mac.split(separator: ":").compactMap { UInt8($0, radix: 16) } }

    @Test("locally administered unicast, six octets")
    func format() {
        for slot in [0, 1, 255, 256, 16382] {
            let bytes = octets(HostNetwork.macAddress(instance: "hob", slot: slot))
            #expect(bytes.count == 6)
            #expect(bytes[0] & 0x02 == 0x02, "locally administered")
            #expect(bytes[0] & 0x01 == 0, "unicast")
        }
    }

    @Test("the same instance and slot give the same address (a rebooted sprite keeps it)")
    func deterministic() {
        #expect(HostNetwork.macAddress(instance: "hob", slot: 7) == HostNetwork.macAddress(instance: "hob", slot: 7))
    }

    @Test("slots and instances give different addresses")
    func distinct() {
        let slots = Set((0..<16383).map { HostNetwork.macAddress(instance: "hob", slot: $0) })
        #expect(slots.count == 16383)
        #expect(HostNetwork.macAddress(instance: "hob", slot: 3) != HostNetwork.macAddress(instance: "hob2", slot: 3))
    }
}

@Suite("Bridge port pinning")
struct PortPinningTests {
    @Test("a port is pinned in ports, addresses and macs, keyed by its interface name")
    func elements() throws {
        let elements = try #require(HostNetwork.pinElements(veth: "hv0123456789ab", address: "10.230.0.9", mac: "02:11:22:33:00:09"))
        #expect(elements.map(\.set) == ["ports", "addresses", "macs"])
        let name = Array("hv0123456789ab".utf8) + [0, 0]
        #expect(elements[0].key == name)
        #expect(elements[1].key == name + [10, 230, 0, 9])
        #expect(elements[2].key == name + [0x02, 0x11, 0x22, 0x33, 0x00, 0x09, 0, 0])
    }

    @Test("a bad address or MAC pins nothing")
    func refused() {
        #expect(HostNetwork.pinElements(veth: "hv1", address: "10.230.0", mac: "02:11:22:33:00:09") == nil)
        #expect(HostNetwork.pinElements(veth: "hv1", address: "10.230.0.9", mac: "02:11:22:33:00") == nil)
    }
}
