import Testing

@testable import HobServer

@Suite("Secrets gateway: redaction")
struct RedactorTests {
    func run(_ values: [String], _ pieces: [String]) -> String {
        var redactor = Redactor(values: values)
        var out: [UInt8] = []
        for piece in pieces { out += redactor.feed(Array(piece.utf8)) }
        out += redactor.finish()
        return String(decoding: out, as: UTF8.self)
    }

    @Test("a value is masked to its own length, wherever it is")
    func masks() {
        #expect(run(["sk-secret-123"], ["a sk-secret-123 b sk-secret-123"]) == "a ************* b *************")
    }

    @Test("a value split across pieces, in any places, is still masked")
    func acrossPieces() {
        let text = "{\"auth\": \"Bearer sk-secret-123456\"}"
        for cut in 1..<text.count {
            let pieces = [String(text.prefix(cut)), String(text.dropFirst(cut))]
            #expect(run(["Bearer sk-secret-123456"], pieces) == "{\"auth\": \"***********************\"}", "cut at \(cut)")
        }
        let bytes = text.map(String.init)
        #expect(run(["Bearer sk-secret-123456"], bytes) == "{\"auth\": \"***********************\"}")
    }

    @Test("the key of a scheme-prefixed value is masked on its own; short words are not")
    func words() {
        #expect(run(["Bearer sk-secret-123456"], ["key sk-secret-123456 and Bearer alone"]) == "key \(String(repeating: "*", count: 16)) and Bearer alone")
    }

    @Test("nothing to hide: bytes pass through unchanged and at once")
    func passThrough() {
        var redactor = Redactor(values: [])
        #expect(redactor.feed(Array("abc".utf8)) == Array("abc".utf8))
        #expect(redactor.finish().isEmpty)
    }

    @Test("only an end that could start a value is held back: the rest of a stream goes out at once")
    func holdsBackLittle() {
        var redactor = Redactor(values: ["0123456789"])
        #expect(redactor.feed(Array("data: event one\n\n".utf8)) == Array("data: event one\n\n".utf8))
        #expect(redactor.feed(Array("xyz0123".utf8)) == Array("xyz".utf8))
        #expect(String(decoding: redactor.feed(Array("45z".utf8)), as: UTF8.self) == "012345z")
        #expect(redactor.finish().isEmpty)
    }

    @Test("each value of a cookie list and a JSON-escaped key are masked too")
    func otherSpellings() {
        #expect(run(["a=longcookievalue1; b=anotherlongvalue2"], ["b is anotherlongvalue2"]) == "b is \(String(repeating: "*", count: 17))")
        #expect(run(["Bearer abc/def/ghi123"], [#"{"k":"abc\/def\/ghi123"}"#]) == #"{"k":"\#(String(repeating: "*", count: 16))"}"#)
    }
}
