// Keeps a secret's values out of what the gateway hands back to a sprite. An upstream may echo a
// request header (a debugging endpoint, an error message quoting the credential): every occurrence
// of a value, of each run of 8 or more token characters in it (the key in "Bearer <key>", each
// value of a cookie list), and of their JSON-escaped spellings ("/" as "\/"), is overwritten with
// '*' of the same length, so Content-Length and chunk framing stay true. Bodies arrive in pieces:
// the end of a piece that could be the start of a value is held back until more arrives or the
// body ends, so a value split across pieces is still found, and anything else (an event of a
// stream) goes out at once.
struct Redactor: Sendable {
    /// What to hide, longest first (a value before the words inside it).
    let needles: [[UInt8]]
    private var held: [UInt8] = []

    /// Runs shorter than this are not hidden on their own ("Bearer", "Basic" would match everywhere).
    static let shortestWord = 8

    init(values: [String]) {
        var needles = Set<[UInt8]>()
        for value in values where !value.isEmpty {
            var forms = [Array(value.utf8)]
            forms += Self.tokenRuns(value).filter { $0.count >= Self.shortestWord }
            for form in forms {
                needles.insert(form)
                if form.contains(UInt8(ascii: "/")) { needles.insert(Self.jsonEscapingSlashes(form)) }
            }
        }
        self.needles = needles.sorted { $0.count > $1.count }
    }

    /// The runs of token characters (RFC 6750's b64token: letters, digits, `-._~+/`) in a value.
    static func tokenRuns(_ value: String) -> [[UInt8]] {
        Array(value.utf8).split { byte in
            !((65...90).contains(byte) || (97...122).contains(byte) || (48...57).contains(byte) || Array("-._~+/".utf8).contains(byte))
        }.map(Array.init)
    }

    static func jsonEscapingSlashes(_ bytes: [UInt8]) -> [UInt8] {
        bytes.flatMap { $0 == UInt8(ascii: "/") ? Array("\\/".utf8) : [$0] }
    }

    /// The bytes that are safe to send now.
    mutating func feed(_ bytes: [UInt8]) -> [UInt8] {
        guard !needles.isEmpty else { return bytes }
        var buffer = held + bytes
        Self.mask(&buffer, needles)
        let ready = buffer.count - heldBack(buffer)
        held = Array(buffer[ready...])
        return Array(buffer[..<ready])
    }

    /// How many bytes at the end of `buffer` could be the start of a value.
    func heldBack(_ buffer: [UInt8]) -> Int {
        var longest = 0
        for needle in needles {
            for length in stride(from: min(needle.count - 1, buffer.count), to: longest, by: -1)
            where buffer[(buffer.count - length)...].elementsEqual(needle[..<length]) {
                longest = length
                break
            }
        }
        return longest
    }

    /// The rest, at the end of the body.
    mutating func finish() -> [UInt8] {
        defer { held = [] }
        return held
    }

    /// One whole value (a header): masked at once.
    func redact(_ text: String) -> String {
        guard !needles.isEmpty else { return text }
        var bytes = Array(text.utf8)
        Self.mask(&bytes, needles)
        return String(decoding: bytes, as: UTF8.self)
    }

    static func mask(_ buffer: inout [UInt8], _ needles: [[UInt8]]) {
        for needle in needles where needle.count <= buffer.count {
            var i = 0
            while i + needle.count <= buffer.count {
                if buffer[i] == needle[0] && buffer[i..<(i + needle.count)].elementsEqual(needle) {
                    for j in i..<(i + needle.count) { buffer[j] = UInt8(ascii: "*") }
                    i += needle.count
                } else {
                    i += 1
                }
            }
        }
    }
}
