// The seam between the Fleet and whatever isolates a sprite's processes.
//
// The Fleet decides *when* a sprite boots, sleeps, wakes, stops or is checkpointed; a Runtime
// knows *how*. Everything the Fleet and the API edge need from a running sprite goes through here
// or through the `AgentEndpoint` the runtime hands out with it: nothing above this protocol knows
// a socket path, a uid range, a cgroup or a slot count.
//
// Implementations: NamespaceRuntime (Linux namespaces + cgroups); in tests, an in-memory fake.
// Every method is safe to call for a sprite in any state, including one half-booted before a
// crash, unless it says otherwise.
import Glibc
import HobOS

/// A booted sprite: a handle the runtime gave out at boot (or adoption) and recognises again.
public struct RunningSprite: Sendable, Equatable {
    /// The name of the runtime that booted it.
    public let runtime: String
    /// How to reach the sprite's agent (hob-init).
    public let agent: AgentEndpoint
    /// The host pid of the sprite's init: where its processes' view of /proc starts.
    public let pid: pid_t
    /// The init's start time (clock ticks since boot): with the pid, names this run and no other.
    package let startTime: UInt64
    /// The host uids and gids the sprite's users map onto during this run (namespace runtime).
    package let hostIDs: HostIDRange

    package init(runtime: String, agent: AgentEndpoint, pid: pid_t, startTime: UInt64, hostIDs: HostIDRange) {
        self.runtime = runtime
        self.agent = agent
        self.pid = pid
        self.startTime = startTime
        self.hostIDs = hostIDs
    }

    /// Different for every run of a sprite (metering tells runs apart by it).
    public var bootID: String { "\(pid):\(startTime)" }
}

/// What a runtime can do beyond the basics every runtime offers.
public struct RuntimeCapabilities: Sendable, Equatable {
    /// The name `POST /v1/sprites` and `hob serve --runtime` use for it.
    public var name: String
    /// Checkpoints that keep running processes, not only the disk.
    public var memoryCheckpoints: Bool
    /// The most sprites one daemon can hold with it.
    public var capacity: Int

    public init(name: String, memoryCheckpoints: Bool, capacity: Int) {
        self.name = name
        self.memoryCheckpoints = memoryCheckpoints
        self.capacity = capacity
    }
}

/// The kernel's identification of a process that connected to one of the daemon's sockets.
public struct PeerCredentials: Sendable, Equatable {
    public var pid: pid_t
    public var uid: UInt32
    public var gid: UInt32

    public init(pid: pid_t, uid: UInt32, gid: UInt32) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }
}

public protocol Runtime: AnyObject, Sendable {
    var capabilities: RuntimeCapabilities { get }

    // MARK: Runs

    /// Boots the sprite from its disk. `onExit` runs once its init exits, whatever the reason.
    func boot(_ sprite: SpriteRecord, onExit: @escaping @Sendable () -> Void) async throws -> RunningSprite
    /// After a daemon restart: the sprite's run if it survived and can be trusted, else nil (the
    /// caller then cleans up). A frozen sprite cannot answer; it is trusted on its identity alone.
    func adopt(_ sprite: SpriteRecord, frozen: Bool, onExit: @escaping @Sendable () -> Void) async -> RunningSprite?
    /// Once every surviving sprite is adopted: gives back what the runs that did not survive held.
    func finishAdoption() async
    func isAlive(_ running: RunningSprite) -> Bool
    /// Asks the sprite's processes to end within `graceMs`, then removes them and everything the
    /// run held on the host. Returns what the run used, read just before it went away.
    @discardableResult
    func stop(_ sprite: SpriteRecord, running: RunningSprite?, graceMs: UInt32) async -> CgroupUsage?
    /// Removes every trace of a run of sprite `id` (processes, limits, network, sockets); returns
    /// its final usage if it had any.
    @discardableResult
    func cleanUp(_ id: String) async -> CgroupUsage?
    /// Sprites that left runs behind which the daemon does not know (for reconciliation).
    func strays(known: Set<String>) -> [String]
    /// Removes what the runtime set up on the host at start; every sprite must be stopped first.
    func tearDown()

    // MARK: Sleep

    /// Stops every process of the sprite at its next return to user space (memory kept).
    func freeze(_ id: String) async throws
    /// Thaws a frozen sprite, reporting failure.
    func wake(_ id: String) async throws
    /// Thaws the sprite if it is frozen; failures are logged.
    func thaw(_ id: String) async
    func isFrozen(_ id: String) -> Bool

    // MARK: What runs inside

    /// What the sprite's processes have used since it booted; nil when it is not running.
    func usage(_ id: String) -> CgroupUsage?
    /// Host pids of the sprite's processes (where the port watch looks for listening sockets).
    func processes(_ id: String) -> [pid_t]
    /// The sprite (its record id) that the process with these credentials runs in, if any: how
    /// the in-sprite API knows its caller.
    func spriteID(ofCaller caller: PeerCredentials) -> String?
    /// A TCP connection to `host`:`port` as seen from inside the sprite (its loopback, its
    /// network). Returns a connected, non-blocking socket.
    func connect(_ running: RunningSprite, host: String, port: Int, timeout: Duration) async throws -> Int32

    // MARK: Changes while it runs

    /// Sets the memory limit of a running or sleeping sprite; false when it has no run to apply
    /// it to (it applies at the next boot).
    func setMemoryLimit(_ id: String, bytes: Int64) throws -> Bool
    /// Applies a changed network policy to a running or sleeping sprite.
    func applyNetworkPolicy(_ sprite: SpriteRecord) async throws
    /// Applies a changed privileges policy to a running sprite (new processes get it).
    func applyPrivileges(_ sprite: SpriteRecord, running: RunningSprite) async throws
    /// Makes /.sprite/checkpoints in the running sprite show exactly these volumes of its
    /// storage, read-only, each under its name.
    func mountCheckpoints(_ sprite: SpriteRecord, running: RunningSprite, volumes: [(name: String, volume: String)]) async throws
}

extension Runtime {
    @discardableResult
    public func stop(_ sprite: SpriteRecord, running: RunningSprite?) async -> CgroupUsage? {
        await stop(sprite, running: running, graceMs: 2000)
    }

    public func connect(_ running: RunningSprite, host: String, port: Int) async throws -> Int32 {
        try await connect(running, host: host, port: port, timeout: .seconds(10))
    }
}
