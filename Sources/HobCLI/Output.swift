// Rendering for people (aligned tables, key/value blocks) and for scripts (`--json`, pretty and key-sorted).

import ArgumentParser
import Foundation
import HobClient

enum JSONOutput {
    static func render<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func print<T: Encodable>(_ value: T) throws {
        Swift.print(try render(value))
    }
}

/// Left-aligned columns separated by three spaces; the last column is not padded.
struct TextTable {
    var headers: [String]
    var rows: [[String]] = []

    func render() -> String {
        let all = [headers] + rows
        var widths = [Int](repeating: 0, count: headers.count)
        for row in all {
            for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) }
        }
        return all.map { row in
            var line = ""
            for (i, cell) in row.enumerated() where i < widths.count {
                line += i == widths.count - 1 ? cell : cell.padding(toLength: widths[i] + 3, withPad: " ", startingAt: 0)
            }
            return line.trimmingTrailingSpaces()
        }.joined(separator: "\n")
    }
}

/// `key:   value` lines with the values aligned; the lines of a multi-line value line up under the first.
struct KeyValueBlock {
    var pairs: [(String, String)] = []

    mutating func add(_ key: String, _ value: String?) {
        guard let value, !value.isEmpty else { return }
        pairs.append((key, value))
    }

    func render() -> String {
        let width = (pairs.map { $0.0.count }.max() ?? 0) + 2
        let indent = String(repeating: " ", count: width)
        return pairs.map { key, value in
            (key + ":").padding(toLength: width, withPad: " ", startingAt: 0)
                + value.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\n" + indent)
        }.joined(separator: "\n")
    }
}

/// Byte counts for people, in binary units: `512 B`, `1.5 KiB`, `340 MiB`, `2.0 GiB`. One decimal below 10, none
/// above, so a column of sizes stays narrow.
enum ByteCount {
    static func format(_ bytes: Int64) -> String {
        guard bytes >= 1024 else { return "\(max(bytes, 0)) B" }
        let units = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var value = Double(bytes) / 1024
        var unit = 0
        // Move up a unit when the rounded figure would read 1024 or more ("1024 KiB" is "1.0 MiB").
        while unit < units.count - 1, value.rounded() >= 1024 {
            value /= 1024
            unit += 1
        }
        let shown = value < 9.95 ? String(format: "%.1f", value) : String(format: "%.0f", value)
        return "\(shown) \(units[unit])"
    }

    /// `-` when the server could not account the space.
    static func format(_ bytes: Int64?) -> String {
        bytes.map { format($0) } ?? "-"
    }
}

extension String {

    func trimmingTrailingSpaces() -> String {
        var s = self
        while s.hasSuffix(" ") { s.removeLast() }
        return s
    }
}

enum Daemon {
    /// A client for the endpoint found by `EndpointResolver` (HOB_API_URL/HOB_TOKEN, login config, local daemon).
    static func client() throws -> HobClient {
        HobClient(endpoint: try EndpointResolver().resolve().endpoint)
    }
}

/// `K=V` flags (`--env`): the key must be non-empty; the value may contain `=`.
enum KeyValueArgument {
    static func split(_ argument: String, flag: String) throws -> (key: String, value: String) {
        guard let eq = argument.firstIndex(of: "="), eq != argument.startIndex else {
            throw ValidationError("\(flag) expects KEY=VALUE, got \"\(argument)\"")
        }
        return (String(argument[..<eq]), String(argument[argument.index(after: eq)...]))
    }
}
