// Tells the daemon when a process ends, for children and adopted processes alike.
//
// One thread waits in epoll on pidfds (a pidfd is readable once its process has exited, whoever
// its parent is), so a thousand sleeping sprites cost one thread, not a thousand.
import CHobShim
import Foundation
import Glibc
import Synchronization

public final class ProcessWatcher: Sendable {
    private let epfd: Int32
    private let handlers = Mutex<[UInt64: (pid: pid_t, fd: Int32, onExit: @Sendable () -> Void)]>([:])
    private let nextToken = Atomic<UInt64>(1)

    public init() {
        epfd = hob_epoll_create()
        let thread = Thread { [self] in self.loop() }
        thread.name = "hob-process-watcher"
        thread.start()
    }

    /// Calls `onExit` once `pid` has exited (at once if it already has). Returns false if the
    /// process cannot be watched (already gone before a pidfd could be opened).
    @discardableResult
    public func watch(pid: pid_t, pidfd existing: Int32? = nil, onExit: @escaping @Sendable () -> Void) -> Bool {
        let fd = existing.map { fcntl($0, F_DUPFD_CLOEXEC, 0) } ?? hob_pidfd_open(pid)
        guard fd >= 0 else {
            onExit()
            return false
        }
        let token = nextToken.wrappingAdd(1, ordering: .relaxed).oldValue
        handlers.withLock { $0[token] = (pid, fd, onExit) }
        if hob_epoll_add(epfd, fd, 0x001 /* EPOLLIN */, token) != 0 {
            handlers.withLock { _ = $0.removeValue(forKey: token) }
            close(fd)
            onExit()
            return false
        }
        return true
    }

    private func loop() {
        while true {
            var token: UInt64 = 0
            let n = hob_epoll_wait_one(epfd, -1, &token)
            guard n == 1 else { continue }
            guard let entry = handlers.withLock({ $0.removeValue(forKey: token) }) else { continue }
            hob_epoll_del(epfd, entry.fd)
            close(entry.fd)
            SpriteProcess.reapIfChild(entry.pid)
            entry.onExit()
        }
    }
}
