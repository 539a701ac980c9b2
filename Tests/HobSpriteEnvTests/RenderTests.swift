import HobSpriteEnv
import Testing

@Suite("sprite-env output")
struct RenderTests {
    static let list = #"""
        [{"id":"Current","create_time":"","comment":"","history":["v2"],"is_auto":false},
         {"id":"v2","create_time":"2026-07-12T05:01:17Z","comment":"before upgrade","history":["v1"],"is_auto":false,"size_bytes":1536},
         {"id":"auto-7","create_time":"2026-07-12T04:00:00Z","comment":"","history":[],"is_auto":true}]
        """#

    @Test("the checkpoint list is a table; the live state and automatic checkpoints are marked")
    func table() throws {
        let entries = try CheckpointEntry.list(try JSONValue.parse(Self.list))
        #expect(
            checkpointTable(entries) == """
                ID       CREATED               COMMENT
                Current  -                     (current state, not a checkpoint)
                v2       2026-07-12T05:01:17Z  before upgrade
                auto-7   2026-07-12T04:00:00Z  (auto)

                """)
        #expect(checkpointTable([]) == "No checkpoints.\n")
    }

    @Test("checkpoint details list one field per line")
    func details() throws {
        let entry = try CheckpointEntry.list(try JSONValue.parse(Self.list))[1]
        #expect(
            checkpointDetails(entry) == """
                ID:         v2
                Created:    2026-07-12T05:01:17Z
                Comment:    before upgrade
                Automatic:  no
                History:    v1
                Size:       1.5 KiB

                """)
    }

    @Test("a list that is not an array of checkpoints is an error")
    func badList() {
        #expect(throws: JSONError.self) { try CheckpointEntry.list(try JSONValue.parse(#"{"id":"v1"}"#)) }
        #expect(throws: JSONError.self) { try CheckpointEntry.list(try JSONValue.parse(#"[{"comment":"x"}]"#)) }
    }

    static let tasks = #"""
        {"tasks":[{"name":"build","started_at":"2026-07-12T05:01:17Z","expires_at":"2026-07-12T06:01:17Z"},
                  {"name":"db:migrate","started_at":"2026-07-12T05:30:00Z","expires_at":"2026-07-12T05:35:00Z"}]}
        """#

    @Test("the task list is a table of names, start and expiry times")
    func taskList() throws {
        let entries = try TaskEntry.list(try JSONValue.parse(Self.tasks))
        #expect(
            taskTable(entries) == """
                NAME        STARTED               EXPIRES
                build       2026-07-12T05:01:17Z  2026-07-12T06:01:17Z
                db:migrate  2026-07-12T05:30:00Z  2026-07-12T05:35:00Z

                """)
        #expect(taskTable([]) == "No tasks.\n")
        #expect(try TaskEntry.list(try JSONValue.parse(#"{"tasks":[]}"#)) == [])
    }

    @Test("task details list one field per line")
    func taskDetail() throws {
        let entry = try TaskEntry(try JSONValue.parse(#"{"name":"build","started_at":"2026-07-12T05:01:17Z","expires_at":"2026-07-12T06:01:17Z"}"#))
        #expect(
            taskDetails(entry) == """
                Name:     build
                Started:  2026-07-12T05:01:17Z
                Expires:  2026-07-12T06:01:17Z

                """)
    }

    @Test("a task list that is not an object with a tasks array is an error")
    func badTaskList() {
        #expect(throws: JSONError.self) { try TaskEntry.list(try JSONValue.parse(#"[{"name":"build"}]"#)) }
        #expect(throws: JSONError.self) { try TaskEntry.list(try JSONValue.parse(#"{"tasks":[{"started_at":"t"}]}"#)) }
    }

    @Test("stream lines become output, diagnostics, a failure or completion")
    func streamLines() {
        func line(_ s: String) -> StreamLine { StreamLine(Array(s.utf8)) }
        #expect(line(#"{"type":"info","data":"  ID: v3","time":"2026-07-12T05:01:17Z"}"#) == .output("  ID: v3"))
        #expect(line(#"{"type":"stdout","data":"x"}"#) == .output("x"))
        #expect(line(#"{"type":"stderr","data":"warn"}"#) == .diagnostic("warn"))
        #expect(line(#"{"type":"error","error":"disk full"}"#) == .failed("disk full"))
        #expect(line(#"{"type":"error","data":"no room"}"#) == .failed("no room"))
        #expect(line(#"{"type":"complete","data":"Checkpoint v3 created successfully"}"#) == .completed("Checkpoint v3 created successfully"))
        #expect(line(#"{"type":"complete"}"#) == .completed(""))
        #expect(line(#"{"type":"info"}"#) == .nothing)
        #expect(line("  ") == .nothing)
        #expect(line("not json") == .output("not json"))
    }

    @Test("error bodies give their message, whatever their shape")
    func errorBodies() {
        func message(_ body: String, status: Int = 404) -> String {
            errorMessage(status: status, reason: "Not Found", body: Array(body.utf8))
        }
        #expect(message(#"{"error":"not_found","message":"checkpoint v9 not found"}"#) == "checkpoint v9 not found")
        #expect(message(#"{"error":"sprite not found"}"#) == "sprite not found")
        #expect(message(#"{"errors":["a","b"]}"#) == "a; b")
        #expect(message("plain\ntext") == "plain text")
        #expect(message("") == "the sprite API answered 404 Not Found")
    }
}
