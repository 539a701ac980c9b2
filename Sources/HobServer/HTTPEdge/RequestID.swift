// `Fly-Request-Id`: every response of the API (REST, errors, 101s and the answers the edge
// writes itself) names its request, so a client's log line can be matched with the daemon's.
import Foundation
import HTTPTypes
import Synchronization

extension HTTPField.Name {
    static let flyRequestID = HTTPField.Name("Fly-Request-Id")!
}

enum RequestID {
    private static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)
    /// Makes ids minted in the same millisecond differ even if the random part repeated.
    private static let sequence = Atomic<UInt16>(0)

    /// A new id: 26 characters of Crockford base32 (ULID layout), 48 bits of milliseconds since
    /// 1970 then 80 bits that are random except for a 16-bit per-process sequence, so ids sort
    /// by time and two from one daemon never collide.
    static func make(now: Date = Date()) -> String {
        let ms = UInt64(max(0, now.timeIntervalSince1970 * 1000))
        let count = sequence.wrappingAdd(1, ordering: .relaxed).newValue
        return format(milliseconds: ms, random: UInt64.random(in: 0...UInt64.max), sequence: count)
    }

    static func format(milliseconds: UInt64, random: UInt64, sequence: UInt16) -> String {
        // 128 bits: time (48) | random (64) | sequence (16), written as 26 five-bit digits (130 bits, top 2 zero).
        let high = (milliseconds << 16) | (random >> 48)
        let low = (random << 16) | UInt64(sequence)
        var digits = [UInt8](repeating: 0, count: 26)
        for i in 0..<26 {
            let shift = (25 - i) * 5  // bit offset of this digit in the 130-bit number
            let value: UInt64
            if shift >= 64 {
                value = (high >> UInt64(shift - 64)) & 31
            } else if shift + 5 <= 64 {
                value = (low >> UInt64(shift)) & 31
            } else {
                // straddles the two halves
                let fromLow = low >> UInt64(shift)
                let fromHigh = high << UInt64(64 - shift)
                value = (fromLow | fromHigh) & 31
            }
            digits[i] = alphabet[Int(value)]
        }
        return String(decoding: digits, as: UTF8.self)
    }
}
