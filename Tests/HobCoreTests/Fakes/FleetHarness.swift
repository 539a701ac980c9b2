// A Fleet on fakes: the real actor, a real SQLite store in a temporary directory, and the
// in-memory runtime and storage. No root, no btrfs, no namespaces: lifecycle logic alone.
import Foundation
import HobAPI
import HobCore
import HobStore
import Logging

struct FleetHarness {
    let directory: String
    let config: DaemonConfig
    let store: GRDBSpriteStore
    let storage: FakeStorage
    let runtime: FakeRuntime
    /// A second runtime ("other"), for sprites created with `runtime: "other"`.
    let other: FakeRuntime
    let fleet: Fleet

    static let image = "test-image"

    init() async throws {
        // Short: unix socket paths must stay under 108 bytes.
        let directory = "/tmp/hob-fleet-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: "\(directory)/disks", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(directory)/agents", withIntermediateDirectories: true)
        let storage = FakeStorage(directory: "\(directory)/disks", image: Self.image)
        let runtime = FakeRuntime(directory: "\(directory)/agents", storage: storage)
        let other = FakeRuntime(name: "other", directory: "\(directory)/agents", storage: storage)
        try await self.init(
            directory: directory, store: GRDBSpriteStore(path: "\(directory)/hob.db"), storage: storage, runtime: runtime, other: other,
            available: [runtime, other])
    }

    private init(
        directory: String, store: GRDBSpriteStore, storage: FakeStorage, runtime: FakeRuntime, other: FakeRuntime, available: [FakeRuntime]
    ) async throws {
        self.directory = directory
        config = DaemonConfig(
            stateDirectory: directory, listenHost: "127.0.0.1", listenPort: 0, instance: "fake", subnet: IPv4Subnet("10.250.0.0/16")!,
            imageCacheDirectory: "\(directory)/images", initExecutable: "/bin/true", debianMirror: "")
        self.store = store
        self.storage = storage
        self.runtime = runtime
        self.other = other
        var logger = Logger(label: "fleet-test")
        logger.logLevel = .critical
        fleet = Fleet(
            config: config, store: store, storage: storage, runtimes: try Runtimes(available, standard: runtime.name), image: Self.image,
            logger: logger)
        try await fleet.start()
    }

    /// A second daemon on the same store, storage and runtime, as after a restart (the first
    /// one must have been shut down, or killed: then nothing of it runs any more).
    /// `withOther: false`: the restarted daemon lacks the "other" runtime.
    func restarted(withOther: Bool = true) async throws -> FleetHarness {
        try await FleetHarness(
            directory: directory, store: GRDBSpriteStore(path: "\(directory)/hob.db"), storage: storage, runtime: runtime, other: other,
            available: withOther ? [runtime, other] : [runtime])
    }

    @discardableResult
    func create(_ name: String, runtime: String? = nil) async throws -> SpriteInfo {
        try await fleet.create(CreateSpriteRequest(name: name, runtime: runtime))
    }

    func id(_ name: String) async throws -> String { try await fleet.record(name).id }
    func status(_ name: String) async throws -> SpriteStatus { try await fleet.info(name).status }

    /// Waits until `condition` holds; the fleet reacts to some events (an init's exit) in a task
    /// of its own. Gives up after a generous while, so a bug fails the test rather than hanging it.
    func eventually(_ condition: () async throws -> Bool) async throws -> Bool {
        for _ in 0..<500 {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    func close() async {
        await fleet.shutdown()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
