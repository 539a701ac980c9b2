// Request targets: base URL parsing and percent-encoding of paths and exec query strings.

import HobAPI
import HobClient
import Testing

@Suite("Request targets")
struct RequestTargetTests {
    @Test func unreservedCharactersPassThrough() {
        #expect(URLEncoding.component("AZaz09-._~") == "AZaz09-._~")
    }

    @Test func reservedCharactersAndSpacesAreEncoded() {
        #expect(URLEncoding.component("a b&c=d+e/f?g#h%") == "a%20b%26c%3Dd%2Be%2Ff%3Fg%23h%25")
    }

    @Test func unicodeIsEncodedAsUTF8Bytes() {
        #expect(URLEncoding.component("ü✓") == "%C3%BC%E2%9C%93")
    }

    @Test func encodingRoundTrips() {
        let value = "sh -c 'echo a&b=c; ls ~/ü' + 100%"
        #expect(URLEncoding.decode(URLEncoding.component(value)) == value)
    }

    @Test func execQueryKeepsOrderAndRepeatedKeys() throws {
        let params = ExecParameters(
            command: ["sh", "-c", "echo a&b=c d"], environment: ["K=v w", "Ü=1"], directory: "/tmp/x y",
            tty: true, rows: 40, cols: 120, stdin: true)
        let base = try ParsedBaseURL("http://127.0.0.1:7070")
        let target = base.requestTarget(segments: ["v1", "sprites", "demo", "exec"], query: params.queryItems)
        #expect(
            target
                == "/v1/sprites/demo/exec?cmd=sh&cmd=-c&cmd=echo%20a%26b%3Dc%20d&path=sh&env=K%3Dv%20w&env=%C3%9C%3D1"
                + "&dir=%2Ftmp%2Fx%20y&tty=true&rows=40&cols=120&stdin=true")
    }

    @Test func nonTTYExecQuerySaysWhetherStdinIsSent() throws {
        let params = ExecParameters(command: ["ls"], stdin: false)
        let target = try ParsedBaseURL("http://h:1").requestTarget(
            segments: ["v1", "sprites", "demo", "exec"], query: params.queryItems)
        #expect(target == "/v1/sprites/demo/exec?cmd=ls&path=ls&stdin=false")
    }

    @Test func pathSegmentsAreEncoded() throws {
        let target = try ParsedBaseURL("http://h:1").requestTarget(segments: ["v1", "sprites", "a/b c", "exec", "12"])
        #expect(target == "/v1/sprites/a%2Fb%20c/exec/12")
    }

    @Test func basePathPrefixIsKept() throws {
        let base = try ParsedBaseURL("http://example.com/hob/")
        #expect(base.host == "example.com" && base.port == 80 && base.pathPrefix == "/hob")
        #expect(base.requestTarget(segments: ["v1", "sprites"]) == "/hob/v1/sprites")
        #expect(base.hostHeader == "example.com")
    }

    @Test func hostAndPortAreParsed() throws {
        let base = try ParsedBaseURL("http://127.0.0.1:7070")
        #expect(base.host == "127.0.0.1" && base.port == 7070 && base.pathPrefix == "")
        #expect(base.hostHeader == "127.0.0.1:7070")
    }

    @Test func ipv6LiteralsAreUnbracketedForConnectingAndBracketedInTheHostHeader() throws {
        let base = try ParsedBaseURL("http://[::1]:7070")
        #expect(base.host == "::1" && base.port == 7070)
        #expect(base.hostHeader == "[::1]:7070")
    }

    @Test(arguments: ["https://example.com", "example.com:7070", "http://", "http://h:0", "http://h:99999", "http://u@h"])
    func unusableBaseURLsAreRejected(url: String) {
        #expect(throws: HobClientError.self) { try ParsedBaseURL(url) }
    }
}
