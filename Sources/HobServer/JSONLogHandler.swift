// `hob serve --log-format json`: one JSON object per line on stderr, for log collectors
// (journald, Loki, Vector). Each line has time, level, message, the logger's label and source,
// and every metadata key: the sprite and the request id come from LogContext's provider.
import Foundation
import Logging
import Synchronization

struct JSONLogHandler: LogHandler {
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    let label: String

    /// Lines from many threads must not interleave: one write per line, one line at a time.
    private static let output = Mutex<Void>(())

    init(label: String, metadataProvider: Logger.MetadataProvider?) {
        self.label = label
        self.metadataProvider = metadataProvider
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields = metadataProvider?.get() ?? [:]
        fields.merge(metadata) { _, own in own }
        if let extra = event.metadata { fields.merge(extra) { _, own in own } }
        let line = Self.line(
            time: Date(), level: event.level, message: "\(event.message)", label: label, source: event.source, metadata: fields)
        Self.output.withLock { _ in
            FileHandle.standardError.write(Data(line.utf8))
        }
    }

    static func line(
        time: Date, level: Logger.Level, message: String, label: String, source: String, metadata: Logger.Metadata
    ) -> String {
        var out = "{\"time\":\(quoted(timestamp(time))),\"level\":\(quoted(level.rawValue)),\"message\":\(quoted(message))"
        out += ",\"label\":\(quoted(label)),\"source\":\(quoted(source))"
        // Sorted, so lines are stable to read and to test; a key never shadows the fields above.
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) where !["time", "level", "message", "label", "source"].contains(key) {
            out += ",\(quoted(key)):\(json(value))"
        }
        return out + "}\n"
    }

    static func json(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let text): quoted(text)
        case .stringConvertible(let item): quoted(item.description)
        case .array(let items): "[" + items.map(json).joined(separator: ",") + "]"
        case .dictionary(let pairs):
            "{" + pairs.sorted { $0.key < $1.key }.map { "\(quoted($0.key)):\(json($0.value))" }.joined(separator: ",") + "}"
        }
    }

    /// A JSON string literal (RFC 8259 §7).
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// RFC 3339 in UTC with milliseconds.
    static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
