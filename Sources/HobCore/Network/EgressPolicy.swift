// The network (egress) policy of a sprite (Sprites' `policy/network`): which DNS names it may
// resolve, and so which addresses it may reach. No rules means unrestricted. With rules, the most
// specific matching rule decides a name (exact host, then the longest `*.suffix`, then `*`; deny
// wins a tie), and a name that no rule matches is denied. `{"include":"defaults"}` adds
// `EgressPolicy.defaultAllowList` as allow rules. Enforcement: DNSForwarder.swift and
// HostNetwork+Egress.swift.
import HobAPI

public enum EgressPolicy {
    /// At most this many rules per sprite (after validation, before `defaults` is expanded).
    public static let maxRules = 1000

    /// Common developer hosts, allowed by `{"include":"defaults"}`: source hosting, package
    /// registries and OS mirrors (so installing packages works), container registries, and the
    /// major AI APIs. Kept in this one place; extend it here (and in docs/API.md).
    public static let defaultAllowList: [String] = [
        // GitHub, its raw content and release downloads, and its container registry.
        "github.com", "*.github.com", "*.githubusercontent.com", "ghcr.io",
        // npm and yarn.
        "registry.npmjs.org", "*.npmjs.org", "npmjs.com", "*.npmjs.com", "registry.yarnpkg.com",
        // PyPI.
        "pypi.org", "*.pypi.org", "files.pythonhosted.org", "*.pythonhosted.org",
        // Debian and Ubuntu mirrors.
        "deb.debian.org", "security.debian.org", "*.debian.org", "archive.ubuntu.com", "security.ubuntu.com", "*.ubuntu.com",
        // Docker Hub.
        "docker.io", "*.docker.io", "docker.com", "*.docker.com",
        // Rust, Ruby and Go packages.
        "crates.io", "*.crates.io", "rubygems.org", "*.rubygems.org",
        "proxy.golang.org", "sum.golang.org", "index.golang.org",
        // AI APIs.
        "api.openai.com", "api.anthropic.com", "generativelanguage.googleapis.com",
    ]

    /// The rules as given, checked; domains are lowercased and lose a trailing dot. Throws
    /// `invalid_argument` naming the first bad rule.
    public static func validate(_ policy: NetworkPolicy) throws -> NetworkPolicy {
        guard policy.rules.count <= maxRules else {
            throw HobError(.invalidArgument, "at most \(maxRules) rules, not \(policy.rules.count)")
        }
        var checked: [NetworkPolicyRule] = []
        for (i, rule) in policy.rules.enumerated() {
            let which = "rules[\(i)]"
            switch (rule.domain, rule.include) {
            case (nil, let include?):
                guard include == "defaults" else {
                    throw HobError(.invalidArgument, "\(which): unknown include \"\(include)\" (the only preset is \"defaults\")")
                }
                guard rule.action == nil else { throw HobError(.invalidArgument, "\(which): an include rule takes no action") }
                checked.append(.defaults)
            case (let domain?, nil):
                guard let action = rule.action, action == "allow" || action == "deny" else {
                    throw HobError(.invalidArgument, "\(which): action must be \"allow\" or \"deny\", not \(rule.action.map { "\"\($0)\"" } ?? "missing")")
                }
                guard let pattern = normalizedPattern(domain) else {
                    throw HobError(.invalidArgument, "\(which): bad domain pattern \"\(domain.prefix(100))\" (use a host name, *.host or *)")
                }
                checked.append(NetworkPolicyRule(domain: pattern, action: action))
            case (_?, _?):
                throw HobError(.invalidArgument, "\(which): a rule has either domain or include, not both")
            case (nil, nil):
                throw HobError(.invalidArgument, "\(which): a rule needs domain and action, or include")
            }
        }
        return NetworkPolicy(rules: checked)
    }

    /// `*`, `*.` + host name, or a host name; lowercased, without a trailing dot. Nil if malformed.
    static func normalizedPattern(_ raw: String) -> String? {
        var text = raw.lowercased()
        if text == "*" { return text }
        if text.hasSuffix(".") { text.removeLast() }
        let host = text.hasPrefix("*.") ? String(text.dropFirst(2)) : text
        return isHostName(host) ? text : nil
    }

    /// Letters, digits, `-` and `_` in dot-separated labels of 1…63 bytes, 253 bytes at most.
    static func isHostName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, bytes.count <= 253 else { return false }
        for label in bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false) {
            guard (1...63).contains(label.count), label.first != UInt8(ascii: "-"), label.last != UInt8(ascii: "-") else { return false }
            for b in label {
                let ok = (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b == UInt8(ascii: "-") || b == UInt8(ascii: "_")
                if !ok { return false }
            }
        }
        return true
    }
}

/// A validated policy, ready to decide names.
public struct EgressMatcher: Sendable {
    struct Rule: Sendable {
        var pattern: String
        var allow: Bool
    }
    let rules: [Rule]

    /// `policy` should be validated (`EgressPolicy.validate`); rules that are not are ignored.
    public init(_ policy: NetworkPolicy) {
        var rules: [Rule] = []
        for rule in policy.rules {
            if rule.include == "defaults" {
                rules += EgressPolicy.defaultAllowList.map { Rule(pattern: $0, allow: true) }
            } else if let domain = rule.domain, let pattern = EgressPolicy.normalizedPattern(domain) {
                rules.append(Rule(pattern: pattern, allow: rule.action == "allow"))
            }
        }
        self.rules = rules
    }

    /// Whether `name` (a DNS name, any case, with or without the trailing dot) may be resolved.
    public func allows(_ name: String) -> Bool {
        var host = name.lowercased()
        if host.hasSuffix(".") { host.removeLast() }
        var best: (rank: Int, allow: Bool)?
        for rule in rules {
            guard let rank = Self.rank(of: rule.pattern, matching: host) else { continue }
            if let current = best {
                if rank > current.rank {
                    best = (rank, rule.allow)
                } else if rank == current.rank && !rule.allow {
                    best = (rank, false)
                }
            } else {
                best = (rank, rule.allow)
            }
        }
        return best?.allow ?? false
    }

    /// How specific `pattern` is for `host` (higher wins), or nil when it does not match:
    /// `*` is 0, `*.suffix` is 1 + the suffix's length (longer suffixes are more specific), an
    /// exact name beats every wildcard.
    static func rank(of pattern: String, matching host: String) -> Int? {
        if pattern == "*" { return 0 }
        if pattern.hasPrefix("*.") {
            let suffix = pattern.dropFirst(1)  // ".example.com"
            return host.hasSuffix(suffix) && host.count > suffix.count ? 1 + suffix.count : nil
        }
        return pattern == host ? 1_000 : nil
    }
}
