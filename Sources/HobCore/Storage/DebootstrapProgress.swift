// How far a debootstrap run is, from debootstrap itself. Run with --debian-installer (the mode the
// Debian installer drives it in; it only checks that fd 3 is open), debootstrap writes its
// progress to fd 3 as records: `P: NOW END [PHASE]` with the real counts of each phase (bytes
// while downloading, packages while extracting, unpacking and configuring), and its messages as
// `I: NAME` / `IA: arg`… / `IF: printf-format` (W: and E: the same). This turns those records into
// one fraction for the whole build and readable messages.
import Foundation

struct DebootstrapProgress: Sendable {
    enum Event: Sendable, Equatable {
        /// The fraction of the whole debootstrap run done (0…1, never going back) and what it is doing.
        case progress(Double, phase: String)
        case info(String)
        case warning(String)
        case error(String)
    }

    /// Each phase's share of the run: where it starts and how much it spans. Measured on a build of
    /// the base image; downloads take longer on a slow network, which the ETA then absorbs.
    static let phases: [String: (start: Double, span: Double, label: String)] = [
        "DOWNREL": (0.00, 0.01, "downloading the release file"),
        "DOWNRELSIG": (0.01, 0.01, "checking the release signature"),
        "DOWNPKGS": (0.02, 0.06, "downloading the package lists"),
        "SIZEDEBS": (0.08, 0.01, "sizing the packages"),
        "DOWNDEBS": (0.09, 0.36, "downloading packages"),
        "EXTRACTPKGS": (0.45, 0.05, "extracting packages"),
        "INSTCORE": (0.50, 0.06, "installing core packages"),
        "UNPACKREQ": (0.56, 0.10, "unpacking required packages"),
        "CONFREQ": (0.66, 0.12, "configuring required packages"),
        "UNPACKBASE": (0.78, 0.11, "unpacking base packages"),
        "CONFBASE": (0.89, 0.11, "configuring base packages"),
    ]

    private var phase: String?
    private var fraction = 0.0
    /// A message being read: its kind, its arguments so far.
    private var pending: (kind: Character, arguments: [String])?

    /// Reads one line; returns what it completes, if anything. Lines that are no record (the
    /// full log on the other streams) are ignored.
    mutating func feed(_ line: Substring) -> Event? {
        guard let colon = line.firstIndex(of: ":"), line[colon...].hasPrefix(": ") else { return nil }
        let tag = line[..<colon]
        let value = String(line[line.index(colon, offsetBy: 2)...])
        switch tag {
        case "P": return progress(value)
        case "I", "W", "E":
            pending = (tag.first!, [])
            return nil
        case "IA", "WA", "EA":
            pending?.arguments.append(value)
            return nil
        case "IF", "WF", "EF":
            defer { pending = nil }
            let message = Self.format(value, pending?.arguments ?? [])
            switch tag.first {
            case "W": return .warning(message)
            case "E": return .error(message)
            default: return .info(message)
            }
        default: return nil
        }
    }

    private mutating func progress(_ value: String) -> Event? {
        let fields = value.split(separator: " ")
        guard fields.count >= 2, let now = Double(fields[0]), let end = Double(fields[1]), end > 0 else { return nil }
        if fields.count >= 3 { phase = String(fields[2]) }
        guard let phase, let share = Self.phases[phase] else { return nil }
        fraction = max(fraction, share.start + share.span * min(1, max(0, now / end)))
        return .progress(fraction, phase: share.label)
    }

    /// debootstrap's printf format with its arguments (it only uses %s).
    static func format(_ format: String, _ arguments: [String]) -> String {
        var result = ""
        var rest = arguments[...]
        var text = format[...]
        while let range = text.range(of: "%s") {
            result += text[..<range.lowerBound]
            result += rest.popFirst() ?? ""
            text = text[range.upperBound...]
        }
        result += text
        return result.replacing("%%", with: "%").trimmingCharacters(in: .whitespaces)
    }
}
