// btrfs simple quotas (squota, kernel 6.7+) through ioctls; usage is read from sysfs.
//
// Simple quotas charge every extent to the subvolume that allocated it, for as long as the extent
// exists, whoever else shares it later. That makes them cheap (no backref walks at commit, unlike
// full qgroups) and gives the accounting Hob wants: a snapshot costs its creator nothing, data a
// checkpoint keeps alive stays charged to the sprite that wrote it, and the base image's extents
// stay charged to the image. Limits on a qgroup and on the groups above it are enforced when
// space is reserved: a write beyond one fails with EDQUOT.
import CHobShim
import Foundation
import Glibc

/// A quota group id: level (0 for a subvolume's own group) and number, as btrfs packs them.
public struct Qgroup: Hashable, Sendable, CustomStringConvertible {
    public let level: UInt64
    public let id: UInt64

    public init(level: UInt64, id: UInt64) {
        self.level = level
        self.id = id
    }

    public init(rawValue: UInt64) { self.init(level: rawValue >> 48, id: rawValue & 0xFFFF_FFFF_FFFF) }

    public var rawValue: UInt64 { level << 48 | id }
    /// As btrfs-progs prints it, e.g. "1/7".
    public var description: String { "\(level)/\(id)" }

    /// "1_7", the name of its sysfs directory.
    init?(sysfsName: String) {
        let parts = sysfsName.split(separator: "_")
        guard parts.count == 2, let level = UInt64(parts[0]), let id = UInt64(parts[1]) else { return nil }
        self.init(level: level, id: id)
    }
}

/// What a qgroup holds and may hold.
public struct QgroupUsage: Sendable, Equatable {
    public var referenced: Int64
    /// nil when unlimited.
    public var limit: Int64?
}

/// The quota groups of one mounted btrfs filesystem.
public struct BtrfsQuota: Sendable {
    /// Any directory of the filesystem (ioctls go to it).
    public let mount: String
    /// /sys/fs/btrfs/<fsid>/qgroups
    let sysfs: String

    /// Enables simple quotas on the filesystem at `mount` unless they already are. Fails when the
    /// filesystem has full qgroups instead, or the kernel lacks simple quotas.
    public static func enableSimple(on mount: String) throws(SystemError) -> BtrfsQuota {
        var fsid = [CChar](repeating: 0, count: 37)
        try syscall("btrfs filesystem id of \(mount)") { hob_btrfs_fsid(mount, &fsid) }
        let quota = BtrfsQuota(mount: mount, sysfs: "/sys/fs/btrfs/\(String(decoding: fsid.prefix { $0 != 0 }.map(UInt8.init), as: UTF8.self))/qgroups")
        switch quota.mode {
        case "squota": return quota
        case nil: try syscall("enable btrfs simple quotas on \(mount)") { hob_btrfs_quota_enable_simple(mount) }
        case let other?:
            throw SystemError(operation: "enable btrfs simple quotas on \(mount)", errno: EINVAL, detail: "quotas are already on in mode \(other)")
        }
        guard quota.mode == "squota" else {
            throw SystemError(operation: "enable btrfs simple quotas on \(mount)", errno: ENOTSUP, detail: "the kernel did not switch to simple quotas")
        }
        return quota
    }

    /// "squota" or "qgroup" (full accounting); nil while quotas are off.
    var mode: String? {
        guard let text = try? Files.read("\(sysfs)/mode") else { return nil }
        let mode = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return mode.isEmpty ? nil : mode
    }

    public func create(_ group: Qgroup) throws(SystemError) {
        try syscall("create qgroup \(group)") { hob_btrfs_qgroup_create(mount, group.rawValue, 1) }
    }

    /// Fails with EBUSY while the group has members or, at level 0, while its subvolume exists.
    public func destroy(_ group: Qgroup) throws(SystemError) {
        try syscall("destroy qgroup \(group)") { hob_btrfs_qgroup_create(mount, group.rawValue, 0) }
    }

    /// Makes `child` a member of `parent`; its usage counts towards the parent's from then on.
    public func assign(_ child: Qgroup, to parent: Qgroup) throws(SystemError) {
        try syscall("assign qgroup \(child) to \(parent)") { hob_btrfs_qgroup_assign(mount, child.rawValue, parent.rawValue, 1) }
    }

    /// Caps what the group references; nil removes the cap.
    public func limit(_ group: Qgroup, bytes: Int64?) throws(SystemError) {
        // 0 tells the shim to clear the limit, so a real limit is at least one byte.
        let value: UInt64 = bytes.map { UInt64(max($0, 1)) } ?? 0
        try syscall("limit qgroup \(group) to \(bytes.map(String.init) ?? "none")") { hob_btrfs_qgroup_limit(mount, group.rawValue, value) }
    }

    /// The group's usage and limit; nil when there is no such group.
    public func usage(_ group: Qgroup) -> QgroupUsage? {
        let dir = "\(sysfs)/\(group.level)_\(group.id)"
        guard let referenced = Self.number(at: "\(dir)/referenced") else { return nil }
        let limit = Self.number(at: "\(dir)/max_referenced").flatMap { $0 > 0 && $0 < Int64.max ? $0 : nil }
        return QgroupUsage(referenced: referenced, limit: limit)
    }

    /// Every quota group of the filesystem (one directory listing).
    public func groups() -> [Qgroup] {
        guard let dir = opendir(sysfs) else { return [] }
        defer { closedir(dir) }
        var groups: [Qgroup] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if let group = Qgroup(sysfsName: name) { groups.append(group) }
        }
        return groups
    }

    /// Every quota group of the filesystem with what it references.
    public func all() -> [Qgroup: Int64] {
        var usage: [Qgroup: Int64] = [:]
        for group in groups() {
            if let bytes = Self.number(at: "\(sysfs)/\(group.level)_\(group.id)/referenced") { usage[group] = bytes }
        }
        return usage
    }

    static func number(at path: String) -> Int64? {
        guard let text = try? Files.read(path) else { return nil }
        // An unlimited max_referenced reads as 0 (older kernels) or as 2^64-1 ("none" never appears in sysfs).
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if let value = Int64(trimmed) { return value }
        return UInt64(trimmed).map { _ in Int64.max }
    }
}
