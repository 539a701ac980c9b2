// The daemon's own file descriptors: its limit, and how many are open.
//
// Every connection, sprite socket, pidfd and scan holds descriptors from one per-process table;
// when it is full, accept() fails with EMFILE and every server stops taking connections. So the
// daemon starts with the largest limit it may have and keeps a reserve that sprites cannot use.
import Glibc

public enum FileDescriptors {
    /// Raises the soft RLIMIT_NOFILE to the hard limit and returns the limit now in force.
    /// (Processes the daemon starts inherit it; nothing they run needs less.)
    @discardableResult
    public static func raiseLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return Int(clamping: min(limit.rlim_cur, rlim_t(Int32.max)))
    }

    /// The soft RLIMIT_NOFILE: one more than the highest descriptor number the process may get.
    public static var limit: Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        return Int(clamping: min(limit.rlim_cur, rlim_t(Int32.max)))
    }

    /// Descriptors open in this process, counted in /proc/self/fd (a few milliseconds with tens
    /// of thousands open; callers cache it). nil if it cannot be read, which is itself a sign
    /// that the table is full.
    public static func openCount() -> Int? {
        guard let dir = opendir("/proc/self/fd") else { return nil }
        defer { closedir(dir) }
        var count = 0
        while let entry = readdir(dir) {
            if UInt8(bitPattern: entry.pointee.d_name.0) != UInt8(ascii: ".") { count += 1 }
        }
        return count - 1  // the directory's own descriptor
    }
}

extension FileDescriptors {
    /// Writes all of `bytes`, retrying short writes and EINTR. False when the descriptor is gone
    /// (EPIPE with SIGPIPE ignored, EBADF, EIO, ENOSPC): the caller decides whether that matters, and
    /// nothing crashes because a log's reader went away.
    @discardableResult
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            offset += n
        }
        return true
    }
}
