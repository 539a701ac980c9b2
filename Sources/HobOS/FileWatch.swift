// Filesystem change events for paths in a RootedDirectory (a sprite's disk), with inotify from
// the host, for the `fs/watch` WebSocket.
//
// inotify marks inodes, not mounts, so a watch the host puts on a directory of the sprite's
// subvolume sees changes the sprite makes through its own mount of it. The same rule as the rest
// of RootedDirectory holds: nothing is resolved by the host's path walk. A watched path is opened
// with openat2 (RESOLVE_IN_ROOT, so symlinks stay inside the tree), and the watch is put on the
// opened inode through /proc/self/fd/N, which names exactly that inode. Directories below it
// (recursive watches, and directories that appear later) are opened with O_NOFOLLOW, so a symlink
// is never watched through; the size reported with an event comes from fstatat with
// AT_SYMLINK_NOFOLLOW on the entry's located directory.
//
// Resources are bounded: one inotify instance per FileWatch, at most `maxWatches` directories
// (the caller bounds FileWatches), and the kernel's event queue (an overflow is reported as
// such, never as silence). Every method may block briefly on the disk: call through `offload`.
import CHobShim
import Glibc
import Synchronization

/// One change under a watched path.
public struct FileChange: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case create, modify, delete, rename, chmod
    }
    /// The path in the tree, as the subscription named its root (symlinks there not resolved).
    public var path: String
    public var kind: Kind
    public var isDirectory: Bool
    /// The size after the change (0 when it is gone).
    public var size: Int64
}

public enum FileWatchNotice: Sendable, Equatable {
    case change(FileChange)
    /// The kernel's queue overflowed: events were lost.
    case overflow
    /// Directories that appeared under a recursive watch but could not be watched (the limit).
    case limitReached(path: String)
}

public final class FileWatch: Sendable {
    let inotify: Descriptor
    /// The tree watched: the disk as it was when the watch was made.
    public let files: RootedDirectory
    public let maxWatches: Int

    struct Watched {
        var path: RootedPath
        var recursive: Bool
        /// The subscriptions (their root paths) this watch serves.
        var roots: Set<String>
    }

    struct State {
        var byDescriptor: [Int32: Watched] = [:]
    }
    private let state = Mutex(State())

    static let mask: UInt32 = UInt32(IN_CREATE | IN_DELETE | IN_MODIFY | IN_ATTRIB | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF)
        | UInt32(IN_EXCL_UNLINK)

    public init(files: RootedDirectory, maxWatches: Int) throws(SystemError) {
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { throw SystemError(operation: "inotify_init1", errno: errno) }
        inotify = Descriptor(fd)
        self.files = files
        self.maxWatches = maxWatches
    }

    public var watchCount: Int { state.withLock { $0.byDescriptor.count } }

    /// Watches `path` (a directory: its entries; a file: itself), and with `recursive` every
    /// directory below it. Returns how many directories were left unwatched for the limit.
    public func subscribe(_ path: RootedPath, recursive: Bool) throws -> Int {
        let root = path.description
        let top = try files.open(path, O_RDONLY | Int32(HOB_O_PATH), operation: "watch")
        var st = stat()
        guard fstat(top.raw, &st) == 0 else { throw FileError("watch", root, errno: errno) }
        let isDirectory = FileKind(st.st_mode) == .directory
        guard try add(top, path, recursive: recursive && isDirectory, root: root) else {
            throw FileError("watch", root, errno: ENOSPC, reason: "the limit of \(maxWatches) watched directories is reached")
        }
        guard recursive, isDirectory else { return 0 }
        return walk(below: path, root: root)
    }

    /// Stops the subscription rooted at `path`; watches no other subscription needs are removed.
    public func unsubscribe(_ path: RootedPath) {
        let root = path.description
        state.withLock { s in
            for (wd, var watched) in s.byDescriptor where watched.roots.contains(root) {
                watched.roots.remove(root)
                if watched.roots.isEmpty {
                    inotify_rm_watch(inotify.raw, wd)
                    s.byDescriptor[wd] = nil
                } else {
                    s.byDescriptor[wd] = watched
                }
            }
        }
    }

    /// Adds a watch on what `descriptor` holds; false at the limit.
    private func add(_ descriptor: Descriptor, _ path: RootedPath, recursive: Bool, root: String) throws -> Bool {
        try state.withLock { s in
            let wd = inotify_add_watch(inotify.raw, "/proc/self/fd/\(descriptor.raw)", Self.mask)
            guard wd >= 0 else {
                if errno == ENOSPC { return false }
                throw FileError("watch", path.description, errno: errno)
            }
            // The limit counts directories: one already watched (another subscription's, or a
            // re-subscribe) comes back with its existing descriptor and costs nothing.
            if s.byDescriptor[wd] == nil, s.byDescriptor.count >= maxWatches {
                inotify_rm_watch(inotify.raw, wd)
                return false
            }
            var watched = s.byDescriptor[wd] ?? Watched(path: path, recursive: recursive, roots: [])
            watched.recursive = watched.recursive || recursive
            watched.roots.insert(root)
            s.byDescriptor[wd] = watched
            return true
        }
    }

