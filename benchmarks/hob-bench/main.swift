// What verifying a token costs (docs/ACCESS.md; budget 50 µs): p50/p99 of TokenAuthority.verify
// for the admin token and for scoped tokens of 1, 4 and 16 caveats, each timed one call at a time:
// cold (the chain checked: a token's first use) and warm (the same token again, remembered).
// Run by `benchmarks/bench.py --tokens` on a release build (`swift build -c release --product hob-bench`).
import Foundation
import HobAccess
import HobCore

let json = CommandLine.arguments.contains("--json")
let admin = "hob_" + String(repeating: "0123456789abcdef", count: 4)
let authority = try await TokenAuthority(org: "hob", key: Array(repeating: 7, count: 32), adminToken: admin, store: MemoryAccessStore())
let expiry = Int64(Date().timeIntervalSince1970) + 3600
let kinds: [Caveat] = [.sprites(["agent-1", "agent-2"]), .ops([.exec, .read]), .expires(unixSeconds: expiry), .prefix("agent-")]

var cases: [(name: String, token: String)] = [("admin token", admin)]
for count in [1, 4, 16] {
    let caveats = (0..<count).map { kinds[$0 % kinds.count] }
    let (token, _) = try await authority.mint(by: .admin, description: "bench", caveats: caveats)
    cases.append(("\(count) caveats", token.string))
}

var results: [String: [String: Double]] = [:]
let clock = ContinuousClock()
for (name, token) in cases {
    for cold in [true, false] where !(cold && name == "admin token") {
        var micros: [Double] = []
        micros.reserveCapacity(20_000)
        for i in 0..<22_000 {
            if cold { authority.forgetVerified() }
            let start = clock.now
            _ = try authority.verify(token)
            let elapsed = clock.now - start
            if i >= 2_000 { micros.append(Double(elapsed.components.attoseconds) / 1e12 + Double(elapsed.components.seconds) * 1e6) }
        }
        micros.sort()
        let p50 = micros[micros.count / 2], p99 = micros[micros.count * 99 / 100]
        let label = name == "admin token" ? name : "\(name), \(cold ? "cold" : "warm")"
        results[label] = ["p50_us": p50, "p99_us": p99, "n": Double(micros.count), "token_bytes": Double(token.utf8.count)]
        if !json {
            print("verify \(label.padding(toLength: 18, withPad: " ", startingAt: 0)) p50 \(String(format: "%6.2f", p50)) µs  p99 \(String(format: "%6.2f", p99)) µs  (\(token.utf8.count) bytes)")
        }
    }
}
if json {
    let data = try JSONSerialization.data(withJSONObject: results, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}
