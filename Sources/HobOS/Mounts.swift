// Queries over the host's mount table and its loop devices.
import CHobShim
import Foundation
import Glibc

public struct MountEntry: Sendable, Equatable {
    public var mountPoint: String
    public var fsType: String
    public var source: String

    public init(mountPoint: String, fsType: String, source: String) {
        self.mountPoint = mountPoint
        self.fsType = fsType
        self.source = source
    }
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

    /// Mount points strictly below `directory`, deepest first (the order to unmount them in).
    public static func points(below directory: String, in entries: [MountEntry] = current()) -> [String] {
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        return entries.map(\.mountPoint).filter { $0.hasPrefix(prefix) }.reversed()
    }

    /// Detaches every mount below `directory` (MNT_DETACH: gone from the tree at once, even if
    /// busy), so that the directory can be removed. Returns the mount points it could not detach.
    @discardableResult
    public static func detachAll(below directory: String) -> [String] {
        points(below: directory).filter { umount2($0, Int32(MNT_DETACH)) != 0 && errno != EINVAL && errno != ENOENT }
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

    /// The mount at `mountPoint` of the filesystem on the loop device that serves `file` (the
    /// storage pool after a daemon was killed): the entry is recognised by its source device, so
    /// another filesystem mounted over or beside it is not taken for the pool.
    public static func loopMount(of file: String, at mountPoint: String) -> MountEntry? {
        let devices = Set(loopDevices(backing: file))
        guard !devices.isEmpty else { return nil }
        let points: Set<String> = [mountPoint, (mountPoint as NSString).resolvingSymlinksInPath]
        return current().last { points.contains($0.mountPoint) && devices.contains($0.source) }
    }

    /// Loop devices (/dev/loopN) whose backing file is `file`: the same inode on the same
    /// filesystem, as the kernel reports it (LOOP_GET_STATUS64), whatever path attached it. Where
    /// the device node cannot be opened, the path sysfs gives for the backing file is compared.
    public static func loopDevices(backing file: String) -> [String] {
        var st = stat()
        guard stat(file, &st) == 0 else { return [] }
        let resolved = (file as NSString).resolvingSymlinksInPath
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/block")) ?? []
        return names.filter { $0.hasPrefix("loop") && Files.exists("/sys/block/\($0)/loop") }.sorted().compactMap { name in
            var device: UInt64 = 0
            var inode: UInt64 = 0
            if hob_loop_backing("/dev/\(name)", &device, &inode) == 0 {
                return device == UInt64(st.st_dev) && inode == UInt64(st.st_ino) ? "/dev/\(name)" : nil
            }
            let backing = (try? Files.read("/sys/block/\(name)/loop/backing_file"))?.trimmingCharacters(in: .newlines)
            return backing == resolved ? "/dev/\(name)" : nil
        }
    }

}
