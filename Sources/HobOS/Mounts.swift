// Queries over the host's mount table.
import Glibc

public struct MountEntry: Sendable, Equatable {
    public var mountPoint: String
    public var fsType: String
    public var source: String
}

public enum Mounts {
    public static func current() -> [MountEntry] {
        guard let text = try? Files.read("/proc/self/mountinfo") else { return [] }
        return parse(text)
    }

    static func parse(_ text: String) -> [MountEntry] {
        text.split(separator: "\n").compactMap { line in
            let halves = line.split(separator: " - ", maxSplits: 1, omittingEmptySubsequences: false)
            guard halves.count == 2 else { return nil }
            let left = halves[0].split(separator: " ")
            let right = halves[1].split(separator: " ")
            guard left.count >= 5, right.count >= 2 else { return nil }
            return MountEntry(mountPoint: unescape(String(left[4])), fsType: String(right[0]), source: unescape(String(right[1])))
        }
    }

    /// mountinfo escapes space, tab, newline and backslash as octal.
    static func unescape(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        var out: [UInt8] = []
        let bytes = Array(s.utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == 92, i + 3 < bytes.count, let v = UInt8(String(decoding: bytes[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                out.append(v)
                i += 4
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func entry(at mountPoint: String) -> MountEntry? {
        current().last { $0.mountPoint == mountPoint }
    }

}
