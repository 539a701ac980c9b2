// Hob as an MCP server (Model Context Protocol, 2025-11-25): the tools an agent needs to run its
// own computers. Two transports share the same tools:
//  - `hob mcp`: stdio, for a local agent (`claude mcp add hob -- hob mcp`);
//  - `POST /mcp` on the daemon: streamable HTTP, stateless (docs/MCP.md).
// The protocol layer is modelcontextprotocol/swift-sdk; facts about it in docs/notes/mcp-swift-sdk.md.
import Foundation
import HobClient
import Logging
import MCP

package enum HobMCP {
    package static let serverName = "hob"
    package static let version = "0.1.0"

    static let instructions = """
        Hob runs sprites: persistent Linux computers (Debian, root shell) that start in about a second, keep their \
        disk until destroyed, sleep when idle and wake on the next call. Work in one with exec, read_file and \
        write_file; take a checkpoint before risky changes and restore it to undo them; fork to try things on a copy.
        """

    static let tools: [HobTool] =
        HobTool.spriteTools + [HobTool.execTool] + HobTool.fileTools + HobTool.checkpointTools + HobTool.serviceTools

    static let toolsByName: [String: HobTool] = Dictionary(uniqueKeysWithValues: tools.map { ($0.definition.name, $0) })

    /// A server whose tools act through `client` (with its token). One server serves one
    /// connection: the SDK keeps one client per server.
    package static func server(client: HobClient) async -> Server {
        let server = Server(
            name: serverName, version: version, title: "Hob", instructions: instructions,
            capabilities: .init(tools: .init(listChanged: false)))
        // Registered before `start`, which adds only initialize and ping.
        await server.withMethodHandler(ListTools.self) { _ in ListTools.Result(tools: tools.map(\.definition)) }
        await server.withMethodHandler(CallTool.self) { params in
            try await call(params.name, arguments: params.arguments, client: client).result
        }
        return server
    }

    /// Runs one tool. An unknown tool or malformed arguments throw (a JSON-RPC error); anything
    /// that goes wrong while it runs is its result, with `isError`, in words the model can act on.
    static func call(_ name: String, arguments: [String: Value]?, client: HobClient) async throws -> ToolOutput {
        guard let tool = toolsByName[name] else {
            throw MCPError.invalidParams("no tool named \(name); the tools are \(tools.map(\.definition.name).joined(separator: ", "))")
        }
        let known = tool.definition.inputSchema.objectValue?["properties"]?.objectValue ?? [:]
        if let unknown = arguments?.keys.sorted().first(where: { known[$0] == nil }) {
            // additionalProperties is false: a misspelt argument must not be dropped silently.
            let names = known.keys.sorted().joined(separator: ", ")
            throw MCPError.invalidParams("\(name): no argument named \(unknown); its arguments are \(names)")
        }
        do {
            return try await tool.run(ToolArguments(tool: name, arguments), client)
        } catch let error as MCPError {
            throw error
        } catch let error as HobClientError {
            return .failure(error.status == 403 ? "permission denied: \(error.message)" : error.message)
        } catch {
            return .failure("\(name) failed: \(error)")
        }
    }

    /// `hob mcp`: serves stdin/stdout until the client closes stdin. Nothing else may write to
    /// stdout; logs go to stderr.
    package static func serveStdio(client: HobClient, logger: Logger) async throws {
        let server = await server(client: client)
        try await server.start(transport: StdioLines(logger: logger))
        await server.waitUntilCompleted()
    }
}

extension HobMCP {
    /// An HTTP answer, in no framework's types.
    package struct HTTPAnswer: Sendable {
        package var status: Int
        package var headers: [String: String]
        package var body: [UInt8]
    }

    /// The answer to one POST of the streamable HTTP transport, stateless: a server and a
    /// transport made for this message alone (a server serves one client; a shared stateless
    /// transport would mix up two clients' request ids). `headers` are the request's. Origin and
    /// the token are the caller's to check; this checks Accept, Content-Type and the protocol version.
    package static func answer(post body: Data, headers: [String: String], client: HobClient) async -> HTTPAnswer {
        let transport = StatelessHTTPServerTransport(
            validationPipeline: StandardValidationPipeline(validators: [
                AcceptHeaderValidator(mode: .jsonOnly), ContentTypeValidator(), ProtocolVersionValidator(),
            ]))
        let server = await server(client: client)
        let response: HTTPResponse
        do {
            try await server.start(transport: transport)
            response = await transport.handleRequest(HTTPRequest(method: "POST", headers: headers, body: body, path: "/mcp"))
        } catch {
            // Only a transport started twice fails here, and each is made above.
            response = .error(statusCode: 500, .internalError("the MCP server did not start: \(error)"))
        }
        await server.stop()
        return HTTPAnswer(status: response.statusCode, headers: response.headers, body: response.bodyData.map(Array.init) ?? [])
    }
}
