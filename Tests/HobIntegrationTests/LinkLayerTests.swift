// Layer 2: root in a sprite owns its network namespace. The default privileges profile keeps it
// from changing its MAC or opening packet sockets, but the privileged profile gives it both (and a
// bug past the filter would too), so the attacks run in privileged sprites. Each sprite's port on
// the bridge is pinned to the sprite's MAC (Ethernet source and ARP sender), so a sprite that takes
// its neighbour's MAC loses its own connectivity and nothing of the neighbour's.
import Foundation
import Testing

extension HobIntegration {
    @Suite("Link layer", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct LinkLayerTests {
        @Test("eth0 has a fixed, locally administered unicast MAC that a cold reboot keeps")
        func fixedMAC() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let mac = try await daemon.mac(of: name)
                let first = try #require(UInt8(mac.prefix(2), radix: 16), "\(mac)")
                #expect(first & 0x02 == 0x02 && first & 0x01 == 0, "\(mac) is not locally administered unicast")
                let port = try await daemon.bridgePort(of: name)
                #expect(try await daemon.bridgeFDB().contains { $0.hasPrefix("\(mac) dev \(port) ") && $0.contains(" static") })

                #expect(try await daemon.sleep(name, state: "cold").status == 200)
                #expect(try await daemon.status(name) == "cold")
                #expect(try await daemon.mac(of: name) == mac)
            }
        }

        @Test("after kill -9 and a restart, an adopted sprite is pinned again: same MAC, and its frames pass")
        func adoptedStaysPinned() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                try await daemon.makePrivileged(name)  // to flush its neighbour table below
                let mac = try await daemon.mac(of: name)
                #expect(try await daemon.sh(name, "(sleep 7777 >/dev/null 2>&1 &)").succeeded)

                await daemon.kill9()
                try await daemon.restart()

