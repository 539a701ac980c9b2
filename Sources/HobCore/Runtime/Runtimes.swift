// The runtimes one daemon runs sprites in, and which one runs which sprite.
//
// A sprite keeps the runtime it was created with (`SpriteRecord.runtime`). A daemon started
// without that runtime (its program uninstalled since, say) must not quietly run the sprite in
// another: the isolation it was created for is part of what the sprite is. Such a sprite gets
// `MissingRuntime`, whose boot fails with a clear error and whose other operations find nothing.
import Glibc
import HobOS

public struct Runtimes: Sendable {
    /// By name (`RuntimeCapabilities.name`).
    public let all: [String: any Runtime]
    /// The one a create that names none gets (`hob serve --runtime`).
    public let standard: any Runtime

    /// `standard` must be one of `runtimes`.
    public init(_ runtimes: [any Runtime], standard: String) throws {
        var all: [String: any Runtime] = [:]
        for runtime in runtimes { all[runtime.capabilities.name] = runtime }
        guard let chosen = all[standard] else {
            throw HobError(.invalidArgument, "runtime \(standard) is not available here; available: \(Self.names(all))")
        }
        self.all = all
        self.standard = chosen
    }

    /// The runtimes' names, sorted, for messages.
    static func names(_ runtimes: [String: any Runtime]) -> String { runtimes.keys.sorted().joined(separator: ", ") }

    /// The runtime of `sprite`, or a stand-in that refuses to boot it.
    public func of(_ sprite: SpriteRecord) -> any Runtime {
        all[sprite.runtime] ?? MissingRuntime(name: sprite.runtime, available: Array(all.keys))
    }

    /// The runtime that handed out `running`.
    public func of(_ running: RunningSprite) -> any Runtime {
        all[running.runtime] ?? MissingRuntime(name: running.runtime, available: Array(all.keys))
    }

    /// The name a create asks for, checked: none, "default" or "dev" (the Sprites API's names; it has
    /// no other) take `inherited` (a fork's source) or the daemon's standard runtime.
    public func resolve(_ requested: String?, inheriting inherited: String? = nil) throws -> String {
        switch requested {
        case nil, "default"?, "dev"?:
            return inherited ?? standard.capabilities.name
        case let name?:
            guard all[name] != nil else {
                throw HobError(.invalidArgument, "runtime \(name) is not available on this daemon; available: \(Self.names(all))")
            }
            return name
        }
    }

    /// The most sprites every runtime can hold.
    public var capacity: Int { all.values.map(\.capabilities.capacity).min() ?? 0 }
}

/// Stands in for a runtime a sprite was created with that this daemon does not have.
final class MissingRuntime: Runtime {
    let name: String
    let available: [String]

    init(name: String, available: [String]) {
        self.name = name
        self.available = available.sorted()
    }

    var capabilities: RuntimeCapabilities { RuntimeCapabilities(name: name, memoryCheckpoints: false, capacity: 0) }

    var unavailable: HobError {
        HobError(
            .unavailable,
            "this sprite runs in runtime \(name), which this daemon does not have (it has \(available.joined(separator: ", "))); "
                + "start hob serve where \(name) is installed")
    }

    func boot(_ sprite: SpriteRecord, onExit: @escaping @Sendable () -> Void) async throws -> RunningSprite { throw unavailable }
    func adopt(_ sprite: SpriteRecord, frozen: Bool, onExit: @escaping @Sendable () -> Void) async -> RunningSprite? { nil }
    func finishAdoption() async {}
    func isAlive(_ running: RunningSprite) -> Bool { false }
    func stop(_ sprite: SpriteRecord, running: RunningSprite?, graceMs: UInt32) async -> CgroupUsage? { nil }
    func cleanUp(_ id: String) async -> CgroupUsage? { nil }
    func strays(known: Set<String>) -> [String] { [] }
    func tearDown() {}
    func freeze(_ id: String) async throws { throw unavailable }
    func wake(_ id: String) async throws { throw unavailable }
    func thaw(_ id: String) async {}
    func isFrozen(_ id: String) -> Bool { false }
    func usage(_ id: String) -> CgroupUsage? { nil }
    func processes(_ id: String) -> [pid_t] { [] }
    func spriteID(ofCaller caller: PeerCredentials) -> String? { nil }
    func connect(_ running: RunningSprite, host: String, port: Int, timeout: Duration) async throws -> Int32 { throw unavailable }
    func setMemoryLimit(_ id: String, bytes: Int64) throws -> Bool { false }
    func applyNetworkPolicy(_ sprite: SpriteRecord) async throws {}
    func applyPrivileges(_ sprite: SpriteRecord, running: RunningSprite) async throws { throw unavailable }
    func mountCheckpoints(_ sprite: SpriteRecord, running: RunningSprite, volumes: [(name: String, volume: String)]) async throws {
        throw unavailable
    }
}
