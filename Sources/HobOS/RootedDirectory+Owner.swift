// Chown inside a rooted tree (the file API's fs/chown), by the rules in RootedDirectory.swift:
// the named path is resolved inside the root (a symlink followed there, as chown(1) does), and
// below a directory every entry is changed from its directory's descriptor without following it
// (fchownat with AT_SYMLINK_NOFOLLOW, so a symlink's own owner changes, as `chown -R` does), and
// only directories opened with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS are entered.
import CHobShim
import Glibc

extension RootedDirectory {
    /// Sets the owner and group of what `path` names and, with `recursive`, of everything below a
    /// directory. `nil` keeps that id. Returns the entries changed with the ids they now have, in
    /// walk order (at most `reportLimit` of them), and how many there were in all.
    public func changeOwner(
        _ path: RootedPath, uid: UInt32?, gid: UInt32?, recursive: Bool, reportLimit: Int = 10_000
    ) throws -> (changed: [OwnerChange], count: Int) {
        let handle = try open(path, Int32(HOB_O_PATH), operation: "chown")
        try changeOwner(handle, uid: uid, gid: gid, display: path.description)
        var changed = OwnerChanges(limit: reportLimit)
        var st = stat()
        guard fstat(handle.raw, &st) == 0 else { throw FileError("chown", path.description, errno: errno) }
        changed.add(path.description, st)
        guard recursive, FileKind(st.st_mode) == .directory else { return (changed.entries, changed.count) }
        let directory = openat2(handle.raw, ".", O_RDONLY | O_DIRECTORY, resolve: Self.beneath)
        guard directory >= 0 else { throw FileError("chown", path.description, errno: errno) }
        let prefix = path.description == "/" ? "" : path.description
        try changeOwnerBelow(Descriptor(directory), uid: uid, gid: gid, display: prefix, depth: 1, changed: &changed)
        return (changed.entries, changed.count)
    }

    /// An O_PATH descriptor's owner, by AT_EMPTY_PATH: the object the descriptor holds, never a
    /// name looked up again.
    private func changeOwner(_ handle: Descriptor, uid: UInt32?, gid: UInt32?, display: String) throws {
        let rc = "".withCString { fchownat(handle.raw, $0, uid ?? UInt32.max, gid ?? UInt32.max, Int32(HOB_AT_EMPTY_PATH)) }
        guard rc == 0 else { throw FileError("chown", display, errno: errno) }
    }

    private func changeOwnerBelow(
        _ directory: Descriptor, uid: UInt32?, gid: UInt32?, display: String, depth: Int, changed: inout OwnerChanges
    ) throws {
        guard depth <= Self.maxDepth else {
            throw FileError("chown", display, errno: ELOOP, reason: "more than \(Self.maxDepth) directory levels deep")
        }
        for name in try Self.names(in: directory, operation: "chown", display: display) {
            let childDisplay = display + "/" + name.display
            let rc = name.withCString { fchownat(directory.raw, $0, uid ?? UInt32.max, gid ?? UInt32.max, AT_SYMLINK_NOFOLLOW) }
            guard rc == 0 else {
                if errno == ENOENT { continue }  // gone meanwhile
                throw FileError("chown", childDisplay, errno: errno)
            }
            guard let st = status(of: name, in: directory) else { continue }
            changed.add(childDisplay, st)
            if FileKind(st.st_mode) == .directory, let child = openChild(directory, name, O_RDONLY | O_DIRECTORY) {
                try changeOwnerBelow(child, uid: uid, gid: gid, display: childDisplay, depth: depth + 1, changed: &changed)
            }
        }
    }
}

/// One entry a chown changed: its path inside the root and the ids it has now.
public struct OwnerChange: Sendable, Equatable {
    public var path: String
    public var uid: UInt32
    public var gid: UInt32

    public init(path: String, uid: UInt32, gid: UInt32) {
        self.path = path
        self.uid = uid
        self.gid = gid
    }
}

/// The entries a chown changed: all counted, the first `limit` kept.
struct OwnerChanges {
    let limit: Int
    var entries: [OwnerChange] = []
    var count = 0

    mutating func add(_ path: String, _ st: stat) {
        count += 1
        if entries.count < limit { entries.append(OwnerChange(path: path, uid: st.st_uid, gid: st.st_gid)) }
    }
}
