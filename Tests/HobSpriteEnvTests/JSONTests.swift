import HobSpriteEnv
import Testing

@Suite("sprite-env JSON")
struct JSONTests {
    @Test("objects, arrays, strings, numbers and literals parse")
    func parsesValues() throws {
        let value = try JSONValue.parse(#" {"id":"v1","n":-12.5e3,"ok":true,"none":null,"list":[1,"two",[]]} "#)
        #expect(value["id"] == .string("v1"))
        #expect(value["n"] == .number("-12.5e3"))
        #expect(value["ok"]?.boolValue == true)
        #expect(value["none"] == .null)
        #expect(value["list"] == .array([.number("1"), .string("two"), .array([])]))
        #expect(value["missing"] == nil)
    }

    @Test("string escapes decode, surrogate pairs included")
    func escapes() throws {
        let value = try JSONValue.parse(#""a\"b\\c\/d\n\t\u00e9\ud83d\ude00""#)
        #expect(value == .string("a\"b\\c/d\n\té😀"))
    }

    @Test("a lone surrogate becomes U+FFFD")
    func loneSurrogate() throws {
        #expect(try JSONValue.parse(#""\ud800x""#) == .string("\u{FFFD}x"))
    }

    @Test(
        "malformed JSON is an error",
        arguments: ["", "{", "[1,]", "{\"a\" 1}", "01", "1.", "tru", "\"\u{01}\"", "\"\\x\"", "\"\\u12g4\"", "1 2", "{\"a\":1,}"])
    func malformed(_ text: String) {
        #expect(throws: JSONError.self) { try JSONValue.parse(text) }
    }

    @Test("deep nesting is refused rather than exhausting the stack")
    func depthLimit() {
        let text = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONError.self) { try JSONValue.parse(text) }
    }

    @Test("serialization escapes what JSON requires and round-trips")
    func serialization() throws {
        let value = JSONValue.object(["comment": .string("line \"one\"\n\u{01}é"), "n": .number("3"), "a": .array([.bool(false), .null])])
        #expect(value.serialized == #"{"a":[false,null],"comment":"line \"one\"\n\u0001é","n":3}"#)
        #expect(try JSONValue.parse(value.serialized) == value)
    }
}
