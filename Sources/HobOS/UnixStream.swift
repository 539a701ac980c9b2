// A blocking unix stream connection with a deadline, for the daemon's few exchanges that pass
// descriptors (SCM_RIGHTS), which NIO cannot. It blocks its thread: run it through `offload`.
// The peer may be a sprite's hob-init, which root in the sprite can stall, so every wait (connect,
// send, receive) ends at the deadline given at connect.
import CHobShim
import Glibc

public final class UnixStream {
    public let path: String
    let fd: Int32
    let deadline: ContinuousClock.Instant

    private init(path: String, fd: Int32, deadline: ContinuousClock.Instant) {
        self.path = path
        self.fd = fd
        self.deadline = deadline
    }

    deinit { close(fd) }

    /// Connects to the socket at `path`. Every later wait on this connection ends at `deadline`.
    public static func connect(to path: String, deadline: ContinuousClock.Instant) throws(SystemError) -> UnixStream {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard bytes.count < capacity else { throw SystemError(operation: "connect to \(path)", errno: ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let fd = try syscall("socket for \(path)") {
            socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        }
        let stream = UnixStream(path: path, fd: fd, deadline: deadline)
        while true {
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            if rc == 0 { return stream }
            let e = errno
            switch e {
            case EINTR: continue
            case EISCONN: return stream  // an interrupted attempt that completed
            case EAGAIN:
                // A full backlog: the peer is not accepting. Unix sockets do not complete a
                // non-blocking connect later, so retry until the deadline.
                guard stream.remainingMs() > 0 else { throw SystemError(operation: "connect to \(path)", errno: ETIMEDOUT) }
                var none = pollfd()
                _ = poll(&none, 0, min(10, stream.remainingMs()))
            default:
                throw SystemError(operation: "connect to \(path)", errno: e)
            }
        }
    }

    /// Sends all of `bytes`, with `fds` (duplicated by the kernel; the caller keeps its own)
    /// attached to the first of them. hob_send_fds passes at most 8 descriptors per call, so more
    /// travel in successive calls, each on at least one byte of the message; the receiver sees
    /// them in order.
    public func send(_ bytes: [UInt8], fds: [Int32] = []) throws(SystemError) {
        let groups = stride(from: 0, to: fds.count, by: 8).map { Array(fds[$0..<min($0 + 8, fds.count)]) }
        guard groups.count <= bytes.count else {
            throw SystemError(operation: "send \(fds.count) descriptors with \(bytes.count) bytes to \(path)", errno: EINVAL)
        }
        var offset = 0
        for (i, group) in groups.enumerated() {
            let end = i == groups.count - 1 ? bytes.count : offset + 1
            try sendSegment(bytes[offset..<end], fds: group)
            offset = end
        }
        if offset < bytes.count { try sendSegment(bytes[offset...], fds: []) }
    }

    private func sendSegment(_ segment: ArraySlice<UInt8>, fds: [Int32]) throws(SystemError) {
        var offset = segment.startIndex
        var pending = fds
        while offset < segment.endIndex {
            let n = segment[offset...].withUnsafeBytes { raw in
                pending.withUnsafeBufferPointer { hob_send_fds(fd, raw.baseAddress, raw.count, $0.baseAddress, Int32($0.count)) }
            }
            if n > 0 {
                offset += n
                pending = []  // descriptors ride on the first byte sent
                continue
            }
            let e = errno
            guard e == EAGAIN || e == EWOULDBLOCK else { throw SystemError(operation: "send to \(path)", errno: e) }
            try wait(for: POLLOUT, "send to \(path)")
        }
    }

    /// Waits for bytes until the deadline and returns up to `maxBytes` of them; empty at EOF.
    /// Descriptors the peer may attach are discarded (the kernel closes them).
    public func receive(upTo maxBytes: Int) throws(SystemError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: maxBytes)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n >= 0 { return Array(buffer[0..<n]) }
            let e = errno
            if e == EINTR { continue }
            guard e == EAGAIN || e == EWOULDBLOCK else { throw SystemError(operation: "read from \(path)", errno: e) }
            try wait(for: POLLIN, "read from \(path)")
        }
    }

    private func wait(for events: Int32, _ operation: @autoclosure () -> String) throws(SystemError) {
        while true {
            let timeout = remainingMs()
            guard timeout > 0 else { throw SystemError(operation: operation(), errno: ETIMEDOUT) }
            var p = pollfd(fd: fd, events: Int16(events), revents: 0)
            let n = poll(&p, 1, timeout)
            if n > 0 { return }
            if n < 0 && errno != EINTR { throw SystemError(operation: operation(), errno: errno) }
        }
    }

    /// Milliseconds left until the deadline, rounded up so a sub-millisecond rest still waits.
    private func remainingMs() -> Int32 {
        let left = deadline - .now
        guard left > .zero else { return 0 }
        let ms = left.components.seconds * 1000 + (left.components.attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(clamping: ms)
    }
}
