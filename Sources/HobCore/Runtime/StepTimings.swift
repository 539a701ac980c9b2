// Runtime: where the time of a boot or a clean-up goes, step by step, for the debug log ("boot steps", "clean-up steps").
//
// Boot latency is a headline number (create → first output, cold wake, restore → first exec);
// a per-step split in the log is what tells which part moved when it regresses.
import Logging

struct StepTimings {
    private var last = ContinuousClock.now
    private(set) var steps: [(name: String, micros: Int64)] = []

    /// Ends the step that ran since the previous mark.
    mutating func mark(_ name: String) {
        let now = ContinuousClock.now
        record(name, now - last)
        last = now
    }

    /// A step that ran beside the others (on another thread), timed there.
    mutating func record(_ name: String, _ elapsed: Duration) {
        steps.append((name, elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000))
    }

    /// "ids=0.31 listen=0.05 …" in milliseconds, in the order the steps ran.
    var summary: String {
        steps.map { "\($0.name)=\(Self.milliseconds($0.micros))" }.joined(separator: " ")
    }

    static func milliseconds(_ micros: Int64) -> String {
        let tenths = (micros + 50) / 100
        return "\(tenths / 10).\(tenths % 10)"
    }
}
