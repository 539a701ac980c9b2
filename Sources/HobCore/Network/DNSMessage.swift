// The little of DNS (RFC 1035) the egress forwarder needs: read a message's header, questions and
// answers (following name compression, A records decoded), build a REFUSED reply to a query, and
// encode simple messages (for tests and the test resolver). Pure code over bytes; malformed input
// yields nil, never a crash: every read is bounds-checked and compression pointers may only point
// backwards (so they cannot loop).

public struct DNSMessage: Sendable, Equatable {
    public struct Question: Sendable, Equatable {
        public var name: String
        public var type: UInt16
        public var klass: UInt16

        public init(name: String, type: UInt16 = DNSMessage.typeA, klass: UInt16 = 1) {
            self.name = name
            self.type = type
            self.klass = klass
        }
    }

    public struct Record: Sendable, Equatable {
        public var name: String
        public var type: UInt16
        public var klass: UInt16
        public var ttl: UInt32
        public var data: [UInt8]

        public init(name: String, type: UInt16, klass: UInt16 = 1, ttl: UInt32, data: [UInt8]) {
            self.name = name
            self.type = type
            self.klass = klass
            self.ttl = ttl
            self.data = data
        }

        /// An A record for `address` (dotted quad); nil if it is not one.
        public static func a(_ name: String, _ address: String, ttl: UInt32) -> Record? {
            let parts = address.split(separator: ".", omittingEmptySubsequences: false).compactMap { UInt8($0) }
            guard parts.count == 4 else { return nil }
            return Record(name: name, type: DNSMessage.typeA, ttl: ttl, data: parts)
        }

        /// The address of an A record, dotted.
        public var ipv4: String? {
            guard type == DNSMessage.typeA, klass == 1, data.count == 4 else { return nil }
            return data.map(String.init).joined(separator: ".")
        }
    }

    public static let typeA: UInt16 = 1
    public static let rcodeNoError: UInt8 = 0
    public static let rcodeFormatError: UInt8 = 1
    public static let rcodeServerFailure: UInt8 = 2
    public static let rcodeRefused: UInt8 = 5

    public var id: UInt16
    /// The second 16 bits of the header: QR, opcode, AA, TC, RD, RA, Z, RCODE.
    public var flags: UInt16
    public var questions: [Question]
    public var answers: [Record]

    public init(id: UInt16, flags: UInt16, questions: [Question], answers: [Record] = []) {
        self.id = id
        self.flags = flags
        self.questions = questions
        self.answers = answers
    }

    public var isResponse: Bool { flags & 0x8000 != 0 }
    public var opcode: UInt8 { UInt8((flags >> 11) & 0xF) }
    public var rcode: UInt8 { UInt8(flags & 0xF) }

    /// Parses header, questions and answers (authority and additional sections are not read).
    public init?(parsing bytes: [UInt8]) {
        var r = Reader(bytes: bytes)
        guard let id = r.u16(), let flags = r.u16(), let qd = r.u16(), let an = r.u16(), r.u16() != nil, r.u16() != nil else { return nil }
        // Each question takes at least 5 bytes and each record 11: refuse counts the message cannot hold.
        guard Int(qd) * 5 + Int(an) * 11 <= bytes.count else { return nil }
        var questions: [Question] = []
        for _ in 0..<qd {
            guard let name = r.name(), let type = r.u16(), let klass = r.u16() else { return nil }
            questions.append(Question(name: name, type: type, klass: klass))
        }
        var answers: [Record] = []
        for _ in 0..<an {
            guard let name = r.name(), let type = r.u16(), let klass = r.u16(), let ttl = r.u32(), let length = r.u16(),
                let data = r.take(Int(length))
            else { return nil }
            answers.append(Record(name: name, type: type, klass: klass, ttl: ttl, data: data))
        }
        self.init(id: id, flags: flags, questions: questions, answers: answers)
    }

