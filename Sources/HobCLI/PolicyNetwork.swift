// `hob policy network get|set` (Sprites' `policy/network`; `Policy` itself is in Policy.swift): which names a sprite may resolve and
// so which hosts it may reach.

import ArgumentParser
import Foundation
import HobAPI
import HobClient

extension Policy {
    public struct Network: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "network",
            abstract: "Show and change which hosts a sprite may reach.",
            discussion: """
                Without rules (the default) a sprite may reach anything. With rules, only names they allow \
                resolve (others get REFUSED), only the addresses those names resolved to are reachable, and \
                private ranges never are. The most specific rule wins (exact name, then *.suffix, then *); a \
                name no rule matches is denied. --defaults adds a built-in list of common developer hosts \
                (GitHub, npm, PyPI, Debian and Ubuntu mirrors, Docker Hub, crates.io, RubyGems, the Go proxy, \
                the major AI APIs). Changes apply at once, to open connections too.

                Examples:
                  hob policy network get demo
                  hob policy network set demo --allow github.com --allow '*.npmjs.org' --defaults --deny '*'
                  hob policy network set demo --file rules.json
                  hob policy network set demo --clear
                """,
            subcommands: [Get.self, Replace.self])

        public init() {}
    }
}

extension Policy.Network {
    public struct Get: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "Show a sprite's network policy.")

        @Argument(help: "Sprite name.")
        public var name: String

        @Flag(help: "Print the API's JSON.")
        public var json = false

        public init() {}

        public func run() async throws {
            try await CommandFailure.reporting(.sprite(name)) {
                let policy = try await Daemon.client().networkPolicy(name)
                if json {
                    try JSONOutput.print(policy)
                } else {
                    print(Self.text(policy))
                }
            }
        }

        static func text(_ policy: NetworkPolicy) -> String {
            guard policy.isRestricted else { return "unrestricted (no rules)" }
            return policy.rules.map { rule in
                if let include = rule.include { return "include \(include)" }
                return "\(rule.action ?? "?") \(rule.domain ?? "?")"
            }.joined(separator: "\n")
        }
    }

    public struct Replace: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(commandName: "set", abstract: "Replace a sprite's network policy.")

        @Argument(help: "Sprite name.")
        public var name: String

        @Option(help: ArgumentHelp("Allow a host name, *.domain (its subdomains) or *; repeatable.", valueName: "pattern"))
        public var allow: [String] = []

        @Option(help: ArgumentHelp("Deny a host name, *.domain or *; repeatable.", valueName: "pattern"))
        public var deny: [String] = []

        @Flag(help: "Include the built-in list of common developer hosts.")
        public var defaults = false

        @Option(help: ArgumentHelp("Read the policy from a JSON file ({\"rules\":[...]}), - for standard input.", valueName: "file"))
        public var file: String?

        @Flag(help: "Remove every rule: the sprite may reach anything again.")
        public var clear = false

        public init() {}

        public func validate() throws {
            let fromFlags = !allow.isEmpty || !deny.isEmpty || defaults
            let sources = [fromFlags, file != nil, clear].filter { $0 }.count
            guard sources == 1 else {
                throw ValidationError("give rules (--allow, --deny, --defaults), or --file, or --clear")
            }
        }

        public func run() async throws {
            let policy = try policyToSend()
            try await CommandFailure.reporting(.sprite(name)) {
                try await Daemon.client().setNetworkPolicy(name, policy)
                print(policy.isRestricted ? "network policy of \(name): \(policy.rules.count) rules" : "network policy of \(name): unrestricted")
            }
        }

        /// The policy the flags (or the file) describe.
        public func policyToSend() throws -> NetworkPolicy {
            if clear { return .unrestricted }
            if let file {
                let data: Data? = file == "-" ? FileHandle.standardInput.readDataToEndOfFile() : FileManager.default.contents(atPath: file)
                guard let data else { throw ValidationError("cannot read \(file)") }
                do {
                    return try JSONDecoder().decode(NetworkPolicy.self, from: data)
                } catch {
                    throw ValidationError("\(file) is not a network policy ({\"rules\":[...]}): \(error)")
                }
            }
            return NetworkPolicy(rules: allow.map(NetworkPolicyRule.allow) + (defaults ? [.defaults] : []) + deny.map(NetworkPolicyRule.deny))
        }
    }
}
