// One MCP tool: what the model is told (name, description, input schema, hints) and what runs.
// Every tool acts through `HobClient`, as the caller's token: `hob mcp` with the token it was
// started with, `/mcp` on the daemon with the token of the request. So a tool can do exactly
// what that token may, and each of its calls is checked, and audited, by the API itself.
import Foundation
import HobClient
import MCP

struct HobTool: Sendable {
    let definition: Tool
    let run: @Sendable (ToolArguments, HobClient) async throws -> ToolOutput

    init(
        _ name: String, title: String, description: String, properties: [String: Value] = [:], required: [String] = [],
        hints: Tool.Annotations = nil, run: @escaping @Sendable (ToolArguments, HobClient) async throws -> ToolOutput
    ) {
        definition = Tool(
            name: name, title: title, description: description,
            inputSchema: Schema.object(properties, required: required), annotations: hints)
        self.run = run
    }
}

/// What a tool answers: text for the model, and the same facts as JSON for programs.
struct ToolOutput: Sendable {
    var text: String
    var structured: Value?
    /// The call ran but did not do what was asked (the tool's failure, not a protocol error).
    var isError = false

    /// The answer for a value of the API: its JSON, pretty-printed for the model, and as is.
    static func json<T: Codable>(_ value: T, summary: String? = nil) throws -> ToolOutput {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let text = String(decoding: try encoder.encode(value), as: UTF8.self)
        return ToolOutput(text: summary.map { "\($0)\n\(text)" } ?? text, structured: try Value(value))
    }

    static func failure(_ message: String) -> ToolOutput { ToolOutput(text: message, structured: nil, isError: true) }

    var result: CallTool.Result {
        // structuredContent must be an object; an array is wrapped.
        let structured: Value? =
            switch self.structured {
            case .array?: .object(["items": self.structured!])
            default: self.structured
            }
        return CallTool.Result(content: [.text(text: text, annotations: nil, _meta: nil)], structuredContent: structured, isError: isError)
    }
}

/// JSON Schema for tool inputs, written out for the model (every property has a description).
enum Schema {
    static func object(_ properties: [String: Value], required: [String]) -> Value {
        var schema: [String: Value] = ["type": "object", "properties": .object(properties), "additionalProperties": false]
        if !required.isEmpty { schema["required"] = .array(required.map { .string($0) }) }
        return .object(schema)
    }

    static func string(_ description: String, choices: [String]? = nil) -> Value {
        var schema: [String: Value] = ["type": "string", "description": .string(description)]
        if let choices { schema["enum"] = .array(choices.map { .string($0) }) }
        return .object(schema)
    }

    static func integer(_ description: String, minimum: Int, maximum: Int) -> Value {
        .object(["type": "integer", "description": .string(description), "minimum": .int(minimum), "maximum": .int(maximum)])
    }

    static func boolean(_ description: String) -> Value { .object(["type": "boolean", "description": .string(description)]) }

    static func strings(_ description: String) -> Value {
        .object(["type": "array", "items": ["type": "string"], "description": .string(description)])
    }

    static func stringMap(_ description: String) -> Value {
        .object(["type": "object", "additionalProperties": ["type": "string"], "description": .string(description)])
    }

    /// The `sprite` argument most tools take.
    static let sprite = string("Name of the sprite (see list_sprites).")
}
