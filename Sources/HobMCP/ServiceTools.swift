// Services: processes a sprite keeps running and starts again when it wakes.
import HobAPI
import HobClient
import MCP

extension HobTool {
    static let serviceTools: [HobTool] = [
        HobTool(
            "list_services", title: "List a sprite's services",
            description: """
                List the services defined in a sprite (long-running processes it starts on boot and keeps running, \
                such as a web server), with command, HTTP port and state.
                """,
            properties: ["sprite": Schema.sprite], required: ["sprite"],
            hints: .init(readOnlyHint: true, openWorldHint: false)
        ) { args, client in
            let services = try await client.listServices(sprite: try args.requiredString("sprite"))
            let text = services.map { s in
                "\(s.name)  \(([s.cmd] + s.args).joined(separator: " "))" + (s.httpPort.map { "  port \($0)" } ?? "")
            }.joined(separator: "\n")
            return ToolOutput(text: services.isEmpty ? "No services." : text, structured: ["services": try Value(services)])
        },
        HobTool(
            "service_logs", title: "Read a service's log",
            description: "Return the last lines of a service's output (stdout and stderr), to see why it failed or what it is doing.",
            properties: [
                "sprite": Schema.sprite, "service": Schema.string("The service's name (see list_services)."),
                "lines": Schema.integer("How many of the last lines (default 100).", minimum: 1, maximum: 5000),
            ],
            required: ["sprite", "service"], hints: .init(readOnlyHint: true, openWorldHint: false)
        ) { args, client in
            let (sprite, service) = (try args.requiredString("sprite"), try args.requiredString("service"))
            var lines: [String] = []
            for try await line in try await client.serviceLogs(sprite: sprite, name: service, lines: try args.int("lines", default: 100, in: 1...5000)) {
                guard ["stdout", "stderr"].contains(line.type), let data = line.data else { continue }
                lines.append(data.hasSuffix("\n") ? String(data.dropLast()) : data)
            }
            return ToolOutput(
                text: lines.isEmpty ? "(the log of \(service) is empty)" : lines.joined(separator: "\n"),
                structured: ["lines": .array(lines.map { .string($0) })])
        },
    ]
}
