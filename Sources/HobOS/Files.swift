// Small file helpers over Foundation-free libc calls, with errors that name the path.
import Foundation
import Glibc

public enum Files {
    /// Whether another process holds an flock on `path` (a daemon's instance lock): probed with a
    /// non-blocking exclusive lock, released at once. A missing file is not held.
    public static func isLockHeld(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_EX | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return false
        }
        return true
    }

    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// The whole file as text (invalid UTF-8 repaired); see `readBytes`.
    public static func read(_ path: String) throws(SystemError) -> String {
        String(decoding: try readBytes(path), as: UTF8.self)
    }

    /// The whole file, read until EOF. Every file the daemon reads goes through here (hob-init,
    /// which has no Foundation, has its own loop, `readFile`): kernel files (/proc, /sys, cgroupfs)
    /// report size 0 and hand out a page or so per read(2), and Foundation's readers stop after the
    /// first, so a long mount table or cgroup.procs came back cut at ~4 KB.
    public static func readBytes(_ path: String) throws(SystemError) -> [UInt8] {
        let fd = try syscall("open \(path)") { open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY) }
        defer { close(fd) }
        var contents: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                contents.append(contentsOf: chunk[0..<n])
            } else if n == 0 {
                return contents
            } else if Glibc.errno != EINTR {
                throw SystemError(operation: "read \(path)", errno: Glibc.errno)
            }
        }
    }

    /// Writes via a temporary file and rename, so readers never see a half-written file. `durable`
    /// fsyncs the data before the rename; a file that is made again from other state at every
    /// boot does not need it, and an fsync on the boot path costs milliseconds.
    public static func writeAtomically(_ path: String, _ contents: String, mode: mode_t = 0o644, durable: Bool = true) throws(SystemError) {
        let tmp = "\(path).tmp-\(getpid())"
        let fd = try syscall("create \(tmp)") { open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode) }
        let bytes = Array(contents.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if Glibc.errno == EINTR { continue }
                let e = Glibc.errno
                close(fd)
                throw SystemError(operation: "write \(tmp)", errno: e)
            }
            offset += n
        }
        fchmod(fd, mode)
        if durable { fsync(fd) }
        close(fd)
        try syscall("rename \(tmp) → \(path)") { rename(tmp, path) }
    }

    /// Writes a small value to a kernel file (cgroupfs, procfs, sysctl) in one write(2).
    public static func writeKernel(_ path: String, _ value: String) throws(SystemError) {
        let fd = try syscall("open \(path)") { open(path, O_WRONLY | O_CLOEXEC) }
        defer { close(fd) }
        let bytes = Array(value.utf8)
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        if n < 0 { throw SystemError(operation: "write \(value.trimmingCharacters(in: .whitespacesAndNewlines)) to \(path)", errno: Glibc.errno) }
    }

    public static func makeDirectory(_ path: String, mode: mode_t = 0o755) throws(SystemError) {
        if mkdir(path, mode) == 0 || Glibc.errno == EEXIST { return }
        if Glibc.errno == ENOENT {
            let parent = (path as NSString).deletingLastPathComponent
            if !parent.isEmpty && parent != path {
                try makeDirectory(parent, mode: mode)
                if mkdir(path, mode) == 0 || Glibc.errno == EEXIST { return }
            }
        }
        throw SystemError(operation: "mkdir \(path)", errno: Glibc.errno)
    }

    public static func remove(_ path: String) {
        unlink(path)
    }

    /// Removes a file or directory tree. Callers only use it on Hob's own directories.
    public static func removeTree(_ path: String) throws(SystemError) {
        guard exists(path) else { return }
        do {
            try FileManager.default.removeItem(atPath: path)
        } catch {
            throw SystemError(operation: "remove \(path)", errno: 0, detail: "\(error)")
        }
    }
}
