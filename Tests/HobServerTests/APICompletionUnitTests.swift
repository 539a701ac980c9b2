// Pure pieces of the endpoints added for the official OpenAPI: the service log tail, the live
// sprite list's diff and owner ids as clients send them.
import Foundation
import HobAPI
import Testing

@testable import HobServer

@Suite("Service logs: the saved tail")
struct ServiceLogTailTests {
    func bytes(_ text: String) -> ArraySlice<UInt8> { ArraySlice(Array(text.utf8)) }

    @Test("every line by default, each with its newline")
    func all() {
        #expect(ServiceLogTail.lines(bytes("a\nb\nc\n"), last: nil) == ["a\n", "b\n", "c\n"])
    }

    @Test("the last n lines; more than there are gives them all; 0 gives none")
    func last() {
        #expect(ServiceLogTail.lines(bytes("a\nb\nc\n"), last: 2) == ["b\n", "c\n"])
        #expect(ServiceLogTail.lines(bytes("a\nb\n"), last: 10) == ["a\n", "b\n"])
        #expect(ServiceLogTail.lines(bytes("a\nb\n"), last: 0) == [])
    }

    @Test("an unfinished last line counts and gets a newline; an empty log has no lines")
    func unfinished() {
        #expect(ServiceLogTail.lines(bytes("a\nhalf"), last: 1) == ["half\n"])
        #expect(ServiceLogTail.lines(bytes(""), last: nil) == [])
    }

    @Test("invalid UTF-8 is replaced, not dropped")
    func invalidUTF8() {
        let lines = ServiceLogTail.lines(ArraySlice([0x61, 0xff, 0x0a]), last: nil)
        #expect(lines == ["a\u{FFFD}\n"])
    }
}

@Suite("Live sprite list: changes")
struct SpriteListChangesTests {
    let org = OrgInfo(name: "hob", running: 0, warm: 0, cold: 1, runningLimit: 10, warmLimit: 10)

    func entry(_ name: String, id: String = "id-1", _ status: SpriteStatus = .cold, ran: String? = nil) -> SpriteListStream.Entry {
        SpriteListStream.Entry(name: name, id: id, status: status, version: "v", lastRunningAt: ran, lastWarmingAt: nil, labels: [])
    }

    func snapshot(_ entries: SpriteListStream.Entry...) -> SpriteListStream.Snapshot {
        SpriteListStream.Snapshot(sprites: Dictionary(uniqueKeysWithValues: entries.map { ($0.name, $0) }), org: org)
    }

    @Test("nothing changed: no events")
    func none() {
        #expect(SpriteListStream.changes(from: snapshot(entry("a")), to: snapshot(entry("a")), at: "t").isEmpty)
    }

    @Test("a new name is created, a gone one deleted, a changed status or run date updated")
    func kinds() {
        let events = SpriteListStream.changes(
            from: snapshot(entry("a"), entry("b"), entry("c")),
            to: snapshot(entry("a", .running), entry("c", ran: "2026-01-01T00:00:00Z"), entry("d")), at: "t")
        #expect(events.map { "\($0.type) \($0.name ?? "")" } == ["updated a", "deleted b", "updated c", "created d"])
        #expect(events.first?.status == .running)
        #expect(events.allSatisfy { $0.timestamp == "t" && $0.org == org })
    }

    @Test("a name that now belongs to another sprite is a delete then a create")
    func recreated() {
        let events = SpriteListStream.changes(from: snapshot(entry("a", id: "old")), to: snapshot(entry("a", id: "new")), at: "t")
        #expect(events.map(\.type) == ["deleted", "created"])
        #expect(events.map(\.id) == ["old", "new"])
    }
}

@Suite("File API: owner ids")
struct FsOwnerIDTests {
    func decode(_ json: String) throws -> FsOwnerID.Value {
        try JSONDecoder().decode([String: FsOwnerID].self, from: Data(#"{"id":\#(json)}"#.utf8))["id"]?.value ?? .keep
    }

    @Test("numbers and strings of digits from 0 to 65535 are ids")
    func ids() throws {
        #expect(try decode("1000") == .set(1000))
        #expect(try decode(#""0""#) == .set(0))
        #expect(try decode("65535") == .set(65535))
    }

    @Test("-1, null and an empty string leave the id as it is")
    func keep() throws {
        #expect(try decode("-1") == .keep)
        #expect(try decode("null") == .keep)
        #expect(try decode(#""""#) == .keep)
        #expect(try decode(#""-1""#) == .keep)
    }

    @Test("anything else is refused", arguments: ["65536", "-2", #""root""#, #""12a""#, "1.5", "true", "{}"])
    func invalid(_ json: String) throws {
        #expect(try decode(json) == .invalid)
    }
}
