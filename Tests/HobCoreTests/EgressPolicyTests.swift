import HobAPI
@testable import HobCore
import Testing

@Suite("Network policy rules")
struct EgressMatcherTests {
    func matcher(_ rules: [NetworkPolicyRule]) -> EgressMatcher { EgressMatcher(NetworkPolicy(rules: rules)) }

    @Test("an exact rule matches only that host")
    func exact() {
        let m = matcher([.allow("example.com")])
        #expect(m.allows("example.com"))
        #expect(m.allows("EXAMPLE.com."))
        #expect(!m.allows("www.example.com"))
        #expect(!m.allows("badexample.com"))
    }

    @Test("*.domain matches subdomains at any depth, not the apex")
    func wildcard() {
        let m = matcher([.allow("*.npmjs.org")])
        #expect(m.allows("registry.npmjs.org"))
        #expect(m.allows("a.b.npmjs.org"))
        #expect(!m.allows("npmjs.org"))
        #expect(!m.allows("evilnpmjs.org"))
    }

    @Test("a name no rule matches is denied")
    func noMatchDenies() {
        let m = matcher([.allow("github.com")])
        #expect(!m.allows("example.org"))
        #expect(!m.allows(""))
    }

    @Test("the most specific rule wins, whatever the order")
    func specificity() {
        let m = matcher([.deny("*"), .allow("*.example.com"), .deny("*.internal.example.com"), .allow("ok.internal.example.com")])
        #expect(m.allows("www.example.com"))
        #expect(!m.allows("db.internal.example.com"))
        #expect(m.allows("ok.internal.example.com"))
        #expect(!m.allows("example.org"))
        let allowAll = matcher([.allow("*"), .deny("tracker.example.com")])
        #expect(allowAll.allows("anything.test"))
        #expect(!allowAll.allows("tracker.example.com"))
    }

    @Test("deny wins a tie between equally specific rules")
    func tie() {
        #expect(!matcher([.allow("x.com"), .deny("x.com")]).allows("x.com"))
        #expect(!matcher([.deny("*.x.com"), .allow("*.x.com")]).allows("a.x.com"))
    }

    @Test("defaults allow the common developer hosts, and an explicit deny overrides them")
    func defaults() {
        let m = matcher([.defaults, .deny("*")])
        for host in [
            "github.com", "raw.githubusercontent.com", "registry.npmjs.org", "pypi.org", "files.pythonhosted.org", "deb.debian.org",
            "security.debian.org", "registry-1.docker.io", "static.crates.io", "rubygems.org", "proxy.golang.org", "api.openai.com",
            "api.anthropic.com", "generativelanguage.googleapis.com",
        ] {
            #expect(m.allows(host), "\(host)")
        }
        #expect(!m.allows("example.com"))
        #expect(!matcher([.defaults, .deny("github.com")]).allows("github.com"))
    }
}

@Suite("Network policy validation")
struct EgressValidationTests {
    func rejects(_ rules: [NetworkPolicyRule]) -> Bool {
        do {
            _ = try EgressPolicy.validate(NetworkPolicy(rules: rules))
            return false
        } catch let error as HobError {
            return error.code == .invalidArgument
        } catch {
            return false
        }
    }

    @Test("valid rules are kept, domains lowercased without a trailing dot")
    func valid() throws {
        let policy = try EgressPolicy.validate(NetworkPolicy(rules: [.allow("GitHub.com."), .allow("*.npmjs.org"), .defaults, .deny("*")]))
        #expect(policy.rules == [.allow("github.com"), .allow("*.npmjs.org"), .defaults, .deny("*")])
        #expect(try EgressPolicy.validate(NetworkPolicy()).rules.isEmpty)
    }

    @Test("an unknown action is rejected")
    func unknownAction() {
        #expect(rejects([NetworkPolicyRule(domain: "x.com", action: "block")]))
        #expect(rejects([NetworkPolicyRule(domain: "x.com")]))
    }

    @Test("a rule with both domain and include, or neither, is rejected")
    func shape() {
        #expect(rejects([NetworkPolicyRule(domain: "x.com", action: "allow", include: "defaults")]))
        #expect(rejects([NetworkPolicyRule()]))
        #expect(rejects([NetworkPolicyRule(action: "allow")]))
    }

    @Test("bad domain patterns are rejected", arguments: ["", "*x.com", "x.*.com", "*.", "a..b", "-a.com", "a b.com", "x.com/path", "*.*", "é.com", String(repeating: "a", count: 64) + ".com"])
    func badPattern(_ pattern: String) {
        #expect(rejects([.allow(pattern)]))
    }

    @Test("an unknown include is rejected")
    func unknownInclude() {
        #expect(rejects([NetworkPolicyRule(include: "everything")]))
    }

    @Test("more than 1000 rules are rejected")
    func tooMany() {
        #expect(rejects(Array(repeating: .allow("x.com"), count: 1001)))
        #expect(!rejects(Array(repeating: .allow("x.com"), count: 1000)))
    }
}

@Suite("nftables set listings")
struct SetListingTests {
    @Test("address pairs are read from `nft list set`, with or without timeouts")
    func pairs() {
        let text = """
            table inet hob {
            \tset allowed {
            \t\ttype ipv4_addr . ipv4_addr
            \t\tflags timeout
            \t\telements = { 10.77.0.2 . 198.18.4.2 timeout 1m expires 59s,
            \t\t\t     10.77.0.3 . 1.2.3.4 timeout 1h expires 59m }
            \t}
            }
            """
        let pairs = HostNetwork.pairs(inSetListing: text)
        #expect(pairs.map(\.source) == ["10.77.0.2", "10.77.0.3"])
        #expect(pairs.map(\.destination) == ["198.18.4.2", "1.2.3.4"])
        #expect(HostNetwork.pairs(inSetListing: "table inet hob { set allowed { type ipv4_addr . ipv4_addr } }").isEmpty)
    }

    @Test("private and special ranges are blocked; public addresses are not")
    func blocked() {
        for ip in ["10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "100.64.0.1", "127.0.0.1", "169.254.169.254", "224.0.0.1", "255.255.255.255", "0.1.2.3"] {
            #expect(DNSForwarder.isBlocked(ip), "\(ip)")
        }
        for ip in ["8.8.8.8", "172.32.0.1", "198.18.0.2", "100.128.0.1"] {
            #expect(!DNSForwarder.isBlocked(ip), "\(ip)")
        }
    }
}
