import HobCore
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
