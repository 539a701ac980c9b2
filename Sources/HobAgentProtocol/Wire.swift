// The framed protocol between the daemon and hob-init (PID 1 in every sprite).
//
// hob-init links this module statically and must not pull in Foundation, so encoding is a small
// hand-written binary format rather than JSON:
//
//   frame   = length:u32be kind:u8 payload      (length counts kind + payload)
//   string  = length:u32be utf8-bytes
//   bytes   = length:u32be raw-bytes
//   array   = count:u32be element*
//
// One connection to the agent socket carries either one exec/attach session or a series of
// control requests (list, kill, ping). Both sides treat malformed input as a protocol error and
// drop the connection; neither trusts the other's lengths beyond `maxFrameSize`.

/// Upper bound for one frame. Output is chunked well below this.
public let maxFrameSize = 4 * 1024 * 1024

public struct WireError: Error, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Appends wire values to a byte array.
public struct WireWriter {
    public private(set) var bytes: [UInt8] = []
    public init() {}

    public mutating func u8(_ v: UInt8) { bytes.append(v) }
    public mutating func bool(_ v: Bool) { bytes.append(v ? 1 : 0) }
    public mutating func u16(_ v: UInt16) {
        bytes.append(UInt8(v >> 8))
        bytes.append(UInt8(v & 0xff))
    }
    public mutating func u32(_ v: UInt32) {
        bytes.append(UInt8(v >> 24))
        bytes.append(UInt8((v >> 16) & 0xff))
        bytes.append(UInt8((v >> 8) & 0xff))
        bytes.append(UInt8(v & 0xff))
    }
    public mutating func i32(_ v: Int32) { u32(UInt32(bitPattern: v)) }
    public mutating func i64(_ v: Int64) {
        let u = UInt64(bitPattern: v)
        u32(UInt32(u >> 32))
        u32(UInt32(u & 0xffff_ffff))
    }
    public mutating func data(_ v: some Collection<UInt8>) {
        u32(UInt32(v.count))
        bytes.append(contentsOf: v)
    }
    public mutating func string(_ v: String) { data(Array(v.utf8)) }
    public mutating func strings(_ v: [String]) {
        u32(UInt32(v.count))
        for s in v { string(s) }
    }
}

/// Reads wire values from a byte slice, failing on truncation.
public struct WireReader {
    private let bytes: [UInt8]
    private var offset: Int

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
        self.offset = 0
    }

    public var isAtEnd: Bool { offset == bytes.count }

    private mutating func take(_ n: Int) throws(WireError) -> ArraySlice<UInt8> {
        guard n >= 0, bytes.count - offset >= n else { throw WireError("truncated message") }
        defer { offset += n }
        return bytes[offset..<offset + n]
    }

    public mutating func u8() throws(WireError) -> UInt8 { try take(1).first! }
    public mutating func bool() throws(WireError) -> Bool { try u8() != 0 }
    public mutating func u16() throws(WireError) -> UInt16 {
        let b = try take(2)
        return UInt16(b[b.startIndex]) << 8 | UInt16(b[b.startIndex + 1])
    }
    public mutating func u32() throws(WireError) -> UInt32 {
        let b = try take(4)
        var v: UInt32 = 0
        for x in b { v = v << 8 | UInt32(x) }
        return v
    }
    public mutating func i32() throws(WireError) -> Int32 { Int32(bitPattern: try u32()) }
    public mutating func i64() throws(WireError) -> Int64 {
        let hi = UInt64(try u32())
        let lo = UInt64(try u32())
        return Int64(bitPattern: hi << 32 | lo)
    }
    public mutating func data() throws(WireError) -> [UInt8] {
        let n = Int(try u32())
        guard n <= maxFrameSize else { throw WireError("field too large") }
        return Array(try take(n))
    }
    public mutating func string() throws(WireError) -> String {
        let raw = try data()
        guard let s = String(validating: raw, as: UTF8.self) else { throw WireError("invalid UTF-8") }
        return s
    }
    public mutating func strings() throws(WireError) -> [String] {
        let n = Int(try u32())
        guard n <= 65536 else { throw WireError("too many strings") }
        var out: [String] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(try string()) }
        return out
    }
}

/// Splits a byte stream into frames. Feed it whatever arrives; take complete frames out.
public struct FrameDecoder {
    private var buffer: [UInt8] = []
    private var start = 0

    public init() {}

    public mutating func append(_ chunk: some Collection<UInt8>) {
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        buffer.append(contentsOf: chunk)
    }

    /// The next complete frame as (kind, payload), nil when more bytes are needed.
    public mutating func next() throws(WireError) -> (kind: UInt8, payload: [UInt8])? {
        guard buffer.count - start >= 4 else { return nil }
        var length = 0
        for i in 0..<4 { length = length << 8 | Int(buffer[start + i]) }
        guard length >= 1, length <= maxFrameSize else { throw WireError("bad frame length \(length)") }
        guard buffer.count - start >= 4 + length else { return nil }
        let kind = buffer[start + 4]
        let payload = Array(buffer[(start + 5)..<(start + 4 + length)])
        start += 4 + length
        if start > 65536 {
            buffer.removeFirst(start)
            start = 0
        }
        return (kind, payload)
    }
}

/// Encodes one frame.
public func encodeFrame(kind: UInt8, payload: [UInt8]) -> [UInt8] {
    var w = WireWriter()
    w.u32(UInt32(payload.count + 1))
    w.u8(kind)
    var out = w.bytes
    out.append(contentsOf: payload)
    return out
}
