import Foundation
import HobClient
import MCP
import Testing

@testable import HobMCP

@Suite("MCP tools: what the model is told")
struct ToolCatalogTests {
    @Test("every tool has a unique name, a description, and an object schema whose required arguments it describes")
    func catalogue() throws {
        let names = HobMCP.tools.map(\.definition.name)
        #expect(Set(names).count == names.count)
        #expect(
            Set(names) == [
                "list_sprites", "create_sprite", "get_sprite", "sleep_sprite", "fork_sprite", "destroy_sprite", "exec", "list_files",
                "read_file", "write_file", "create_checkpoint", "list_checkpoints", "restore_checkpoint", "list_services", "service_logs",
            ])
        for tool in HobMCP.tools.map(\.definition) {
            #expect((tool.description ?? "").count > 40, "\(tool.name) needs a description a model can act on")
            let schema = try #require(tool.inputSchema.objectValue)
            // Python's mcp client rejects a whole tools/list if one schema is not an object.
            #expect(schema["type"] == "object", "\(tool.name)")
            let properties = try #require(schema["properties"]?.objectValue, "\(tool.name)")
            for required in schema["required"]?.arrayValue ?? [] {
                #expect(properties[required.stringValue ?? ""] != nil, "\(tool.name) requires an undescribed \(required)")
            }
            for (name, property) in properties {
                #expect(property.objectValue?["description"]?.stringValue?.isEmpty == false, "\(tool.name).\(name)")
            }
        }
    }

    @Test("destroy and restore are marked destructive, listings read-only")
    func hints() {
        let byName = HobMCP.toolsByName
        #expect(byName["destroy_sprite"]?.definition.annotations.destructiveHint == true)
        #expect(byName["restore_checkpoint"]?.definition.annotations.destructiveHint == true)
        for name in ["list_sprites", "get_sprite", "list_files", "read_file", "list_checkpoints", "list_services", "service_logs"] {
            #expect(byName[name]?.definition.annotations.readOnlyHint == true, "\(name)")
        }
    }

    @Test("an unknown tool is a protocol error naming the tools, not a result")
    func unknownTool() async {
        let client = HobClient(endpoint: HobEndpoint(baseURL: "http://127.0.0.1:1", token: "t"))
        await #expect(throws: MCPError.self) { try await HobMCP.call("rm_rf", arguments: [:], client: client) }
    }

    @Test("a daemon that cannot be reached is the tool's failure, in words")
    func unreachable() async throws {
        let client = HobClient(endpoint: HobEndpoint(baseURL: "http://127.0.0.1:1", token: "t"))
        let output = try await HobMCP.call("list_sprites", arguments: [:], client: client)
        #expect(output.isError)
        #expect(output.text.contains("127.0.0.1:1"))
    }
}

@Suite("MCP tool arguments")
struct ToolArgumentsTests {
    @Test("a missing or mistyped argument is invalid params that names the tool and the argument")
    func invalid() {
        let args = ToolArguments(tool: "exec", ["timeout_seconds": "soon", "sprite": 3])
        #expect(throws: MCPError.invalidParams("exec: command is required")) { try args.requiredString("command") }
        #expect(throws: MCPError.invalidParams("exec: sprite must be a string")) { try args.string("sprite") }
        #expect(throws: MCPError.invalidParams("exec: timeout_seconds must be a whole number")) {
            try args.int("timeout_seconds", default: 1, in: 1...10)
        }
    }

    @Test("whole numbers may arrive as doubles; ranges are enforced; absent means the default")
    func numbers() throws {
        #expect(try ToolArguments(tool: "t", ["n": .double(5)]).int("n", default: 1, in: 1...10) == 5)
        #expect(try ToolArguments(tool: "t", [:]).int("n", default: 7, in: 1...10) == 7)
        #expect(throws: MCPError.self) { try ToolArguments(tool: "t", ["n": .double(2.5)]).int("n", default: 1, in: 1...10) }
        #expect(throws: MCPError.self) { try ToolArguments(tool: "t", ["n": 11]).int("n", default: 1, in: 1...10) }
    }

    @Test("a string that looks like a data URL is given back as the text that was sent")
    func dataURL() throws {
        let decoded = try JSONDecoder().decode(Value.self, from: Data(#""data:text/plain;base64,aGk=""#.utf8))
        #expect(try ToolArguments(tool: "t", ["content": decoded]).string("content") == "data:text/plain;base64,aGk=")
    }

    @Test("environment maps and choices")
    func mapsAndChoices() throws {
        let args = ToolArguments(tool: "t", ["env": ["A": "1"], "state": "cold", "bad": ["A": 1]])
        #expect(try args.stringMap("env") == ["A": "1"])
        #expect(throws: MCPError.self) { try args.stringMap("bad") }
        #expect(try args.choice("state", ["warm", "cold"]) == "cold")
        #expect(try args.choice("missing", ["warm", "cold"]) == "warm")
        #expect(throws: MCPError.self) { try ToolArguments(tool: "t", ["state": "hot"]).choice("state", ["warm", "cold"]) }
    }
}

@Suite("exec output cap")
struct CappedOutputTests {
    @Test("output within the limit is kept whole")
    func whole() {
        var out = CappedOutput(limit: 10)
        out.append(Array("hello".utf8))
        out.append(Array("world".utf8))
        #expect(out.text == "helloworld")
        #expect(!out.isTruncated)
    }

    @Test("past the limit, the first and last halves are kept with the count of bytes left out")
    func headAndTail() {
        var out = CappedOutput(limit: 10)
        for chunk in ["abcde", "fghij", "klmno", "pqrst", "uvwxyz"] { out.append(Array(chunk.utf8)) }
        #expect(out.isTruncated)
        #expect(out.total == 26)
        #expect(out.text == "abcde\n[… 16 bytes left out …]\nvwxyz")
    }

    @Test("a tail longer than twice the limit in one piece keeps only its end")
    func hugePiece() {
        var out = CappedOutput(limit: 4)
        out.append(Array(repeating: UInt8(ascii: "x"), count: 1000) + Array("end!".utf8))
        #expect(out.text == "xx\n[… 1000 bytes left out …]\nd!")
    }
}

@Suite("stdio lines")
struct LineSplitterTests {
    @Test("lines are cut wherever reads end, empty lines and a CR before the newline are dropped")
    func pieces() throws {
        var splitter = LineSplitter(maxLine: 100)
        #expect(try splitter.take(ArraySlice("{\"a\"".utf8)).isEmpty)
        #expect(try splitter.take(ArraySlice(":1}\n\n{\"b\":2}\r\n{".utf8)) == [Array("{\"a\":1}".utf8), Array("{\"b\":2}".utf8)])
        #expect(try splitter.take(ArraySlice("}\n".utf8)) == [Array("{}".utf8)])
    }

    @Test("a line longer than the limit is an error, not unbounded memory")
    func tooLong() {
        var splitter = LineSplitter(maxLine: 8)
        #expect(throws: MCPError.self) { try splitter.take(ArraySlice(Array(repeating: UInt8(ascii: "x"), count: 9))) }
    }
}

@Suite("MCP tool calls")
struct ToolCallTests {
    @Test("an argument the tool does not have is refused, naming the ones it has")
    func unknownArgument() async {
        let client = HobClient(endpoint: HobEndpoint(baseURL: "http://127.0.0.1:1", token: "t"))
        await #expect(throws: MCPError.invalidParams("get_sprite: no argument named timeout; its arguments are sprite")) {
            try await HobMCP.call("get_sprite", arguments: ["sprite": "a", "timeout": 5], client: client)
        }
    }
}
