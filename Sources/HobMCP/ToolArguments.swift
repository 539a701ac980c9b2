// A tool call's arguments, read with the errors a model can act on. A malformed call (a missing
// or mistyped argument) is a JSON-RPC invalid-params error, which clients show to the model as
// the tool's failure; what goes wrong while the call runs is the tool's own result (`isError`).
import Foundation
import MCP

struct ToolArguments: Sendable {
    let tool: String
    let values: [String: Value]

    init(tool: String, _ values: [String: Value]?) {
        self.tool = tool
        self.values = values ?? [:]
    }

    func invalid(_ message: String) -> MCPError { .invalidParams("\(tool): \(message)") }

    /// A string argument. A string that looks like a data URL arrives as `.data` (the SDK decodes
    /// `data:…;base64,…` eagerly); it is turned back into the text that was sent.
    func string(_ key: String) throws(MCPError) -> String? {
        switch values[key] {
        case nil, .null?: return nil
        case .string(let text)?: return text
        case .data(let mime, let bytes)?: return "data:\(mime ?? "");base64,\(bytes.base64EncodedString())"
        default: throw invalid("\(key) must be a string")
        }
    }

    func requiredString(_ key: String) throws(MCPError) -> String {
        guard let text = try string(key), !text.isEmpty else { throw invalid("\(key) is required") }
        return text
    }

    /// An integer argument in `range`; JSON numbers may arrive as doubles (`5.0`).
    func int(_ key: String, default fallback: Int, in range: ClosedRange<Int>) throws(MCPError) -> Int {
        let number: Int
        switch values[key] {
        case nil, .null?: return fallback
        case .int(let n)?: number = n
        case .double(let d)? where d.rounded() == d && abs(d) < 1e15: number = Int(d)
        default: throw invalid("\(key) must be a whole number")
        }
        guard range.contains(number) else { throw invalid("\(key) must be from \(range.lowerBound) to \(range.upperBound)") }
        return number
    }

    func bool(_ key: String, default fallback: Bool = false) throws(MCPError) -> Bool {
        switch values[key] {
        case nil, .null?: return fallback
        case .bool(let b)?: return b
        default: throw invalid("\(key) must be true or false")
        }
    }

    /// An object of strings, e.g. environment variables.
    func stringMap(_ key: String) throws(MCPError) -> [String: String] {
        switch values[key] {
        case nil, .null?: return [:]
        case .object(let object)?:
            var out: [String: String] = [:]
            for (name, value) in object {
                guard case .string(let text) = value else { throw invalid("\(key).\(name) must be a string") }
                out[name] = text
            }
            return out
        default: throw invalid("\(key) must be an object of strings")
        }
    }

    func strings(_ key: String) throws(MCPError) -> [String] {
        switch values[key] {
        case nil, .null?: return []
        case .array(let items)?:
            return try items.map { item throws(MCPError) in
                guard case .string(let text) = item else { throw invalid("\(key) must be a list of strings") }
                return text
            }
        default: throw invalid("\(key) must be a list of strings")
        }
    }

    /// One of `choices` (the first when absent).
    func choice(_ key: String, _ choices: [String]) throws(MCPError) -> String {
        guard let text = try string(key) else { return choices[0] }
        guard choices.contains(text) else { throw invalid("\(key) must be one of \(choices.joined(separator: ", "))") }
        return text
    }
}
