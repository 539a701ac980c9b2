// Sprite restart, check and upgrade, the live sprite list, and max_results up to 500 (issue 12,
// SPRITES-API.md §3.6 and §18).
import Foundation
import HobAPI
import HobClient
import Synchronization
import Testing

extension HobIntegration {
    @Suite("Sprite maintenance and the live list", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct SpriteMaintenanceTests {
        @Test("restart ends the sprite's processes and boots it again on the same disk")
        func restart() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                // /dev/shm is the running sprite's own tmpfs: it goes with the run. /root is its disk.
                #expect(try await daemon.sh(name, "echo kept > /root/kept; echo gone > /dev/shm/gone").succeeded)
                let id = try await daemon.spriteID(name)
                let response = try await daemon.http("POST", "/v1/sprites/\(name)/restart")
                #expect(response.status == 200, "\(response)")
                #expect(response.json?["sprite_name"] as? String == name && response.json?["machine_id"] as? String == id, "\(response)")
                #expect(try await daemon.status(name) == "running")
                let after = try await daemon.sh(name, "cat /root/kept; cat /dev/shm/gone 2>/dev/null || echo no-shm")
                #expect(after.stdout == "kept\nno-shm\n", "\(after)")
            }
        }

        @Test("restart of a cold sprite boots it; of an unknown sprite is 404")
        func restartCold() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { (name: String) async throws in
                #expect(try await daemon.status(name) == "cold")
                #expect(try await daemon.http("POST", "/v1/sprites/\(name)/restart").status == 200)
                #expect(try await daemon.status(name) == "running")
            }
            let missing = try await daemon.http("POST", "/v1/sprites/no-such-sprite/restart")
            #expect(missing.status == 404 && missing.errorCode != nil, "\(missing)")
        }

        @Test("check: a running sprite is healthy (disk, init, agent); a cold one hibernated and left cold")
        func check() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let cold = try await daemon.http("GET", "/v1/sprites/\(name)/check")
                #expect(cold.status == 200 && cold.json?["status"] as? String == "hibernated", "\(cold)")
                #expect(try await daemon.status(name) == "cold")
                #expect(try await daemon.sh(name, "true").succeeded)
                let running = try await daemon.http("GET", "/v1/sprites/\(name)/check")
                let json = try #require(running.json)
                #expect(json["status"] as? String == "healthy" && json["reason"] as? String == "", "\(running)")
                let id = try await daemon.spriteID(name)
                #expect(json["sprite_name"] as? String == name && json["sprite_id"] as? String == id)
                #expect(json["checks"] as? [String: String] == ["disk": "ok", "init": "ok", "agent": "ok"], "\(running)")
                #expect((json["elapsed"] as? String)?.hasSuffix("ms") == true && json["checked_at"] is String, "\(running)")
            }
            #expect(try await daemon.http("GET", "/v1/sprites/no-such-sprite/check").status == 404)
        }

        @Test("check: a running sprite whose agent is gone is unhealthy, and says why")
        func checkUnhealthy() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                #expect(try await daemon.sh(name, "true").succeeded)
                let id = try await daemon.spriteID(name)
                // The agent socket's host path: removing it cuts the daemon off from the sprite's agent.
                let socket = "\(daemon.stateDirectory)/run/\(id)/agent.sock"
                try FileManager.default.removeItem(atPath: socket)
                let check = try await daemon.http("GET", "/v1/sprites/\(name)/check")
                #expect(check.json?["status"] as? String == "unhealthy", "\(check)")
                #expect((check.json?["reason"] as? String)?.hasPrefix("agent:") == true, "\(check)")
                // A restart brings it back.
                #expect(try await daemon.http("POST", "/v1/sprites/\(name)/restart").status == 200)
                #expect(try await daemon.http("GET", "/v1/sprites/\(name)/check").json?["status"] as? String == "healthy")
            }
        }

        @Test("upgrade restarts an awake sprite onto the current environment and leaves a cold one cold; another version is 400")
        func upgrade() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let cold = try await daemon.http("POST", "/v1/sprites/\(name)/upgrade")
                #expect(cold.status == 200 && cold.json?["restarted"] as? Bool == false && cold.json?["status"] as? String == "upgraded", "\(cold)")
                #expect(try await daemon.status(name) == "cold")
                #expect(try await daemon.sh(name, "echo gone > /dev/shm/gone").succeeded)
                let awake = try await daemon.http("POST", "/v1/sprites/\(name)/upgrade", body: Data(#"{}"#.utf8))
                #expect(awake.status == 200 && awake.json?["restarted"] as? Bool == true, "\(awake)")
                #expect(try await daemon.sh(name, "test -e /dev/shm/gone || echo restarted").stdout == "restarted\n")
                let version = try #require(awake.json?["version"] as? String)
                #expect(try await daemon.http("POST", "/v1/sprites/\(name)/upgrade", body: Data(#"{"version":"\#(version)"}"#.utf8)).status == 200)
                let other = try await daemon.http("POST", "/v1/sprites/\(name)/upgrade", body: Data(#"{"version":"0.0.1-rc27"}"#.utf8))
                #expect(other.status == 400 && other.errorCode == "invalid_argument", "\(other)")
            }
        }

        @Test("max_results takes 1 to 500; 0, 501 and words are 400 with the Sprites error body")
        func maxResults() async throws {
            let daemon = try DaemonFixture.shared()
            #expect(try await daemon.http("GET", "/v1/sprites?max_results=500").status == 200)
            #expect(try await daemon.http("GET", "/v1/sprites?max_results=1").status == 200)
            for bad in ["0", "501", "-3", "many"] {
                let response = try await daemon.http("GET", "/v1/sprites?max_results=\(bad)")
                #expect(response.status == 400 && response.errorCode == "invalid_argument", "\(bad): \(response)")
            }
        }

        @Test("the live list sends every sprite, synced, then created, updated and deleted as they happen")
        func liveList() async throws {
            let daemon = try DaemonFixture.shared()
            let client = HobClient(endpoint: HobEndpoint(baseURL: daemon.baseURL, token: daemon.token))
            let prefix = "live-\(UInt32.random(in: 0...999_999))-"
            let existing = prefix + "a"
            let added = prefix + "b"
            try await daemon.cleaningUp(sprites: [existing, added]) {
                try await daemon.createSprite(existing)
                let events = try await client.watchSprites(prefix: prefix)
                let seen = EventLog()
                let reader = Task { for try await event in events { seen.withLock { $0.append(event) } } }
                defer { reader.cancel() }
                func arrives(_ what: String, _ match: @escaping @Sendable (SpriteListEvent) -> Bool) async throws {
                    let found = await eventually(timeout: .seconds(20)) { seen.withLock { $0.contains(where: match) } }
                    #expect(found, "no \(what) in \(seen.withLock { $0 })")
                }
                try await arrives("synced") { $0.type == "synced" }
                let initial = seen.withLock { $0 }
                #expect(initial.map(\.type) == ["sprite", "synced"], "\(initial)")
                #expect(initial.first?.name == existing && initial.first?.status == .cold && initial.last?.org.name.isEmpty == false)

                try await daemon.createSprite(added)
                try await arrives("created") { $0.type == "created" && $0.name == added && $0.id != nil }
                #expect(try await daemon.sh(added, "true").succeeded)
                try await arrives("updated to running") { $0.type == "updated" && $0.name == added && $0.status == .running }
                await daemon.destroySprite(added)
                try await arrives("deleted") { $0.type == "deleted" && $0.name == added }
                #expect(seen.withLock { $0 }.allSatisfy { $0.name?.hasPrefix(prefix) ?? true }, "the prefix filter let others through")
            }
        }

        @Test("hob list -w prints the list and keeps watching; --json prints the events one per line")
        func cliWatch() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                // It runs until interrupted: the harness stops it after a few seconds.
                let json = try await daemon.cli("list", "-w", "--json", "--prefix", name, timeout: .seconds(4))
                let lines = json.stdout.split(separator: "\n").compactMap {
                    try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
                }
                #expect(lines.prefix(2).compactMap { $0["type"] as? String } == ["sprite", "synced"], "\(json)")
                #expect(lines.first?["name"] as? String == name && lines.first?["status"] as? String == "cold", "\(json)")
                let text = try await daemon.cli("list", "-w", "--prefix", name, timeout: .seconds(4))
                #expect(text.stdout.contains("NAME") && text.stdout.contains(name), "\(text)")
                #expect(text.stderr.contains("Watching for changes"), "\(text)")
            }
        }

        @Test("without Accept: application/x-ndjson the list stays a JSON page")
        func plainList() async throws {
            let daemon = try DaemonFixture.shared()
            let response = try await daemon.http("GET", "/v1/sprites")
            #expect(response.status == 200 && response.json?["sprites"] is [Any] && response.header("content-type")?.contains("json") == true)
        }
    }
}

/// The live list's events as a reader task receives them.
final class EventLog: Sendable {
    private let events = Mutex<[SpriteListEvent]>([])

    func withLock<R>(_ body: (inout [SpriteListEvent]) -> R) -> R { events.withLock { body(&$0) } }
}
