// Tools for the sprites themselves: list, create, inspect (with the URL), sleep, fork, destroy.
import HobAPI
import HobClient
import MCP

extension HobTool {
    static let spriteTools: [HobTool] = [
        HobTool(
            "list_sprites", title: "List sprites",
            description: """
                List the sprites (persistent Linux computers) this token can see, with each one's status: running, \
                warm (asleep, memory kept, wakes in milliseconds) or cold (stopped, disk kept, wakes in about a second). \
                Use it to find a sprite to work in before creating a new one. Returns name, status, URL and labels per sprite.
                """,
            properties: ["prefix": Schema.string("Only sprites whose name starts with this.")],
            hints: .init(readOnlyHint: true, openWorldHint: false)
        ) { args, client in
            let sprites = try await client.listAllSprites(prefix: try args.string("prefix"))
            let lines = sprites.map { "\($0.name)  \($0.status.rawValue)  \($0.url)" + ($0.labels.isEmpty ? "" : "  labels: \($0.labels.joined(separator: ","))") }
            let summary = sprites.isEmpty ? "No sprites." : "\(sprites.count) sprite(s):\n" + lines.joined(separator: "\n")
            return ToolOutput(text: summary, structured: .object(["sprites": try Value(sprites.map(SpriteSummary.init))]))
        },
        HobTool(
            "create_sprite", title: "Create a sprite",
            description: """
                Create a new sprite: a Debian Linux computer with a root shell and its own persistent disk, ready in \
                about a second. Its disk survives sleep and restarts until it is destroyed. Use exec to run commands in \
                it afterwards. Names are 1-63 lowercase letters, digits and dashes. Returns the new sprite's details.
                """,
            properties: [
                "name": Schema.string("Name for the new sprite, e.g. my-project."),
                "labels": Schema.strings("Labels to tag it with, e.g. [\"team-a\"]."),
            ],
            required: ["name"], hints: .init(destructiveHint: false, idempotentHint: false, openWorldHint: false)
        ) { args, client in
            var request = CreateSpriteRequest(name: try args.requiredString("name"))
            let labels = try args.strings("labels")
            if !labels.isEmpty { request.labels = labels }
            let info = try await client.createSprite(request)
            return try .json(SpriteSummary(info), summary: "Created sprite \(info.name) (\(info.status.rawValue)).")
        },
        HobTool(
            "get_sprite", title: "Sprite details and URL",
            description: """
                Show one sprite: status, its URL (HTTP on port 8080 inside the sprite is served there; it wakes the \
                sprite), who may open the URL (url_auth: sprite = a token is needed, public = anyone), resources and \
                disk use. Use it to find where a web server you started in the sprite can be reached.
                """,
            properties: ["sprite": Schema.sprite], required: ["sprite"],
            hints: .init(readOnlyHint: true, openWorldHint: false)
        ) { args, client in
            let info = try await client.getSprite(try args.requiredString("sprite"))
            return try .json(info)
        },
        HobTool(
            "sleep_sprite", title: "Put a sprite to sleep",
            description: """
                Put a sprite to sleep now instead of waiting for its idle timeout. warm keeps its memory (processes \
                resume where they were); cold stops it and frees memory (the disk is kept; processes do not survive). \
                Any later call to the sprite wakes it. Returns its new status.
                """,
            properties: ["sprite": Schema.sprite, "state": Schema.string("warm (default) or cold.", choices: ["warm", "cold"])],
            required: ["sprite"], hints: .init(destructiveHint: false, idempotentHint: true, openWorldHint: false)
        ) { args, client in
            let state: SpriteStatus = try args.choice("state", ["warm", "cold"]) == "cold" ? .cold : .warm
            let info = try await client.sleepSprite(try args.requiredString("sprite"), state: state)
            return try .json(SpriteSummary(info), summary: "Sprite \(info.name) is \(info.status.rawValue).")
        },
        HobTool(
            "fork_sprite", title: "Fork a sprite",
            description: """
                Create a new sprite whose disk is a copy of another sprite's, from its current state or from one of its \
                checkpoints (see list_checkpoints). The copy is instant and independent: use it to try something risky \
                without touching the original, or to run several experiments side by side.
                """,
            properties: [
                "source": Schema.string("The sprite to copy."),
                "name": Schema.string("Name for the new sprite."),
                "checkpoint": Schema.string("Checkpoint id of the source to copy (e.g. v2); default: a fresh checkpoint of its current disk."),
            ],
            required: ["source", "name"], hints: .init(destructiveHint: false, idempotentHint: false, openWorldHint: false)
        ) { args, client in
            let info = try await client.fork(
                source: try args.requiredString("source"), checkpoint: try args.string("checkpoint"), name: try args.requiredString("name"))
            return try .json(SpriteSummary(info), summary: "Forked into sprite \(info.name).")
        },
        HobTool(
            "destroy_sprite", title: "Destroy a sprite",
            description: """
                Destroy a sprite for good: its disk and all its checkpoints are deleted and cannot be recovered. \
                Only do this when the user asked for it or the sprite was created for a finished throw-away task.
                """,
            properties: ["sprite": Schema.sprite], required: ["sprite"],
            hints: .init(destructiveHint: true, idempotentHint: true, openWorldHint: false)
        ) { args, client in
            let name = try args.requiredString("sprite")
            try await client.deleteSprite(name)
            return ToolOutput(text: "Destroyed sprite \(name).", structured: .object(["destroyed": .string(name)]))
        },
    ]
}

/// What the model needs to know of a sprite in a list; `get_sprite` gives everything.
struct SpriteSummary: Codable, Sendable {
    var name: String
    var status: String
    var url: String
    var urlAuth: String?
    var labels: [String]

    init(_ info: SpriteInfo) {
        name = info.name
        status = info.status.rawValue
        url = info.url
        urlAuth = info.urlSettings.auth
        labels = info.labels
    }

    enum CodingKeys: String, CodingKey {
        case name, status, url, labels
        case urlAuth = "url_auth"
    }
}
