// TCP connections that start inside a sprite's network namespace (port forwarding, and the URL
// proxy): "localhost" and 127.0.0.1 are then the sprite's own loopback, and anything else is
// reached the way the sprite itself would reach it, under the same firewall rules.
import CHobShim
import Glibc

public enum NamespacedTCP {
    /// Connects from the network namespace `netns` (an open /proc/<pid>/ns/net) to `address` (an
    /// IPv4 or IPv6 literal) on `port`, waiting at most `timeoutMs`. Returns a connected,
    /// non-blocking socket. Blocks its thread: run it through `offload`.
    public static func connect(inNetworkNamespace netns: Int32, address: String, port: UInt16, timeoutMs: Int32) throws(SystemError) -> Int32 {
        let step = "connect to \(address.contains(":") ? "[\(address)]" : address):\(port) in the sprite"
        var v4 = sockaddr_in()
        var v6 = sockaddr_in6()
        let family: Int32
        if inet_pton(AF_INET, address, &v4.sin_addr) == 1 {
            family = AF_INET
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = port.bigEndian
        } else if inet_pton(AF_INET6, address, &v6.sin6_addr) == 1 {
            family = AF_INET6
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = port.bigEndian
        } else {
            throw SystemError(operation: "\(step): not an IP address", errno: EINVAL)
        }
        let fd = hob_socket_in_netns(netns, family)
        guard fd >= 0 else { throw SystemError(operation: "\(step): socket", errno: -fd) }
        var rc: Int32
        repeat {
            rc = family == AF_INET
                ? withUnsafePointer(to: &v4) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
                : withUnsafePointer(to: &v6) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        } while rc != 0 && errno == EINTR
        if rc != 0 {
            guard errno == EINPROGRESS else {
                let e = errno
                close(fd)
                throw SystemError(operation: step, errno: e)
            }
            var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            var ready: Int32
            repeat { ready = poll(&p, 1, timeoutMs) } while ready < 0 && errno == EINTR
            guard ready > 0 else {
                close(fd)
                throw SystemError(operation: step, errno: ready == 0 ? ETIMEDOUT : errno)
            }
            var err: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &length)
            guard err == 0 else {
                close(fd)
                throw SystemError(operation: step, errno: err)
            }
        }
        return fd
    }
}
