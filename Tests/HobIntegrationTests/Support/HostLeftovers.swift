// What a daemon may leave on the host (mounts, bridge, nftables table, cgroups), found and removed
// by name. Tests use the finders to assert a clean shutdown; fixtures use `remove` so that even a
// failed test leaves the machine as it found it.
import Foundation

enum HostLeftovers {
    /// Mount points at or below `path`, deepest first.
    static func mounts(under path: String) -> [String] {
        let resolved = (path as NSString).resolvingSymlinksInPath
        let text = KernelFile.text("/proc/self/mountinfo")
        let points = text.lines.compactMap { line -> String? in
            let fields = line.split(separator: " ")
            guard fields.count > 4 else { return nil }
            let point = unescape(String(fields[4]))
            return point == resolved || point.hasPrefix(resolved + "/") ? point : nil
        }
        return points.sorted { $0.count > $1.count }
    }

    /// `<hierarchy>/<instance>` directories in every mounted cgroup hierarchy (v1, hybrid or v2).
    static func cgroupDirectories(instance: String) -> [String] {
        let base = "/sys/fs/cgroup"
        var candidates = ["\(base)/\(instance)"]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? [] {
            candidates.append("\(base)/\(entry)/\(instance)")
        }
        return candidates.filter(isDirectory)
    }

    static func linkExists(_ name: String) async -> Bool {
        (try? await HostProcess.run("ip", ["link", "show", "dev", name]).succeeded) ?? false
    }

    /// nftables tables named after the instance, in any family ("inet hitab12", "bridge hitab12").
    static func nftablesTables(named instance: String) async -> [String] {
        let listed = (try? await HostProcess.run("nft", ["list", "tables"]))?.stdout ?? ""
        return listed.lines.compactMap { line in
            let words = line.split(separator: " ").map(String.init)
            return words.count == 3 && words[0] == "table" && words[2] == instance ? "\(words[1]) \(words[2])" : nil
        }
    }

    /// Removes everything named after `instance`, unmounts what is under `root`, then deletes `root`.
    static func remove(instance: String, under root: String) async {
        for point in mounts(under: root) {
            _ = try? await HostProcess.run("umount", ["--lazy", point])
        }
        if await linkExists(instance + "0") { _ = try? await HostProcess.run("ip", ["link", "del", instance + "0"]) }
        for table in await nftablesTables(named: instance) {
            _ = try? await HostProcess.run("nft", ["delete", "table"] + table.split(separator: " ").map(String.init))
        }
        for directory in cgroupDirectories(instance: instance) {
            // Sprite cgroups first (empty once their processes are gone), then the instance's parent.
            let children = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            for child in children where isDirectory("\(directory)/\(child)") { rmdir("\(directory)/\(child)") }
            rmdir(directory)
        }
        // The daemon's lock file names the instance; with a fresh instance per fixture they would pile up.
        unlink("/run/hob/\(instance).lock")
        if mounts(under: root).isEmpty { try? FileManager.default.removeItem(atPath: root) }
    }

    static func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// mountinfo escapes space, tab, newline and backslash as \ooo.
    static func unescape(_ field: String) -> String {
        guard field.contains("\\") else { return field }
        var bytes: [UInt8] = []
        var utf8 = Array(field.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "\\"), utf8.count >= 3, let value = UInt8(String(decoding: utf8.prefix(3), as: UTF8.self), radix: 8) {
                bytes.append(value)
                utf8 = utf8.dropFirst(3)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
