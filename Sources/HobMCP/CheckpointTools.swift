// Checkpoints: the whole disk of a sprite saved in milliseconds, and put back as it was.
import HobAPI
import HobClient
import MCP

extension HobTool {
    static let checkpointTools: [HobTool] = [
        HobTool(
            "create_checkpoint", title: "Checkpoint a sprite",
            description: """
                Save the sprite's whole disk as a checkpoint, in milliseconds, without stopping it. Take one before \
                anything risky (upgrades, migrations, large edits) so it can be undone with restore_checkpoint. \
                Returns the checkpoint's id (v1, v2, …).
                """,
            properties: ["sprite": Schema.sprite, "comment": Schema.string("What this checkpoint is, e.g. \"before upgrading postgres\".")],
            required: ["sprite"], hints: .init(destructiveHint: false, idempotentHint: false, openWorldHint: false)
        ) { args, client in
            let sprite = try args.requiredString("sprite")
            let messages = try await collect(try await client.createCheckpoint(sprite: sprite, comment: try args.string("comment")))
            guard let id = CheckpointProgress.createdCheckpointID(in: messages) else {
                return .failure("the checkpoint of \(sprite) finished without naming its id:\n" + lines(messages))
            }
            return ToolOutput(text: "Created checkpoint \(id) of \(sprite).", structured: ["sprite": .string(sprite), "id": .string(id)])
        },
        HobTool(
            "list_checkpoints", title: "List a sprite's checkpoints",
            description: """
                List a sprite's checkpoints, newest first, with id, time, comment and the checkpoint each was taken on \
                top of. The entry named Current is the live disk.
                """,
            properties: ["sprite": Schema.sprite], required: ["sprite"],
            hints: .init(readOnlyHint: true, openWorldHint: false)
        ) { args, client in
            let list = try await client.listCheckpoints(sprite: try args.requiredString("sprite"))
            let text = list.map { "\($0.id)  \($0.createTime)" + ($0.comment.isEmpty ? "" : "  \($0.comment)") }.joined(separator: "\n")
            return ToolOutput(text: list.isEmpty ? "No checkpoints." : text, structured: ["checkpoints": try Value(list)])
        },
        HobTool(
            "restore_checkpoint", title: "Restore a checkpoint",
            description: """
                Put a sprite's whole disk back to a checkpoint (see list_checkpoints). Everything written since is \
                lost unless it was checkpointed; the sprite restarts and its running commands end. Take a checkpoint \
                first if the current state may be wanted later.
                """,
            properties: ["sprite": Schema.sprite, "checkpoint": Schema.string("Checkpoint id, e.g. v1.")],
            required: ["sprite", "checkpoint"], hints: .init(destructiveHint: true, idempotentHint: true, openWorldHint: false)
        ) { args, client in
            let (sprite, id) = (try args.requiredString("sprite"), try args.requiredString("checkpoint"))
            let messages = try await collect(try await client.restoreCheckpoint(sprite: sprite, id: id))
            return ToolOutput(text: "Restored \(sprite) to \(id).\n" + lines(messages), structured: ["sprite": .string(sprite), "restored": .string(id)])
        },
    ]

    /// A checkpoint or restore stream to its end (it throws on an `error` line).
    static func collect(_ progress: CheckpointProgress) async throws -> [StreamMessage] {
        var messages: [StreamMessage] = []
        for try await message in progress { messages.append(message) }
        return messages
    }

    static func lines(_ messages: [StreamMessage]) -> String {
        messages.compactMap { $0.data?.trimmingWhitespace() }.filter { !$0.isEmpty }.joined(separator: "\n")
    }
}
