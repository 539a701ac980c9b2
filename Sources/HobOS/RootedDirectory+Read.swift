// Reading a RootedDirectory: listings (a batch at a time, so that a huge directory or tree never
// sits in memory whole) and regular files opened for reading.
import CHobShim
import Foundation
import Glibc
import Synchronization

/// One entry of a listing, as lstat sees it: a symlink is a symlink, not what it points to.
public struct DirectoryEntry: Sendable, Equatable {
    /// Relative to the directory listed ("a.txt", or "sub/a.txt" in a recursive listing).
    public var name: String
    /// The path inside the root.
    public var path: String
    public var kind: FileKind
    /// Bytes for files and symlinks (the target's length), 0 for directories.
    public var size: Int64
    /// Permission bits, setuid, setgid and sticky included (st_mode & 07777).
    public var permissions: UInt32
    public var modified: Date

    init(name: String, path: String, _ st: stat) {
        self.name = name
        self.path = path
        kind = FileKind(st.st_mode)
        size = kind == .directory ? 0 : Int64(st.st_size)
        permissions = UInt32(st.st_mode) & 0o7777
        modified = Date(timeIntervalSince1970: Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9)
    }
}

/// What a listing yields: the entries of a directory (in byte order of their names; recursive:
/// every entry below it, each directory followed by its contents), or the one entry of anything
/// else. `next` blocks: call it through `offload`.
public final class DirectoryListing: Sendable {
    /// The path listed, inside the root.
    public let path: String
    let recursive: Bool
    private let state: Mutex<State>

    struct Level {
        let directory: Descriptor
        let names: [EntryName]
        var index = 0
        /// Prepended to names: "" at the top, "sub/" below.
        let prefix: String
    }

    struct State {
        var levels: [Level]
        var single: DirectoryEntry?
    }

    init(path: String, recursive: Bool, levels: [Level], single: DirectoryEntry?) {
        self.path = path
        self.recursive = recursive
        state = Mutex(State(levels: levels, single: single))
    }

    /// Up to `limit` more entries; empty at the end. Entries that vanish meanwhile are left out,
    /// and so are subdirectories that cannot be read or lie deeper than RootedDirectory.maxDepth.
    public func next(_ limit: Int) -> [DirectoryEntry] {
        state.withLock { state in
            if let single = state.single {
                state.single = nil
                return [single]
            }
            var batch: [DirectoryEntry] = []
            while batch.count < limit, let top = state.levels.last {
                guard top.index < top.names.count else {
                    state.levels.removeLast()
                    continue
                }
                let name = top.names[top.index]
                state.levels[state.levels.count - 1].index += 1
                var st = stat()
                guard name.withCString({ fstatat(top.directory.raw, $0, &st, AT_SYMLINK_NOFOLLOW) }) == 0 else { continue }
                let relative = top.prefix + name.display
                let entry = DirectoryEntry(name: relative, path: join(path, relative), st)
                batch.append(entry)
                guard recursive, entry.kind == .directory, state.levels.count < RootedDirectory.maxDepth else { continue }
                let fd = name.withCString { openat2(top.directory.raw, $0, O_RDONLY | O_DIRECTORY, resolve: RootedDirectory.beneath) }
                guard fd >= 0 else { continue }
                let child = Descriptor(fd)
                if let names = try? RootedDirectory.names(in: child, operation: "list", display: entry.path) {
                    state.levels.append(Level(directory: child, names: names, prefix: relative + "/"))
                }
            }
            return batch
        }
    }

    private func join(_ directory: String, _ name: String) -> String {
        directory == "/" ? "/" + name : directory + "/" + name
    }
}

extension RootedDirectory {
    /// Lists `path`: a directory (a symlink to one included) yields its entries, anything else
    /// (a dangling symlink included) its own entry.
    public func list(_ path: RootedPath, recursive: Bool) throws -> DirectoryListing {
        if !path.isRoot {
            let (directory, name) = try locate(path, operation: "list")
            var st = stat()
            guard fstatat(directory.raw, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
                throw FileError("list", path.description, errno: errno)
            }
            let entry = DirectoryEntry(name: name, path: path.description, st)
            switch entry.kind {
            case .directory: break
            case .symlink:
                // Followed only when it leads to a directory.
                var target = stat()
                let fd = try? open(path, Int32(HOB_O_PATH), operation: "list")
                guard let fd, fstat(fd.raw, &target) == 0, FileKind(target.st_mode) == .directory else {
                    return DirectoryListing(path: path.description, recursive: false, levels: [], single: entry)
                }
            default:
                return DirectoryListing(path: path.description, recursive: false, levels: [], single: entry)
            }
        }
        let directory = try open(path, O_RDONLY | O_DIRECTORY, operation: "list")
        let names = try Self.names(in: directory, operation: "list", display: path.description)
        return DirectoryListing(
            path: path.description, recursive: recursive, levels: [.init(directory: directory, names: names, prefix: "")], single: nil)
    }

    /// Opens the regular file at `path` (symlinks followed inside the root) for reading; returns
    /// it with its size. Directories are EISDIR; devices, FIFOs and sockets are refused unopened.
    public func openForReading(_ path: RootedPath) throws -> (file: Descriptor, size: Int64) {
        let handle = try open(path, Int32(HOB_O_PATH), operation: "read")
        let (file, st) = try openRegularFile(handle, operation: "read", display: path.description)
        return (file, Int64(st.st_size))
    }
}
