// The secret that lets the daemon, and nobody else, talk to an agent that listens on TCP.
//
// Under gVisor the agent cannot listen on a host unix socket (a host socket inside the sandbox
// makes `runsc checkpoint` fail), so it listens on TCP in the sprite's network, where every
// process of the sprite and anything on the bridge can connect. The daemon makes a fresh token
// per boot, hands it to hob-init in its environment (hob-init removes it before starting
// anything) and opens every connection with `AgentRequest.hello(token:)`.
//
// Both sides use this file: the daemon to make and check tokens, hob-init to check and compare.

public enum AgentToken {
    /// 32 random bytes as hex: the shortest token either side accepts.
    public static let minimumLength = 64
    /// The longest token on the wire; a longer hello is a protocol error.
    public static let maxLength = 256

    /// A fresh token: 32 bytes from the system's secure generator (getrandom), as lowercase hex.
    public static func random() -> String {
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(minimumLength)
        for _ in 0..<(minimumLength / 2) {
            let byte = UInt8.random(in: .min ... .max, using: &generator)
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Why `token` cannot be an agent token, nil when it can: hex digits only, at least
    /// `minimumLength` of them (32 bytes of entropy), at most `maxLength`.
    public static func problem(_ token: String) -> String? {
        let bytes = token.utf8
        if bytes.count < minimumLength { return "the agent token must have at least \(minimumLength) hex digits" }
        if bytes.count > maxLength { return "the agent token must have at most \(maxLength) hex digits" }
        let isHex = bytes.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) || (0x41...0x46).contains($0) }
        return isHex ? nil : "the agent token must be hex digits only"
    }

    /// Whether `offered` is `expected`, in time that depends only on the lengths: the comparison
    /// must not tell a guesser how many leading bytes were right.
    public static func matches(_ offered: String, _ expected: String) -> Bool {
        let a = Array(offered.utf8)
        let b = Array(expected.utf8)
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<b.count { difference |= (i < a.count ? a[i] : 0) ^ b[i] }
        return difference == 0
    }
}
