// `hob serve --log-format json`: one JSON object per line on stderr, for log collectors
// (journald, Loki, Vector). Each line has time, level, message, the logger's label and source,
// and every metadata key (keys sorted): the sprite and the request id come from LogContext's provider.
import Foundation
import Glibc
import HobOS
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
        // A broken stderr (its reader gone, a full disk) loses the line, never the daemon.
        Self.output.withLock { _ in _ = FileDescriptors.writeAll(STDERR_FILENO, Array(line.utf8)) }
    }

    static func line(
        time: Date, level: Logger.Level, message: String, label: String, source: String, metadata: Logger.Metadata
    ) -> String {
        var object: [String: Any] = metadata.mapValues(plain)
        // The line's own fields win over metadata of the same name.
        object["time"] = timestamp(time)
        object["level"] = level.rawValue
        object["message"] = message
        object["label"] = label
        object["source"] = source
        // Sorted keys: lines are stable to read and to test.
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            return "{\"level\":\"error\",\"message\":\"unloggable line\"}\n"
        }
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// A metadata value as JSONSerialization takes it.
    static func plain(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let text): text
        case .stringConvertible(let item): item.description
        case .array(let items): items.map(plain)
        case .dictionary(let pairs): pairs.mapValues(plain)
        }
    }

    /// RFC 3339 in UTC with milliseconds.
    static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
