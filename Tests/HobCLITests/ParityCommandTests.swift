// `hob url`, `hob api` and `hob proxy -W`: arguments and what they resolve to. No daemon is contacted.

import ArgumentParser
@testable import HobCLI
import Testing

@Suite("hob url, api and proxy -W arguments")
struct ParityCommandTests {
    @Test("proxy -W takes HOST:PORT, [IPv6]:PORT or a bare PORT on localhost")
    func stdioTargets() throws {
        #expect(try Proxy.parse(stdioTarget: "localhost:22") == ("localhost", 22))
        #expect(try Proxy.parse(stdioTarget: "10.0.0.5:8080") == ("10.0.0.5", 8080))
        #expect(try Proxy.parse(stdioTarget: "[::1]:22") == ("::1", 22))
        #expect(try Proxy.parse(stdioTarget: "22") == ("localhost", 22))
        for bad in ["", "localhost", "localhost:", ":22", "host:0", "host:65536", "host:ssh", "a b:22"] {
            #expect(throws: (any Error).self, "\(bad)") { try Proxy.parse(stdioTarget: bad) }
        }
    }

    @Test("proxy -W NAME needs no ports and refuses them")
    func stdioArguments() throws {
        let relay = try Proxy.parse(["-W", "localhost:22", "demo"])
        #expect(relay.stdio == "localhost:22" && relay.name == "demo" && relay.mappings.isEmpty)
        #expect(throws: (any Error).self) { try Proxy.parse(["-W", "localhost:22", "demo", "8080"]) }
        #expect(throws: (any Error).self) { try Proxy.parse(["-W", "nowhere", "demo"]) }
    }

    @Test("api: GET without a body, POST with one, -X wins; paths get a leading slash")
    func apiMethodAndPath() throws {
        let get = try API.parse(["/v1/sprites"])
        #expect(get.resolvedMethod == "GET")
        #expect(try get.resolvedPath() == "/v1/sprites")
        #expect(try API.parse(["v1/sprites?prefix=a"]).resolvedPath() == "/v1/sprites?prefix=a")
        #expect(try API.parse(["/v1/sprites", "-d", "{}"]).resolvedMethod == "POST")
        #expect(try API.parse(["-X", "put", "/v1/sprites/demo", "-d", "{}"]).resolvedMethod == "PUT")
        #expect(try API.parse(["--method", "DELETE", "/v1/sprites/demo"]).resolvedMethod == "DELETE")
    }

    @Test("api --sprite NAME makes the path relative to the sprite")
    func apiSpritePath() throws {
        #expect(try API.parse(["-s", "demo", "/exec"]).resolvedPath() == "/v1/sprites/demo/exec")
        #expect(try API.parse(["-s", "demo", "checkpoints"]).resolvedPath() == "/v1/sprites/demo/checkpoints")
        #expect(try API.parse(["-s", "demo"]).resolvedPath() == "/v1/sprites/demo")
    }

    @Test("api refuses no path, a path with spaces and a method that is not a word")
    func apiRefusals() throws {
        #expect(throws: (any Error).self) { try API.parse([]) }
        #expect(throws: (any Error).self) { try API.parse(["/v1/sprites/a b"]) }
        #expect(throws: (any Error).self) { try API.parse(["-X", "GE T", "/v1/sprites"]) }
        #expect(throws: (any Error).self) { try API.parse(["-s", "a/b", "/exec"]) }
    }

    @Test("url takes a name, --auth sprite or public, and not both --quiet and --json")
    func urlArguments() throws {
        #expect(try SpriteURL.parse(["demo"]).auth == nil)
        #expect(try SpriteURL.parse(["demo", "--auth", "public"]).auth == "public")
        #expect(try SpriteURL.parse(["demo", "--auth", "sprite"]).auth == "sprite")
        #expect(throws: (any Error).self) { try SpriteURL.parse(["demo", "--auth", "open"]) }
        #expect(throws: (any Error).self) { try SpriteURL.parse(["demo", "-q", "--json"]) }
        #expect(throws: (any Error).self) { try SpriteURL.parse([]) }
    }
}
