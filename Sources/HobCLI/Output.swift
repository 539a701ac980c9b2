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
