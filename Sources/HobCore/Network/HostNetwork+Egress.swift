// Egress enforcement in nftables, for sprites with a network policy (EgressPolicy.swift).
//
// A restricted sprite's address is in the set `restricted`. For it, in the forward chain, before
// Hob's other rules: private and special ranges are dropped; a destination is reachable only while
// `sprite . destination` is in `allowed` (added by the DNS forwarder for the addresses an allowed
// name resolved to, for the answer's TTL) or in `active` (refreshed by the traffic itself, so a
// long transfer outlives a short TTL; it lapses after 10 idle minutes); replies are held to the
// same pairs. Rules match every packet, not only new connections, so deleting a sprite's elements
// stops its open connections at their next packet. The sprite's DNS (udp/tcp 53 to any address)
// is redirected to the forwarder on the bridge gateway, the one service of the host it may reach.
// Unrestricted sprites match none of this.
import Foundation
import HobAPI
import HobOS
import Synchronization

/// The policies of running sprites by address, and when each `allowed` element expires, for the
/// DNS forwarder (which runs off the Fleet actor and must not wait for it).
public final class EgressRegistry: Sendable {
    struct State {
        var matchers: [String: EgressMatcher] = [:]
        /// `allowed` elements this daemon added, by sprite address then destination.
        var expiries: [String: [String: ContinuousClock.Instant]] = [:]
        /// The names each destination was resolved from, by sprite address (bounded; a forgotten
        /// destination is simply cut at the next policy change).
        var names: [String: [String: Set<String>]] = [:]
        /// Addresses this daemon put into `restricted` and has not taken out since (the sets start
        /// empty at every start): an unrestricted sprite elsewhere costs no nft call at boot.
        var restricted: Set<String> = []
    }
    static let maxRememberedDestinations = 4096
    /// Addresses one sprite may have in `allowed` at once.
    static let maxAllowedPerSprite = 4096
    let state = Mutex(State())

    public init() {}

    /// The matcher of the sprite at `address`; nil when it is unrestricted or not a sprite.
    public func matcher(for address: String) -> EgressMatcher? { state.withLock { $0.matchers[address] } }

    /// Installs the sprite's matcher; returns the destinations it reached that some name the new
    /// rules allow had resolved to (those stay reachable). `forgettingEarlier` drops what an earlier
    /// run on the address reached.
    func set(_ address: String, _ matcher: EgressMatcher?, forgettingEarlier: Bool) -> Set<String> {
        state.withLock { state in
            state.matchers[address] = matcher
            guard let matcher, !forgettingEarlier else {
                state.expiries[address] = nil
                state.names[address] = nil
                return []
            }
            var keep = Set<String>()
            for (destination, names) in state.names[address] ?? [:] {
                if names.contains(where: matcher.allows) {
                    keep.insert(destination)
                } else {
                    state.names[address]?[destination] = nil
                    state.expiries[address]?[destination] = nil
                }
            }
            return keep
        }
    }
}

extension HostNetwork {
    /// Always blocked for a restricted sprite, whatever its names resolve to: private, shared,
    /// loopback, link-local, multicast, reserved and "this network" ranges.
    static let blockedRanges = [
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16",
        "224.0.0.0/4", "240.0.0.0/4",
    ]
    /// How long an address from a DNS answer stays reachable: the answer's TTL, within these bounds.
    static let allowedTTLBounds: ClosedRange<UInt32> = 60...3600

    var egressSets: String {
        """
            set restricted { type ipv4_addr; }
                set allowed { type ipv4_addr . ipv4_addr; flags timeout; }
                set active { type ipv4_addr . ipv4_addr; flags dynamic, timeout; timeout 10m; size 65536; }
        """
    }

    var egressInputRules: String {
        """
                iifname "\(bridge)" ip saddr @restricted ip daddr \(subnet.gateway) udp dport 53 accept
                iifname "\(bridge)" ip saddr @restricted ip daddr \(subnet.gateway) tcp dport 53 accept
        """
    }

    var egressForwardRules: String {
        let pair = "ip saddr . ip daddr"
        return """
                    iifname "\(bridge)" ip saddr @restricted ip daddr { \(Self.blockedRanges.joined(separator: ", ")) } counter drop
                    iifname "\(bridge)" ip saddr @restricted \(pair) @allowed update @active { \(pair) }
                    iifname "\(bridge)" ip saddr @restricted \(pair) @active update @active { \(pair) }
                    iifname "\(bridge)" ip saddr @restricted \(pair) != @active counter drop
                    oifname "\(bridge)" ip daddr @restricted ip daddr . ip saddr != @active counter drop
            """
    }

    var egressPreroutingChain: String {
        """
            chain prerouting {
                    type nat hook prerouting priority dstnat; policy accept;
                    iifname "\(bridge)" ip saddr @restricted udp dport 53 dnat ip to \(subnet.gateway)
                    iifname "\(bridge)" ip saddr @restricted tcp dport 53 dnat ip to \(subnet.gateway)
                    iifname "\(bridge)" ip daddr \(subnet.gateway) tcp dport 80 redirect to :\(gatewayPort)
                }
        """
    }