    /// Watches the directories below `path` (depth first, never through a symlink); returns how
    /// many were left out for the limit.
    private func walk(below path: RootedPath, root: String) -> Int {
        var pending = [path]
        var skipped = 0
        var depth: [String: Int] = [path.description: 0]
        while let directory = pending.popLast() {
            guard let fd = try? files.open(directory, O_RDONLY | O_DIRECTORY, operation: "watch"),
                let names = try? RootedDirectory.names(in: fd, operation: "watch", display: directory.description)
            else { continue }
            let level = depth[directory.description] ?? 0
            for name in names where !name.isDotOrDotDot {
                var st = stat()
                guard name.withCString({ fstatat(fd.raw, $0, &st, AT_SYMLINK_NOFOLLOW) }) == 0, FileKind(st.st_mode) == .directory,
                    level + 1 < RootedDirectory.maxDepth
                else { continue }
                let child = directory.appending(name.display)
                guard let opened = files.openChild(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW) else { continue }
                guard (try? add(opened, child, recursive: true, root: root)) == true else {
                    skipped += 1
                    continue
                }
                depth[child.description] = level + 1
                pending.append(child)
            }
        }
        return skipped
    }

    /// Waits up to `timeoutMs` for events and returns them (empty on timeout).
    public func next(timeoutMs: Int32) throws(SystemError) -> [FileWatchNotice] {
        var p = pollfd(fd: inotify.raw, events: Int16(POLLIN), revents: 0)
        let ready = poll(&p, 1, timeoutMs)
        guard ready > 0 else {
            if ready < 0 && errno != EINTR { throw SystemError(operation: "poll inotify", errno: errno) }
            return []
        }
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        let n = buffer.withUnsafeMutableBytes { Glibc.read(inotify.raw, $0.baseAddress, $0.count) }
        guard n > 0 else {
            if n < 0 && errno != EAGAIN && errno != EINTR { throw SystemError(operation: "read inotify", errno: errno) }
            return []
        }
        var notices: [FileWatchNotice] = []
        var offset = 0
        let header = MemoryLayout<inotify_event>.size
        while offset + header <= n {
            let (wd, mask, length) = buffer.withUnsafeBytes { raw in
                let event = raw.loadUnaligned(fromByteOffset: offset, as: inotify_event.self)
                return (event.wd, event.mask, Int(event.len))
            }
            let nameBytes = buffer[(offset + header)..<min(offset + header + length, n)].prefix { $0 != 0 }
            let name = String(decoding: nameBytes, as: UTF8.self)
            offset += header + length
            notices += interpret(wd: wd, mask: mask, name: name)
        }
        return notices
    }

    private func interpret(wd: Int32, mask: UInt32, name: String) -> [FileWatchNotice] {
        if mask & UInt32(IN_Q_OVERFLOW) != 0 { return [.overflow] }
        guard let watched = state.withLock({ $0.byDescriptor[wd] }) else { return [] }
        if mask & UInt32(IN_IGNORED) != 0 {
            state.withLock { _ = $0.byDescriptor.removeValue(forKey: wd) }
            return []
        }
        let isDirectory = mask & UInt32(IN_ISDIR) != 0
        // A directory's own deletion is reported by its parent's watch, unless it is a root.
        if mask & UInt32(IN_DELETE_SELF) != 0 {
            guard watched.roots.contains(watched.path.description) else { return [] }
            return [.change(FileChange(path: watched.path.description, kind: .delete, isDirectory: isDirectory, size: 0))]
        }
        let path = name.isEmpty ? watched.path : watched.path.appending(name)
        let kind: FileChange.Kind
        if mask & UInt32(IN_CREATE | IN_MOVED_TO) != 0 {
            kind = .create
        } else if mask & UInt32(IN_DELETE) != 0 {
            kind = .delete
        } else if mask & UInt32(IN_MOVED_FROM) != 0 {
            kind = .rename
        } else if mask & UInt32(IN_MODIFY) != 0 {
            kind = .modify
        } else if mask & UInt32(IN_ATTRIB) != 0 {
            kind = .chmod
        } else {
            return []
        }
        var notices: [FileWatchNotice] = []
        let size = kind == .delete || kind == .rename ? 0 : self.size(of: path)
        notices.append(.change(FileChange(path: path.description, kind: kind, isDirectory: isDirectory, size: size)))
        // A directory that appears under a recursive watch is watched too, with what is below it
        // (a tree moved in). Entries made in it before its watch exists are not reported.
        if kind == .create, isDirectory, watched.recursive {
            let roots = watched.roots
            for root in roots {
                guard let (parent, child) = try? files.locate(path, operation: "watch"),
                    let opened = child.withCString({ c in openat2(parent.raw, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, resolve: RootedDirectory.beneath) })
                        as Int32?, opened >= 0
                else { continue }
                let descriptor = Descriptor(opened)
                guard (try? add(descriptor, path, recursive: true, root: root)) == true else {
                    notices.append(.limitReached(path: path.description))
                    continue
                }
                if walk(below: path, root: root) > 0 { notices.append(.limitReached(path: path.description)) }
            }
        }
        return notices
    }

    /// The size of the entry at `path`, not following a final symlink; 0 if it is gone.
    private func size(of path: RootedPath) -> Int64 {
        guard let (directory, name) = try? files.locate(path, operation: "watch") else { return 0 }
        var st = stat()
        guard fstatat(directory.raw, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return 0 }
        return Int64(st.st_size)
    }
}
