// What sprite-env prints: checkpoint and task tables and details from the API's JSON, NDJSON
// progress lines, and error bodies. Pure functions of the bytes received.

/// One line of a checkpoint or restore stream (SPRITES-API.md §7.2), reduced to what to do with it.
public enum StreamLine: Equatable, Sendable {
    /// `info` and `stdout`: text for stdout.
    case output(String)
    /// `stderr`: text for stderr.
    case diagnostic(String)
    /// `error`: the operation failed.
    case failed(String)
    /// `complete`: the operation succeeded (the text may be empty).
    case completed(String)
    /// A line with nothing to show (blank, or a known type without data).
    case nothing

    public init(_ line: [UInt8]) {
        guard line.contains(where: { $0 != 0x20 && $0 != 0x09 }) else {
            self = .nothing
            return
        }
        guard let value = try? JSONValue.parse(line), let type = value["type"]?.stringValue else {
            // Not a stream message: show it rather than hide what the server said.
            self = .output(String(decoding: line, as: UTF8.self))
            return
        }
        let data = value["data"]?.stringValue
        switch type {
        case "stderr": self = data.map { .diagnostic($0) } ?? .nothing
        case "error": self = .failed(value["error"]?.stringValue ?? data ?? "the operation failed")
        case "complete": self = .completed(data ?? "")
        default: self = data.map { .output($0) } ?? .nothing
        }
    }
}

/// The message of an API error body: `{"error":"code","message":"text"}` (SPRITES-API.md §2), an
/// older `{"error":"text"}` or `{"errors":[…]}`, or plain text; the status line when empty.
public func errorMessage(status: Int, reason: String, body: [UInt8]) -> String {
    if let value = try? JSONValue.parse(body) {
        if let message = value["message"]?.stringValue, !message.isEmpty { return message }
        if let error = value["error"]?.stringValue, !error.isEmpty { return error }
        if let errors = value["errors"]?.arrayValue?.compactMap(\.stringValue), !errors.isEmpty {
            return errors.joined(separator: "; ")
        }
    }
    let text = String(decoding: body.prefix(512), as: UTF8.self)
    let stripped = text.split(whereSeparator: \.isNewline).joined(separator: " ")
    if !stripped.allSatisfy(\.isWhitespace) { return stripped }
    return "the sprite API answered \(status)\(reason.isEmpty ? "" : " \(reason)")"
}

/// One entry of `GET /v1/checkpoints` (SPRITES-API.md §7.3).
public struct CheckpointEntry: Equatable, Sendable {
    public var id: String
    public var created: String
    public var comment: String
    public var isAuto: Bool
    public var history: [String]
    public var sizeBytes: Int64?

    /// The list includes a pseudo-entry for the sprite's live state.
    public var isCurrent: Bool { id == "Current" }

    public init(id: String, created: String, comment: String, isAuto: Bool, history: [String] = [], sizeBytes: Int64? = nil) {
        self.id = id
        self.created = created
        self.comment = comment
        self.isAuto = isAuto
        self.history = history
        self.sizeBytes = sizeBytes
    }

    public init(_ value: JSONValue) throws(JSONError) {
        guard let id = value["id"]?.stringValue else { throw JSONError("checkpoint without an id") }
        self.id = id
        created = value["create_time"]?.stringValue ?? ""
        comment = value["comment"]?.stringValue ?? ""
        isAuto = value["is_auto"]?.boolValue ?? false
        history = value["history"]?.arrayValue?.compactMap(\.stringValue) ?? []
        sizeBytes = value["size_bytes"]?.int64Value
    }

    public static func list(_ value: JSONValue) throws(JSONError) -> [CheckpointEntry] {
        guard let items = value.arrayValue else { throw JSONError("expected a JSON array of checkpoints") }
        var entries: [CheckpointEntry] = []
        for item in items { entries.append(try CheckpointEntry(item)) }
        return entries
    }
}

/// A table with ID, CREATED and COMMENT columns, in the API's order. The live state's row says so.
public func checkpointTable(_ entries: [CheckpointEntry]) -> String {
    guard !entries.isEmpty else { return "No checkpoints.\n" }
    let rows: [[String]] = entries.map { e in
        var notes: [String] = []
        if e.isCurrent { notes.append("(current state, not a checkpoint)") }
        if e.isAuto { notes.append("(auto)") }
        if !e.comment.isEmpty { notes.append(singleLine(e.comment)) }
        return [e.id, e.created.isEmpty ? "-" : e.created, notes.joined(separator: " ")]
    }
    return table(header: ["ID", "CREATED", "COMMENT"], rows: rows)
}

