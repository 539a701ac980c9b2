// How the port watch turns two looks at a sprite's listeners into port_opened / port_closed.
import Testing

@testable import HobServer

@Suite("Port watch: changes between polls")
struct PortChangeTests {
    static func open(_ port: UInt16, pid: Int32 = 7, lineage: [Int32] = [7, 3]) -> OpenPort {
        OpenPort(port: port, address: "0.0.0.0", pid: pid, lineage: lineage)
    }

    @Test("a new port is opened, a vanished one closed, an unchanged one silent, in port order")
    func diff() {
        let before = [80: Self.open(80), 443: Self.open(443)].reduce(into: [UInt16: OpenPort]()) { $0[UInt16($1.key)] = $1.value }
        let after = [443: Self.open(443), 22: Self.open(22)].reduce(into: [UInt16: OpenPort]()) { $0[UInt16($1.key)] = $1.value }
        #expect(PortMonitor.changes(from: before, to: after) == [.opened(Self.open(22)), .closed(Self.open(80))])
    }

    @Test("a port belongs to a session when the session's process is the owner or one of its ancestors")
    func sessionMembership() {
        let port = Self.open(3000, pid: 12, lineage: [12, 9, 5])
        #expect(port.belongs(toSession: 12))
        #expect(port.belongs(toSession: 5))
        #expect(!port.belongs(toSession: 6))
        #expect(!port.belongs(toSession: 0))
    }
}
