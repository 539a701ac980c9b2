// `hob proxy`: port mappings and argument checks. No daemon is contacted.

import ArgumentParser
@testable import HobCLI
import Testing

@Suite("hob proxy arguments")
struct ProxyCommandTests {
    @Test("PORT and LOCAL:REMOTE; anything else is refused")
    func mappings() throws {
        #expect(try Proxy.parse(mapping: "8080") == Proxy.Mapping(local: 8080, remote: 8080))
        #expect(try Proxy.parse(mapping: "3001:3000") == Proxy.Mapping(local: 3001, remote: 3000))
        for bad in ["", "0", "70000", "a", "1:2:3", ":80", "80:", "-1"] {
            #expect(throws: (any Error).self, "\(bad)") { try Proxy.parse(mapping: bad) }
        }
    }

    @Test("at least one port, each local port once")
    func validation() throws {
        #expect(try Proxy.parse(["demo", "8080", "9000:80"]).mappings == ["8080", "9000:80"])
        #expect(throws: (any Error).self) { try Proxy.parse(["demo"]) }
        #expect(throws: (any Error).self) { try Proxy.parse(["demo", "8080", "8080:80"]) }
        #expect(try Proxy.parse(["demo", "22", "--host", "10.0.0.5"]).host == "10.0.0.5")
    }
}
