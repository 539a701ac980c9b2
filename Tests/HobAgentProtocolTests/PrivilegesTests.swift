import HobAgentProtocol
import Testing

@Suite("Privileges")
struct PrivilegesTests {
    @Test("the standard profile keeps a developer's capabilities and none of the administrative ones")
    func standardCapabilities() {
        let caps = SpritePrivileges.standard.capabilities
        for kept in [Capability.chown, Capability.dacOverride, Capability.setuid, Capability.setgid, Capability.netBindService, Capability.netRaw] {
            #expect(caps & (1 << UInt64(kept)) != 0, "capability \(kept) is dropped")
        }
        for dropped in [
            Capability.sysAdmin, Capability.netAdmin, Capability.sysPtrace, Capability.dacReadSearch, Capability.sysModule,
            Capability.sysRawio, Capability.bpf, Capability.perfmon, Capability.mknod, Capability.sysBoot,
        ] {
            #expect(caps & (1 << UInt64(dropped)) == 0, "capability \(dropped) is kept")
        }
    }

    @Test("profiles nest: minimal ⊂ standard ⊂ privileged")
    func profilesNest() {
        let minimal = SpritePrivileges(profile: .minimal).capabilities
        let standard = SpritePrivileges(profile: .standard).capabilities
        let privileged = SpritePrivileges(profile: .privileged).capabilities
        #expect(minimal & standard == minimal && minimal != standard)
        #expect(standard & privileged == standard && standard != privileged)
        #expect(privileged == (1 << 41) - 1)
    }

    @Test("the command-line form round-trips")
    func argumentRoundTrip() {
        for p in [
            SpritePrivileges.standard, SpritePrivileges(profile: .minimal, noNewPrivileges: true),
            SpritePrivileges(profile: .privileged, devices: ["fuse", "net/tun"]),
        ] {
            #expect(SpritePrivileges(argument: p.argument) == p, "\(p.argument)")
        }
        for bad in ["", "root,-", "standard", "standard,maybe"] { #expect(SpritePrivileges(argument: bad) == nil, "\(bad)") }
    }

    @Test("only catalogued devices may be asked for; the basic ones are always there")
    func devices() {
        #expect(SpritePrivileges(devices: ["fuse", "null"]).problem == nil)
        #expect(SpritePrivileges(devices: ["sda"]).problem != nil)
        #expect(SpritePrivileges(devices: ["../console"]).problem != nil)
        let nodes = SpritePrivileges(devices: ["kvm"]).deviceNodes.map(\.name)
        #expect(nodes.contains("null") && nodes.contains("kvm") && !nodes.contains("fuse"))
        #expect(!SpritePrivileges.standard.deviceNodes.contains { $0.name == "console" })
        #expect(DeviceNode("pts", 136, nil).cgroupRule == "c 136:* rwm")
    }

    @Test("the boot configuration carries the privileges")
    func bootConfig() throws {
        let config = BootConfig(
            hostname: "a", address: "10.0.0.2", prefixLength: 24, gateway: "10.0.0.1", nameservers: ["1.1.1.1"],
            privileges: SpritePrivileges(profile: .minimal, noNewPrivileges: true, devices: ["fuse"]))
        #expect(try BootConfig(decoding: config.encoded()) == config)
    }
}
