// Keeps a secret's values out of what the gateway hands back to a sprite. An upstream may echo a
// request header (a debugging endpoint, an error message quoting the credential): every occurrence
// of a value, and of each long enough word of it (the key in "Bearer <key>"), is overwritten with
// '*' of the same length, so Content-Length and chunk framing stay true. Bodies arrive in pieces,
// so the last (longest needle − 1) bytes are held back until more arrive or the body ends: a value
// split across two pieces is still found.
struct Redactor: Sendable {
    /// What to hide, longest first (a value before the words inside it).
    let needles: [[UInt8]]
    private var held: [UInt8] = []

    /// Words shorter than this are not hidden on their own ("Bearer", "Basic" would match everywhere).
    static let shortestWord = 8

    init(values: [String]) {
        var needles = Set<[UInt8]>()
        for value in values where !value.isEmpty {
            needles.insert(Array(value.utf8))
            for word in value.split(whereSeparator: { $0 == " " || $0 == "\t" }) where word.utf8.count >= Self.shortestWord {
                needles.insert(Array(word.utf8))
            }
        }
        self.needles = needles.sorted { $0.count > $1.count }
    }

    var isEmpty: Bool { needles.isEmpty }
    private var keep: Int { max((needles.first?.count ?? 1) - 1, 0) }

    /// The bytes that are safe to send now.
    mutating func feed(_ bytes: [UInt8]) -> [UInt8] {
        guard !needles.isEmpty else { return bytes }
        var buffer = held + bytes
        Self.mask(&buffer, needles)
        let ready = max(buffer.count - keep, 0)
        held = Array(buffer[ready...])
        return Array(buffer[..<ready])
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