    /// A REFUSED answer to `query`: same id, opcode, RD and question section, no records. Nil
    /// when `query` is not a readable query (answered with nothing, as a resolver would).
    public static func refused(replyingTo query: [UInt8]) -> [UInt8]? {
        reply(to: query, rcode: rcodeRefused)
    }

    /// A header-and-question reply to `query` with `rcode`.
    public static func reply(to query: [UInt8], rcode: UInt8) -> [UInt8]? {
        guard let message = DNSMessage(parsing: query), !message.isResponse else { return nil }
        let flags: UInt16 = 0x8000 | (message.flags & 0x7900) | 0x0080 | UInt16(rcode & 0xF)
        return DNSMessage(id: message.id, flags: flags, questions: message.questions).encoded()
    }

    /// The message's bytes. An answer whose name is the first question's points at it (the usual
    /// compression); other names are written out.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        func u16(_ v: UInt16) { out += [UInt8(v >> 8), UInt8(v & 0xFF)] }
        func name(_ n: String) {
            for label in n.split(separator: ".") {
                let bytes = Array(label.utf8.prefix(63))
                out.append(UInt8(bytes.count))
                out += bytes
            }
            out.append(0)
        }
        u16(id)
        u16(flags)
        u16(UInt16(questions.count))
        u16(UInt16(answers.count))
        u16(0)
        u16(0)
        for q in questions {
            name(q.name)
            u16(q.type)
            u16(q.klass)
        }
        let first = questions.first.map { Self.canonical($0.name) }
        for a in answers {
            if let first, Self.canonical(a.name) == first { u16(0xC00C) } else { name(a.name) }
            u16(a.type)
            u16(a.klass)
            u16(UInt16(a.ttl >> 16))
            u16(UInt16(a.ttl & 0xFFFF))
            u16(UInt16(a.data.count))
            out += a.data
        }
        return out
    }

    static func canonical(_ name: String) -> String {
        var n = name.lowercased()
        if n.hasSuffix(".") { n.removeLast() }
        return n
    }

    struct Reader {
        let bytes: [UInt8]
        var offset = 0

        mutating func u8() -> UInt8? {
            guard offset < bytes.count else { return nil }
            defer { offset += 1 }
            return bytes[offset]
        }

        mutating func u16() -> UInt16? {
            guard let hi = u8(), let lo = u8() else { return nil }
            return UInt16(hi) << 8 | UInt16(lo)
        }

        mutating func u32() -> UInt32? {
            guard let hi = u16(), let lo = u16() else { return nil }
            return UInt32(hi) << 16 | UInt32(lo)
        }

        mutating func take(_ n: Int) -> [UInt8]? {
            guard n >= 0, offset + n <= bytes.count else { return nil }
            defer { offset += n }
            return Array(bytes[offset..<offset + n])
        }

        /// A domain name at the offset, dotted, without the trailing dot ("" for the root). A
        /// compression pointer must point before the label that holds it.
        mutating func name() -> String? {
            var labels: [String] = []
            var position = offset
            var resumeAt: Int?
            var total = 0
            while true {
                guard position < bytes.count else { return nil }
                let length = Int(bytes[position])
                if length == 0 {
                    position += 1
                    break
                }
                switch length & 0xC0 {
                case 0xC0:
                    guard position + 1 < bytes.count else { return nil }
                    let target = (length & 0x3F) << 8 | Int(bytes[position + 1])
                    guard target < position else { return nil }
                    if resumeAt == nil { resumeAt = position + 2 }
                    position = target
                case 0:
                    guard position + 1 + length <= bytes.count else { return nil }
                    let label = bytes[(position + 1)..<(position + 1 + length)]
                    total += length + 1
                    guard total <= 255 else { return nil }
                    labels.append(String(decoding: label, as: UTF8.self))
                    position += 1 + length
                default:
                    return nil  // 0x40 and 0x80 label types are obsolete or unassigned
                }
            }
            offset = resumeAt ?? position
            return labels.joined(separator: ".")
        }
    }
}
