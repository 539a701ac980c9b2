@testable import HobCore
import Testing

@Suite("DNS messages")
struct DNSMessageTests {
    /// A query for `name`, type A, recursion desired, as a stub resolver sends it.
    func query(_ name: String, id: UInt16 = 0x1234) -> [UInt8] {
        DNSMessage(id: id, flags: 0x0100, questions: [DNSMessage.Question(name: name)]).encoded()
    }

    @Test("a query round-trips: id, flags and question")
    func roundTrip() throws {
        let parsed = try #require(DNSMessage(parsing: query("www.example.com")))
        #expect(parsed.id == 0x1234)
        #expect(!parsed.isResponse)
        #expect(parsed.questions == [DNSMessage.Question(name: "www.example.com", type: 1, klass: 1)])
    }

    @Test("answers with a compressed name are read, A records decoded")
    func compressedAnswers() throws {
        let answer = DNSMessage(
            id: 7, flags: 0x8180, questions: [DNSMessage.Question(name: "example.com")],
            answers: [try #require(DNSMessage.Record.a("example.com", "93.184.216.34", ttl: 300)), try #require(DNSMessage.Record.a("example.com", "1.2.3.4", ttl: 30))])
        let bytes = answer.encoded()
        // The answers point at the question's name (0xC00C) instead of repeating it.
        #expect(bytes.count == 12 + 17 + 2 * 16)
        let parsed = try #require(DNSMessage(parsing: bytes))
        #expect(parsed.isResponse)
        #expect(parsed.answers.map(\.name) == ["example.com", "example.com"])
        #expect(parsed.answers.compactMap(\.ipv4) == ["93.184.216.34", "1.2.3.4"])
        #expect(parsed.answers.map(\.ttl) == [300, 30])
    }

    @Test("a CNAME chain: names inside the message are followed through pointers")
    func cnameChain() throws {
        // Header, question www.a.test, then a CNAME record whose target ends in a pointer to
        // "a.test" inside the question, then an A record named by a pointer to that target.
        var bytes: [UInt8] = [0, 9, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0]
        bytes += [3] + Array("www".utf8) + [1] + Array("a".utf8) + [4] + Array("test".utf8) + [0, 0, 1, 0, 1]
        let cnameTarget = bytes.count + 12
        bytes += [0xC0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 6, 3] + Array("cdn".utf8) + [0xC0, 16]
        bytes += [0xC0, UInt8(cnameTarget), 0, 1, 0, 1, 0, 0, 1, 0, 0, 4, 198, 18, 0, 2]
        let parsed = try #require(DNSMessage(parsing: bytes))
        #expect(parsed.answers.map(\.name) == ["www.a.test", "cdn.a.test"])
        #expect(parsed.answers.map(\.type) == [5, 1])
        #expect(parsed.answers.compactMap(\.ipv4) == ["198.18.0.2"])
    }

    @Test("REFUSED keeps the id, the question and recursion desired, with no answers")
    func refused() throws {
        let reply = try #require(DNSMessage.refused(replyingTo: query("blocked.example", id: 0xBEEF)))
        let parsed = try #require(DNSMessage(parsing: reply))
        #expect(parsed.id == 0xBEEF)
        #expect(parsed.isResponse)
        #expect(parsed.rcode == DNSMessage.rcodeRefused)
        #expect(parsed.flags & 0x0100 != 0)
        #expect(parsed.questions.map(\.name) == ["blocked.example"])
        #expect(parsed.answers.isEmpty)
    }

    @Test("a response or garbage gets no REFUSED reply")
    func noReplyToNonQueries() {
        #expect(DNSMessage.refused(replyingTo: [1, 2, 3]) == nil)
        var response = query("x.test")
        response[2] |= 0x80
        #expect(DNSMessage.refused(replyingTo: response) == nil)
    }

    @Test("pointer loops and pointers forward are rejected")
    func pointerLoops() {
        // The question name is a pointer to itself, then one pointing forward.
        #expect(DNSMessage(parsing: [0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1]) == nil)
        #expect(DNSMessage(parsing: [0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 14, 0, 0, 1, 0, 1]) == nil)
    }

    @Test("truncated messages and absurd counts are rejected")
    func truncated() {
        let full = query("www.example.com")
        for length in 0..<full.count {
            #expect(DNSMessage(parsing: Array(full.prefix(length))) == nil)
        }
        #expect(DNSMessage(parsing: [0, 1, 1, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]) == nil)
    }

    @Test("random bytes never crash the parser")
    func fuzz() {
        var generator = SystemRandomNumberGenerator()
        let seed = query("a.b.example.com") + [0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4]
        for round in 0..<20_000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = (0..<Int.random(in: 0...64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            } else {
                // Mutations of a valid message reach deeper than pure noise.
                bytes = seed
                for _ in 0..<Int.random(in: 1...4, using: &generator) {
                    bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
                }
                if Bool.random(using: &generator) { bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &generator))) }
            }
            _ = DNSMessage(parsing: bytes)
            _ = DNSMessage.refused(replyingTo: bytes)
        }
    }
}
