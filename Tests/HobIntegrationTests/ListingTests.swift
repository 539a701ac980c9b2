// GET /v1/sprites: pages of max_results, continuation tokens, and the prefix filter.
import Foundation
import Testing

extension HobIntegration {
    @Suite("Listing", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct ListingTests {
        @Test("max_results pages through sprites with continuation tokens")
        func pagination() async throws {
            let daemon = try DaemonFixture.shared()
            let prefix = "pg\(TestEnvironment.randomName(4))-"
            let names = ["a", "b", "c"].map { prefix + $0 }
            try await daemon.cleaningUp(sprites: names) {
                for name in names { try await daemon.createSprite(name) }

                let first = try await daemon.http("GET", "/v1/sprites?prefix=\(prefix)&max_results=2")
                #expect(first.status == 200, "\(first)")
                #expect(spriteNames(first) == Array(names.prefix(2)), "\(first)")
                #expect(first.json?["has_more"] as? Bool == true, "\(first)")
                let token = try #require(first.json?["next_continuation_token"] as? String, "\(first)")

                let second = try await daemon.http("GET", "/v1/sprites?prefix=\(prefix)&max_results=2&continuation_token=\(token)")
                #expect(second.status == 200, "\(second)")
                #expect(spriteNames(second) == [names[2]], "\(second)")
                #expect(second.json?["has_more"] as? Bool == false, "\(second)")
            }
        }

        @Test("prefix lists only the sprites whose names start with it")
        func prefixFilter() async throws {
            let daemon = try DaemonFixture.shared()
            let prefix = "px\(TestEnvironment.randomName(4))-"
            let matching = ["one", "two", "three"].map { prefix + $0 }
            let other = "py\(TestEnvironment.randomName(4))-one"
            try await daemon.cleaningUp(sprites: matching + [other]) {
                for name in matching + [other] { try await daemon.createSprite(name) }
                let listed = try await daemon.http("GET", "/v1/sprites?prefix=\(prefix)")
                #expect(listed.status == 200, "\(listed)")
                #expect(spriteNames(listed) == matching.sorted(), "\(listed)")
            }
        }
    }
}

private func spriteNames(_ response: HTTPResult) -> [String] {
    (response.json?["sprites"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
}
