// `hob create NAME --count N` against a real daemon: N sprites, each name printed once; a name
// already taken stops the rest and the error says what was created.
import Foundation
import Testing

extension HobIntegration {
    @Suite("hob create --count", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct CreateCountTests {
        @Test("--count 5 creates NAME-1 … NAME-5 and prints each name once")
        func createsAll() async throws {
            let daemon = try DaemonFixture.shared()
            let prefix = TestEnvironment.spriteName("cnt")
            let names = (1...5).map { "\(prefix)-\($0)" }
            try await daemon.cleaningUp(sprites: names) {
                let result = try await daemon.cli("create", prefix, "--count", "5")
                #expect(result.succeeded, "\(result)")
                #expect(result.stdout.lines.sorted() == names.sorted(), "\(result)")
                for name in names { #expect(try await daemon.http("GET", "/v1/sprites/\(name)").status == 200, "\(name)") }
            }
        }

        @Test("a name already taken fails the command, which names what it created")
        func stopsAtFailure() async throws {
            let daemon = try DaemonFixture.shared()
            let prefix = TestEnvironment.spriteName("cnt")
            let names = (1...3).map { "\(prefix)-\($0)" }
            try await daemon.cleaningUp(sprites: names) {
                try await daemon.createSprite(names[1])
                let result = try await daemon.cli("create", prefix, "--count", "3", "--json")
                #expect(result.status == 1, "\(result)")
                #expect(result.stderr.contains("then creating \(names[1]) failed"), "\(result)")
                let printed = (try? JSONSerialization.jsonObject(with: result.stdoutData) as? [[String: Any]]) ?? []
                #expect(Set(printed.compactMap { $0["name"] as? String }) == [names[0], names[2]], "\(result)")
            }
        }
    }
}
