// `hob create NAME --count N`: the names, the bounds, and one request per name with the same
// options. No daemon is contacted.

import ArgumentParser
import HobAPI
@testable import HobCLI
import Testing

@Suite("hob create --count")
struct CreateCountTests {
    @Test("--count N names the sprites NAME-1 … NAME-N; without it, NAME")
    func names() throws {
        #expect(try Create.parse(["w"]).names == ["w"])
        #expect(try Create.parse(["w", "--count", "1"]).names == ["w"])
        #expect(try Create.parse(["w", "--count", "3"]).names == ["w-1", "w-2", "w-3"])
        #expect(try Create.parse(["w", "--count", "100"]).names.last == "w-100")
    }

    @Test("--count outside 1…100 is a usage error", arguments: ["0", "-1", "101"])
    func bounds(count: String) {
        #expect(throws: (any Error).self) { try Create.parse(["w", "--count", count]) }
    }

    @Test("every sprite gets the same options")
    func sameOptions() throws {
        let create = try Create.parse(["w", "--count", "2", "--ram-mb", "512", "--label", "batch", "--token-ops", "exec"])
        let requests = try create.names.map { try create.request(named: $0) }
        #expect(requests.map(\.name) == ["w-1", "w-2"])
        #expect(requests.allSatisfy { $0.config?.ramMB == 512 && $0.labels == ["batch"] && $0.token != nil })
    }

    @Test("the status line counts what is created and what is under way")
    func statusText() {
        #expect(Create.statusText(created: 3, of: 10, running: 8) == "creating sprites: 3/10 created, 8 under way")
        #expect(ProgressLine.elapsed(.seconds(4)) == "4s")
        #expect(ProgressLine.elapsed(.seconds(125)) == "2m05s")
    }
}