/// `checkpoints info`: one field per line.
public func checkpointDetails(_ e: CheckpointEntry) -> String {
    var fields: [(String, String)] = [("ID", e.id), ("Created", e.created.isEmpty ? "-" : e.created)]
    fields.append(("Comment", e.comment.isEmpty ? "-" : singleLine(e.comment)))
    fields.append(("Automatic", e.isAuto ? "yes" : "no"))
    if !e.history.isEmpty { fields.append(("History", e.history.joined(separator: ", "))) }
    if let size = e.sizeBytes { fields.append(("Size", formatBytes(size))) }
    let width = fields.map(\.0.count).max() ?? 0
    return fields.map { name, value in "\(name):" + String(repeating: " ", count: width - name.count + 2) + value + "\n" }.joined()
}

/// One task of `GET /v1/tasks` (SPRITES-API.md §12.1), or the task `GET`, `POST` and `PUT`
/// answer with.
public struct TaskEntry: Equatable, Sendable {
    public var name: String
    public var startedAt: String
    public var expiresAt: String

    public init(name: String, startedAt: String, expiresAt: String) {
        self.name = name
        self.startedAt = startedAt
        self.expiresAt = expiresAt
    }

    public init(_ value: JSONValue) throws(JSONError) {
        guard let name = value["name"]?.stringValue else { throw JSONError("task without a name") }
        self.name = name
        startedAt = value["started_at"]?.stringValue ?? ""
        expiresAt = value["expires_at"]?.stringValue ?? ""
    }

    /// Unlike the checkpoint list, the task list is an object: `{"tasks":[…]}`.
    public static func list(_ value: JSONValue) throws(JSONError) -> [TaskEntry] {
        guard let items = value["tasks"]?.arrayValue else { throw JSONError("expected a JSON object with a tasks array") }
        var entries: [TaskEntry] = []
        for item in items { entries.append(try TaskEntry(item)) }
        return entries
    }
}

/// A table with NAME, STARTED and EXPIRES columns, in the API's order (by name).
public func taskTable(_ entries: [TaskEntry]) -> String {
    guard !entries.isEmpty else { return "No tasks.\n" }
    // The API refuses names with spaces or control characters: unlike comments, they need no cleaning.
    let rows = entries.map { e in [e.name, e.startedAt.isEmpty ? "-" : e.startedAt, e.expiresAt.isEmpty ? "-" : e.expiresAt] }
    return table(header: ["NAME", "STARTED", "EXPIRES"], rows: rows)
}

/// `tasks get`, `create` and `renew`: one field per line.
public func taskDetails(_ e: TaskEntry) -> String {
    let fields = [("Name", e.name), ("Started", e.startedAt.isEmpty ? "-" : e.startedAt), ("Expires", e.expiresAt.isEmpty ? "-" : e.expiresAt)]
    let width = fields.map(\.0.count).max() ?? 0
    return fields.map { name, value in "\(name):" + String(repeating: " ", count: width - name.count + 2) + value + "\n" }.joined()
}

/// Left-aligned columns separated by two spaces; the last column is not padded.
func table(header: [String], rows: [[String]]) -> String {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
    return all.map { row in
        row.indices.map { column in
            column == row.count - 1 ? row[column] : row[column] + String(repeating: " ", count: widths[column] - row[column].count)
        }.joined(separator: "  ")
            .trimmingTrailingSpaces() + "\n"
    }.joined()
}

/// 1536 → "1.5 KiB".
func formatBytes(_ bytes: Int64) -> String {
    let units = ["bytes", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    if unit == 0 { return "\(bytes) bytes" }
    let tenths = Int((value * 10).rounded())
    return "\(tenths / 10).\(tenths % 10) \(units[unit])"
}

/// Newlines in a comment would break the table.
func singleLine(_ text: String) -> String {
    text.split(whereSeparator: \.isNewline).joined(separator: " ")
}

extension String {
    func trimmingTrailingSpaces() -> String {
        var s = Substring(self)
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
