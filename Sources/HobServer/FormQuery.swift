// Query strings as clients really send them: SDKs form-encode (`+` for space), some percent-encode.
// Hummingbird's parser keeps `+` literally, which would turn `echo hi` into `echo+hi`.
import Foundation

struct FormQuery {
    private(set) var items: [(String, String)] = []

    init(_ raw: String?) {
        guard let raw, !raw.isEmpty else { return }
        for pair in raw.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = Self.decode(parts[0])
            let value = parts.count > 1 ? Self.decode(parts[1]) : ""
            items.append((key, value))
        }
    }

    static func decode(_ s: Substring) -> String {
        let spaced = s.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }

    subscript(_ key: String) -> String? { items.first { $0.0 == key }?.1 }

    func all(_ key: String) -> [String] { items.filter { $0.0 == key }.map(\.1) }
}
