// Unbuffered access to fds 0, 1 and 2. Exec output is written with write(2) as it arrives, so interleaving with
// the remote program's own prompts is preserved; stdin is read on a dedicated dispatch queue because read(2)
// blocks, and blocking work must stay off Swift's cooperative pool.

import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum StandardStream {
    static func isTerminal(_ fd: Int32) -> Bool { isatty(fd) == 1 }

    /// Writes all bytes, retrying short writes and EINTR. Returns false when the descriptor is gone (EPIPE, EBADF).
    @discardableResult
    static func write(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { systemWrite(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN {
                    // A non-blocking descriptor inherited from the parent: wait until it drains.
                    var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&pfd, 1, -1)
                    continue
                }
                return false
            }
            offset += n
        }
        return true
    }

    static func printError(_ line: String) {
        write(STDERR_FILENO, Array((line + "\n").utf8))
    }

    enum ReadResult: Sendable {
        case data([UInt8])
        case endOfFile
        case failed(errno: Int32)
    }

    private static let readQueue = DispatchQueue(label: "hob.stdin")

    /// One read(2) of up to 64 KiB from `fd`, performed off the cooperative pool.
    static func read(_ fd: Int32, maxBytes: Int = 64 << 10) async -> ReadResult {
        await withCheckedContinuation { continuation in
            readQueue.async {
                var buffer = [UInt8](repeating: 0, count: maxBytes)
                while true {
                    let n = buffer.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress, $0.count) }
                    if n > 0 {
                        continuation.resume(returning: .data(Array(buffer[0..<n])))
                    } else if n == 0 {
                        continuation.resume(returning: .endOfFile)
                    } else if errno == EINTR {
                        continue
                    } else {
                        continuation.resume(returning: .failed(errno: errno))
                    }
                    return
                }
            }
        }
    }

    /// One read(2) like `read`, or nil once the calling task is cancelled: the descriptor is polled
    /// in short steps first, so a relay whose other side ended stops waiting on a quiet stdin.
    static func readUnlessCancelled(_ fd: Int32, maxBytes: Int = 64 << 10) async -> ReadResult? {
        while !Task.isCancelled {
            let ready = await withCheckedContinuation { continuation in
                readQueue.async {
                    var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                    continuation.resume(returning: poll(&pfd, 1, 200) != 0)
                }
            }
            if ready { return await read(fd, maxBytes: maxBytes) }
        }
        return nil
    }
}

// File-scope names for the libc calls: inside `StandardStream`, `read` and `write` mean its own methods.
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int { write(fd, buffer, count) }
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int { read(fd, buffer, count) }