                let survived = try await daemon.exec(name, ["pgrep", "-f", "^sleep 7777$"])
                #expect(survived.succeeded, "the sprite was not adopted: \(survived)")
                #expect(try await daemon.mac(of: name) == mac)
                let port = try await daemon.bridgePort(of: name)
                #expect(try await daemon.bridgeFDB().contains { $0.hasPrefix("\(mac) dev \(port) ") && $0.contains(" static") })
                // A fresh ARP exchange with the gateway passes the rebuilt table's pins.
                #expect(try await daemon.sh(name, "ip neigh flush dev eth0").succeeded)
                let gateway = try await daemon.gateway(of: name)
                #expect(!gateway.mac.isEmpty)
            }
        }

        @Test("a sprite that takes its neighbour's MAC reaches nothing, and the neighbour keeps its traffic")
        func stolenMAC() async throws {
            let daemon = try DaemonFixture.shared()
            try await EgressTarget.with { target in
                try await daemon.withSprite { attacker in
                    try await daemon.withSprite { neighbour in
                        try await daemon.makePrivileged(attacker)
                        let fetch = "curl -s -S -m 3 \(target.url)"
                        #expect(try await daemon.sh(attacker, fetch).stdout == TinyHTTPServer.response)
                        #expect(try await daemon.sh(neighbour, fetch).stdout == TinyHTTPServer.response)
                        let stolen = try await daemon.mac(of: neighbour)
                        let neighbourPort = try await daemon.bridgePort(of: neighbour)
                        let attackerPort = try await daemon.bridgePort(of: attacker)
                        let attackerAddress = try await daemon.address(of: attacker)
                        let gateway = try await daemon.gateway(of: attacker)
                        let dropped = try await daemon.bridgeRuleCounter("ether saddr != @macs")

                        let changed = try await daemon.sh(attacker, "ip link set eth0 address \(stolen) && ip neigh flush dev eth0")
                        #expect(changed.succeeded, "\(changed)")
                        #expect(try await daemon.mac(of: attacker) == stolen)

                        // The attacker's traffic goes nowhere: neither through ARP and IP as usual,
                        // nor as forged frames straight to the gateway's MAC; meanwhile the
                        // neighbour fetches as before, and none of its traffic reaches the attacker.
                        let neighbourAddress = try await daemon.address(of: neighbour)
                        async let intercepted = daemon.exec(attacker, RawFrames.count(framesFor: neighbourAddress, seconds: 5))
                        async let flood = daemon.exec(
                            attacker, RawFrames.udp(count: 200, to: gateway.mac, from: stolen, ip: attackerAddress, to: target.address))
                        try await Task.sleep(for: .milliseconds(500))
                        let neighbourFetches = try await (0..<3).asyncMap { _ in try await daemon.sh(neighbour, fetch) }
                        let flooded = try await flood
                        #expect(flooded.succeeded, "\(flooded)")
                        for fetched in neighbourFetches { #expect(fetched.stdout == TinyHTTPServer.response, "\(fetched)") }
                        let sniffed = try await intercepted
                        #expect(sniffed.succeeded && sniffed.stdout.trimmed == "0", "frames for the neighbour reached the attacker: \(sniffed)")
                        let attackerFetch = try await daemon.sh(attacker, fetch)
                        #expect(!attackerFetch.succeeded, "the sprite with a stolen MAC still reached \(target.url)")

                        #expect(try await daemon.bridgeRuleCounter("ether saddr != @macs") >= dropped + 200)
                        // The bridge never learned the neighbour's MAC on the attacker's port.
                        let entries = try await daemon.bridgeFDB().filter { $0.hasPrefix(stolen + " ") }
                        #expect(entries.contains { $0.contains("dev \(neighbourPort) ") }, "\(entries)")
                        #expect(!entries.contains { $0.contains("dev \(attackerPort) ") }, "\(entries)")
                        #expect(try await daemon.sh(neighbour, fetch).stdout == TinyHTTPServer.response)
                    }
                }
            }
        }

        @Test("IPv4 to broadcast and multicast MACs is dropped")
        func groupDestinations() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                try await daemon.makePrivileged(name)
                let mac = try await daemon.mac(of: name)
                let address = try await daemon.address(of: name)
                let rule = "ether daddr & 01:00:00:00:00:00 == 01:00:00:00:00:00"
                let dropped = try await daemon.bridgeRuleCounter(rule)
                for (destinationMAC, destination) in [("01:00:5e:00:00:fb", "224.0.0.251"), ("ff:ff:ff:ff:ff:ff", "255.255.255.255")] {
                    let sent = try await daemon.exec(name, RawFrames.udp(count: 5, to: destinationMAC, from: mac, ip: address, to: destination))
                    #expect(sent.succeeded, "\(sent)")
                }
                #expect(try await daemon.bridgeRuleCounter(rule) >= dropped + 10)
            }
        }

        @Test("an ARP reply naming the neighbour's MAC as sender is dropped")
        func forgedARPSender() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { attacker in
                try await daemon.withSprite { neighbour in
                    try await daemon.makePrivileged(attacker)
                    let own = try await daemon.mac(of: attacker)
                    let stolen = try await daemon.mac(of: neighbour)
                    let address = try await daemon.address(of: attacker)
                    let gateway = try await daemon.gateway(of: attacker)  // the host now has a neighbour entry for the attacker
                    #expect(try await daemon.hostNeighbourMAC(address) == own)
                    let dropped = try await daemon.bridgeRuleCounter("arp saddr ether != @macs")

                    // From its own MAC and for its own address (which the address pinning allows),
                    // it claims to be at the neighbour's MAC: the host would send its traffic there.
                    let forged = try await daemon.exec(
                        attacker,
                        RawFrames.arpReply(
                            count: 5, to: gateway.mac, from: own, senderMAC: stolen, senderIP: address, targetMAC: gateway.mac,
                            targetIP: gateway.address))
                    #expect(forged.succeeded, "\(forged)")

                    #expect(try await daemon.bridgeRuleCounter("arp saddr ether != @macs") >= dropped + 5)
                    try await Task.sleep(for: .milliseconds(300))
                    #expect(try await daemon.hostNeighbourMAC(address) == own)
                }
            }
        }
    }
}

extension Sequence where Element: Sendable {
    /// `map` with an async transform, one element after another.
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
