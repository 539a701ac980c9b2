// Host uid ranges are unique across every daemon on the host: two daemons' sprites are never the
// same user to the kernel, and each daemon's in-sprite API still names its caller by uid.
import Foundation
import Testing

extension HobIntegration {
    @Suite("Host uid ranges", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct UIDRangeTests {
        @Test("sprites of two daemons run under different host uids, and each in-sprite API names its own sprite")
        func twoDaemons() async throws {
            let first = try DaemonFixture.shared()
            let second = try await DaemonFixture.start()
            let result: Result<Void, any Error>
            do {
                // The same name in both: to each daemon it is its first sprite, in its slot 0.
                let name = TestEnvironment.spriteName("uid")
                result = .success(
                    try await first.withSprite(name) { _ in
                        try await second.withSprite(name) { _ in
                            let ranges = try await [first.hostIDRange(of: name), second.hostIDRange(of: name)]
                            #expect(ranges[0] != ranges[1], "both sprites map root to host uid \(ranges[0])")
                            #expect(ranges.allSatisfy { $0 >= 1 << 30 })
                            #expect(abs(ranges[0] - ranges[1]) >= 65536)

                            _ = try await first.checkpoint(name, comment: "made-in-first")
                            let listedInFirst = try await first.exec(name, ["sprite-env", "checkpoints", "list"])
                            let listedInSecond = try await second.exec(name, ["sprite-env", "checkpoints", "list"])
                            #expect(listedInFirst.succeeded && listedInFirst.stdout.contains("made-in-first"), "\(listedInFirst)")
                            #expect(listedInSecond.succeeded && !listedInSecond.stdout.contains("made-in-first"), "\(listedInSecond)")
                            let tasks = try await second.spriteAPI(in: name, "GET", "/v1/tasks")
                            #expect(tasks.status == 200, "\(tasks)")
                        }
                    })
            } catch {
                result = .failure(error)
            }
            await second.tearDown()
            try result.get()
        }

        @Test("the host-wide table holds a sprite's range while it runs, and gives it back when it stops")
        func tableFollowsTheRun() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let id = try await daemon.spriteID(name)
                let base = try await daemon.hostIDRange(of: name)
                let entry = "\((base - (1 << 30)) / 65536) \(daemon.instance) \(id)"
                #expect(try HostIDTableFile.lines().contains(entry))
                #expect(try await daemon.sleep(name, state: "cold").status == 200)
                #expect(try !HostIDTableFile.lines().contains { $0.hasSuffix(" \(daemon.instance) \(id)") })
            }
        }

        @Test("after kill -9 and a restart, an adopted sprite keeps its range and the in-sprite API knows it")
        func adoptedKeepsRange() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let before = try await daemon.hostIDRange(of: name)
                #expect(try await daemon.sh(name, "(sleep 6666 >/dev/null 2>&1 &)").succeeded)
                await daemon.kill9()
                try await daemon.restart()
                let survived = try await daemon.exec(name, ["pgrep", "-f", "^sleep 6666$"])
                #expect(survived.succeeded, "the sprite was not adopted: \(survived)")
                #expect(try await daemon.hostIDRange(of: name) == before)
                let listed = try await daemon.spriteAPI(in: name, "GET", "/v1/checkpoints")
                #expect(listed.status == 200, "\(listed)")
                try await daemon.withSprite { other in
                    let range = try await daemon.hostIDRange(of: other)
                    #expect(range != before)
                }
            }
        }
    }
}

extension DaemonFixture {
    /// The host uid that root in the sprite maps to (its uid_map, read inside the sprite).
    func hostIDRange(of sprite: String) async throws -> Int {
        let map = try await exec(sprite, ["cat", "/proc/self/uid_map"])
        let fields = map.stdout.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        guard map.succeeded, fields.count == 3, fields[0] == 0, fields[2] == 65536 else {
            throw TestFailure("unexpected uid_map in \(sprite): \(map)")
        }
        return fields[1]
    }
}

/// /run/hob/id-ranges: `<index> <instance> <sprite id>` per range in use on the host.
enum HostIDTableFile {
    static func lines() throws -> [String] {
        let text = (try? String(contentsOfFile: "/run/hob/id-ranges", encoding: .utf8)) ?? ""
        return text.lines
    }
}
