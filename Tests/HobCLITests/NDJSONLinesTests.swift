// The client's NDJSON splitter, used by the live sprite list (hob list -w).
import HobClient
import Testing

@Suite("Client: NDJSON lines")
struct NDJSONLinesTests {
    @Test("lines split across pieces, several in one piece, blank ones skipped, a last one without newline")
    func pieces() {
        var lines = NDJSONLines()
        #expect(lines.feed(Array(#"{"a":"#.utf8)) == [])
        #expect(lines.feed(Array("1}\n\n{\"b\":2}\n{\"c\"".utf8)).map { String(decoding: $0, as: UTF8.self) } == [#"{"a":1}"#, #"{"b":2}"#])
        #expect(lines.feed(Array(":3}".utf8)) == [])
        #expect(lines.finish().map { String(decoding: $0, as: UTF8.self) } == [#"{"c":3}"#])
        #expect(lines.finish() == [])
    }
}
