// `hob policy privileges|resources get|set|reset`: what a sprite's processes may ask of the kernel
// (…/policy/privileges) and its memory limit (…/policy/resources); `hob policy network` is in PolicyNetwork.swift.

import ArgumentParser
import HobAPI
import HobClient

public struct Policy: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        abstract: "Show or change a sprite's policies.",
        subcommands: [Privileges.self, Resources.self, Network.self])

    public init() {}

    public struct Resources: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "A sprite's memory limit: shown, set (applied at once if it runs), or reset to the default.",
            discussion: """
                The limit is the sprite's ram_mb. Lowering it below what the sprite uses makes the \
                kernel reclaim memory and, failing that, kill the largest process inside the sprite.

                Examples:
                  hob policy resources get demo
                  hob policy resources set demo --memory 512
                  hob policy resources reset demo
                """,
            subcommands: [ShowLimit.self, SetLimit.self, ResetLimit.self])

        public init() {}
    }

    public struct ShowLimit: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(commandName: "get", abstract: "Show the sprite's memory limit.")
        @Argument(help: "Sprite name.") public var name: String
        @Flag(help: "Print JSON.") public var json = false
        public init() {}

        public func run() async throws {
            try await CommandFailure.reporting(.sprite(name)) {
                let policy = try await Daemon.client().resourcesPolicy(name)
                if json { try JSONOutput.print(policy) } else { print("memory: \(policy.memory?.limitMB.map { "\($0) MB" } ?? "default")") }
            }
        }
    }

    public struct SetLimit: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(commandName: "set", abstract: "Set the sprite's memory limit.")
        @Argument(help: "Sprite name.") public var name: String
        @Option(help: "Memory limit in MB (at least 64).") public var memory: Int
        public init() {}

        public func run() async throws {
            try await CommandFailure.reporting(.sprite(name)) {
                try await Daemon.client().setResourcesPolicy(name, ResourcesPolicy(memory: MemoryPolicy(limitMB: memory, autoscale: nil)))
                print("\(name): memory limit \(memory) MB")
            }
        }
    }

    public struct ResetLimit: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(commandName: "reset", abstract: "Return the sprite's memory limit to the default.")
        @Argument(help: "Sprite name.") public var name: String
        public init() {}

        public func run() async throws {
            try await CommandFailure.reporting(.sprite(name)) {
                try await Daemon.client().deleteResourcesPolicy(name)
                print("\(name): memory limit back to the default")
            }
        }
    }

    public struct Privileges: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "What a sprite's processes may ask of the kernel: its profile, no_new_privs and extra devices.",
            discussion: """
                Profiles: minimal (file and process basics), standard (the default: a developer's \
                computer without nested user namespaces, mounts or netfilter), privileged (nested \
                containers). A change applies to processes started afterwards; extra devices \
                (fuse, net/tun, kvm) appear at the sprite's next boot. docs/SECURITY.md has the details.

                Examples:
                  hob policy privileges get demo
                  hob policy privileges set demo --profile privileged
                  hob policy privileges set demo --no-new-privileges --device fuse
                  hob policy privileges reset demo
                """,
            subcommands: [ShowPrivileges.self, SetPrivileges.self, ResetPrivileges.self])

        public init() {}

        static func describe(_ name: String, _ p: PrivilegesPolicy) -> String {
            let devices = (p.devices ?? []).isEmpty ? "basic only" : (p.devices ?? []).joined(separator: ", ")
            return "\(name): profile \(p.profile ?? "standard"), no_new_privs \(p.noNewPrivileges == true ? "on" : "off"), devices \(devices)"
        }
    }

    public struct ShowPrivileges: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(commandName: "get", abstract: "Show the sprite's privileges policy.")
        @Argument(help: "Sprite name.") public var name: String
        @Flag(help: "Print JSON.") public var json = false
        public init() {}

        public func run() async throws {
            try await CommandFailure.reporting(.sprite(name)) {
                let policy = try await Daemon.client().privilegesPolicy(name)
                if json { try JSONOutput.print(policy) } else { print(Privileges.describe(name, policy)) }
            }
        }
    }

    public struct SetPrivileges: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "set", abstract: "Change the sprite's privileges policy (what is not given stays).")
        @Argument(help: "Sprite name.") public var name: String
        @Option(help: "minimal, standard or privileged.") public var profile: String?
        @Flag(inversion: .prefixedNo, help: "Set no_new_privs on every process (sudo and other setuid programs stop working).")
        public var newPrivileges: Bool?
        @Option(name: .customLong("device"), help: "An extra device node (fuse, net/tun, kvm); repeat for several.")
        public var devices: [String] = []
        @Flag(help: "Remove every extra device.") public var noDevices = false
        public init() {}

        public func validate() throws {
            if !devices.isEmpty && noDevices { throw ValidationError("--device and --no-devices cannot be combined") }
            if profile == nil && newPrivileges == nil && devices.isEmpty && !noDevices {
                throw ValidationError("nothing to change: give --profile, --no-new-privileges/--new-privileges, --device or --no-devices")
            }
        }

        public func run() async throws {
            try await CommandFailure.reporting(.sprite(name)) {
                let request = PrivilegesPolicy(
                    profile: profile, devices: noDevices ? [] : (devices.isEmpty ? nil : devices),
                    noNewPrivileges: newPrivileges.map { !$0 })
                print(Privileges.describe(name, try await Daemon.client().setPrivilegesPolicy(name, request)))
            }
        }
    }

    public struct ResetPrivileges: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "reset", abstract: "Return the sprite's privileges to the default (standard).")
        @Argument(help: "Sprite name.") public var name: String
        public init() {}

        public func run() async throws {
            try await CommandFailure.reporting(.sprite(name)) {
                print(Privileges.describe(name, try await Daemon.client().deletePrivilegesPolicy(name)))
            }
        }
    }
}
