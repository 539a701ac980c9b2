import HobCore
import Testing

@Suite("Sprite names")
struct SpriteNameTests {
    @Test("DNS labels are accepted", arguments: ["demo", "a", "my-sprite-2", String(repeating: "x", count: 63)])
    func valid(_ name: String) throws {
        try SpriteName.validate(name)
    }

    @Test("anything else is rejected", arguments: ["", "-demo", "demo-", "Demo", "de mo", "dé", "a.b", "a_b", String(repeating: "x", count: 64), "../x"])
    func invalid(_ name: String) {
        #expect(throws: HobError.self) { try SpriteName.validate(name) }
    }
}

@Suite("Environment and labels")
struct EnvironmentTests {
    @Test func names() {
        #expect(EnvironmentName.isValid("PATH"))
        #expect(EnvironmentName.isValid("_x1"))
        #expect(!EnvironmentName.isValid("1X"))
        #expect(!EnvironmentName.isValid("A-B"))
        #expect(!EnvironmentName.isValid(""))
    }

    @Test("labels are deduplicated, empty ones rejected")
    func labels() throws {
        #expect(try Labels.validate(["a", "b", "a"]) == ["a", "b"])
        #expect(throws: HobError.self) { try Labels.validate([""]) }
    }
}

@Suite("IPv4 subnets")
struct SubnetTests {
    @Test func parsing() throws {
        let s = try #require(IPv4Subnet("10.77.0.0/16"))
        #expect(s.gateway == "10.77.0.1")
        #expect(s.address(slot: 0) == "10.77.0.2")
        #expect(s.address(slot: 300) == "10.77.1.46")
        #expect(s.capacity == 65533)
    }

    @Test("host bits, bad prefixes and junk are rejected", arguments: ["10.77.0.1/16", "10.0.0.0/7", "10.0.0.0/30", "10.0.0/16", "x/16", "10.0.0.0"])
    func invalid(_ cidr: String) {
        #expect(IPv4Subnet(cidr) == nil)
    }
}

@Suite("Errors")
struct HobErrorTests {
    @Test("codes have stable API names")
    func codes() {
        #expect(HobError.Code.notFound.description == "not_found")
        #expect(HobError.Code.invalidArgument.description == "invalid_argument")
        #expect(HobError(.exists, "x").code == .exists)
    }

    @Test("wrap keeps HobErrors and names the step for others")
    func wrap() {
        struct Boom: Error {}
        #expect(HobError.wrap(HobError(.notFound, "gone"), "step").code == .notFound)
        let wrapped = HobError.wrap(Boom(), "boot sprite x")
        #expect(wrapped.code == .internalError)
        #expect(wrapped.message == "boot sprite x")
    }
}