    /// Puts the sprite at `address` under `policy` (unrestricted when it has no rules), at once:
    /// new DNS answers are judged by the new rules, and its `allowed` and `active` elements are
    /// removed except for addresses resolved from names the new rules still allow, so open
    /// connections the new policy forbids stop. `fresh` (a boot) starts from nothing.
    public func applyEgress(address: String, policy: NetworkPolicy, fresh: Bool = false) async throws {
        let keep = egress.set(address, policy.isRestricted ? EgressMatcher(policy) : nil, forgettingEarlier: fresh)
        let wasRestricted = egress.state.withLock { state -> Bool in
            let was = state.restricted.contains(address)
            if policy.isRestricted { state.restricted.insert(address) }
            return was
        }
        // Unrestricted now and before: nothing of it is in the sets.
        guard policy.isRestricted || wasRestricted else { return }
        // add-then-delete cannot fail on an element that is (or is not) there.
        var script = "add element inet \(table) restricted { \(address) }\n"
        if !policy.isRestricted { script += "delete element inet \(table) restricted { \(address) }\n" }
        try await HostCommand.run("nft", ["-f", "-"], input: script)
        await purgeEgressElements(of: address, keeping: keep)
        if !policy.isRestricted { egress.state.withLock { _ = $0.restricted.remove(address) } }
    }

    /// Drops restricted sprites' DNS to the gateway before the rules that accept it: for when the
    /// forwarder could not listen there, and something else might.
    public func refuseRedirectedDNS() async throws {
        let rule = "iifname \"\(bridge)\" ip saddr @restricted ip daddr \(subnet.gateway) meta l4proto { tcp, udp } th dport 53 counter drop"
        try await HostCommand.run("nft", ["-f", "-"], input: "insert rule inet \(table) input \(rule)\n")
    }

    /// Makes `destinations` (from the allowed DNS answer for `name`, with their TTLs) reachable from
    /// the sprite at `address`. An element already there is extended when the new answer outlasts it.
    public func allowDestinations(from address: String, name: String, _ destinations: [(address: String, ttl: UInt32)]) async {
        let now = ContinuousClock.now
        var fresh: [String] = []
        var extended: [String] = []
        let stillRestricted = egress.state.withLock { state -> Bool in
            guard state.matchers[address] != nil else { return false }
            for (destination, ttl) in destinations {
                let seconds = min(max(ttl, Self.allowedTTLBounds.lowerBound), Self.allowedTTLBounds.upperBound)
                let element = "\(address) . \(destination) timeout \(seconds)s"
                let expiry = now + .seconds(Int(seconds))
                if let current = state.expiries[address]?[destination], current > now {
                    // Within a few seconds is good enough: no nft call for every repeated lookup.
                    guard expiry > current + .seconds(5) else { continue }
                    extended.append(element)
                } else {
                    // A sprite resolving endless distinct addresses would make the daemon run nft
                    // for each: past the cap, new ones stay unreachable until old ones lapse.
                    if (state.expiries[address]?.count ?? 0) >= EgressRegistry.maxAllowedPerSprite {
                        state.expiries[address] = state.expiries[address]?.filter { $0.value > now }
                        guard (state.expiries[address]?.count ?? 0) < EgressRegistry.maxAllowedPerSprite else { continue }
                    }
                    fresh.append(element)
                }
                state.expiries[address, default: [:]][destination] = expiry
                if state.names[address, default: [:]].count < EgressRegistry.maxRememberedDestinations || state.names[address]?[destination] != nil {
                    state.names[address, default: [:]][destination, default: []].insert(name)
                }
            }
            return true
        }
        guard stillRestricted, !(fresh.isEmpty && extended.isEmpty) else { return }
        let set = "inet \(table) allowed"
        var script = fresh.map { "add element \(set) { \($0) }\n" }.joined()
        // An element's timeout can only be reset by replacing it.
        for element in extended {
            let key = element.components(separatedBy: " timeout ")[0]
            script += "delete element \(set) { \(key) }\nadd element \(set) { \(element) }\n"
        }
        if (try? await HostCommand.run("nft", ["-f", "-"], input: script, allowFailure: true))?.status != 0 {
            // An element expired meanwhile (so its delete failed): add them all as new.
            let adds = (fresh + extended).map { "add element \(set) { \($0) }\n" }.joined()
            _ = try? await HostCommand.run("nft", ["-f", "-"], input: adds, allowFailure: true)
        }
    }

    /// Removes the `allowed` and `active` elements whose sprite is `address`, but those to `keeping`.
    func purgeEgressElements(of address: String, keeping: Set<String> = []) async {
        for set in ["allowed", "active"] {
            // Elements may expire between listing and deleting (failing the batch): then try again.
            for _ in 0..<3 {
                guard let listing = try? await HostCommand.run("nft", ["list", "set", "inet", table, set], allowFailure: true),
                    listing.status == 0
                else { break }
                let keys = Self.pairs(inSetListing: listing.stdout).filter { $0.source == address && !keeping.contains($0.destination) }.map { "\($0.source) . \($0.destination)" }
                if keys.isEmpty { break }
                let script = "delete element inet \(table) \(set) { \(keys.joined(separator: ", ")) }\n"
                if (try? await HostCommand.run("nft", ["-f", "-"], input: script, allowFailure: true))?.status == 0 { break }
            }
        }
    }

    /// The `a . b` address pairs in the text of `nft list set`.
    static func pairs(inSetListing text: String) -> [(source: String, destination: String)] {
        guard let start = text.range(of: "elements = {") else { return [] }
        let body = text[start.upperBound...].prefix { $0 != "}" }
        return body.split(separator: ",").compactMap { entry in
            let words = entry.split(whereSeparator: \.isWhitespace)
            guard words.count >= 3, words[1] == ".", IPv4Subnet.parse(String(words[0])) != nil, IPv4Subnet.parse(String(words[2])) != nil
            else { return nil }
            return (String(words[0]), String(words[2]))
        }
    }
}
