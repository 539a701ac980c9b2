// Listing a network namespace's listening sockets, and reading /proc/<pid>/status, as the port watch does.
import Glibc
import HobOS
import Testing

@Suite("Listening sockets and process lineage")
struct ListeningSocketsTests {
    /// A socket listening on `address` (a loopback literal) on a port the kernel picks; its port and inode.
    static func listen(family: Int32, address: String) throws -> (fd: Int32, port: UInt16, inode: UInt64) {
        let fd = socket(family, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        var storage = sockaddr_storage()
        var length = socklen_t(0)
        withUnsafeMutableBytes(of: &storage) { raw in
            if family == AF_INET {
                var a = sockaddr_in()
                a.sin_family = sa_family_t(AF_INET)
                inet_pton(AF_INET, address, &a.sin_addr)
                withUnsafeBytes(of: a) { raw.copyMemory(from: $0) }
                length = socklen_t(MemoryLayout<sockaddr_in>.size)
            } else {
                var a = sockaddr_in6()
                a.sin6_family = sa_family_t(AF_INET6)
                inet_pton(AF_INET6, address, &a.sin6_addr)
                withUnsafeBytes(of: a) { raw.copyMemory(from: $0) }
                length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            }
        }
        let bound = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        try #require(bound == 0 && Glibc.listen(fd, 1) == 0)
        var named = sockaddr_storage()
        var namedLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &named) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &namedLength) } }
        // sin_port and sin6_port sit at the same offset, in network order.
        let port = withUnsafeBytes(of: named) { UInt16(bigEndian: $0.load(fromByteOffset: 2, as: UInt16.self)) }
        var status = stat()
        try #require(fstat(fd, &status) == 0)
        return (fd, port, UInt64(status.st_ino))
    }

    @Test(
        "the kernel lists a namespace's listeners with address, port and inode; a connection is not one",
        .enabled(if: getuid() == 0, "entering a network namespace requires root"))
    func listeners() throws {
        let v4 = try Self.listen(family: AF_INET, address: "127.0.0.1")
        let v6 = try Self.listen(family: AF_INET6, address: "::1")
        defer { close(v4.fd); close(v6.fd) }
        // A connected socket on the same port must not show.
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(client) }
        var peer = sockaddr_in()
        peer.sin_family = sa_family_t(AF_INET)
        peer.sin_port = v4.port.bigEndian
        inet_pton(AF_INET, "127.0.0.1", &peer.sin_addr)
        let connected = withUnsafePointer(to: &peer) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        try #require(connected == 0)
        let proc = try #require(Descriptor.open(host: "/proc/self", O_RDONLY | O_DIRECTORY))
        let sockets = try ListeningSockets.read(procDirectory: proc.raw)
        #expect(sockets.contains(ListeningSocket(address: "127.0.0.1", port: v4.port, inode: v4.inode)))
        #expect(sockets.contains(ListeningSocket(address: "::1", port: v6.port, inode: v6.inode)))
        #expect(sockets.filter { $0.port == v4.port }.count == 1)
    }

    @Test("a namespace with more listeners than the limit yields the limit, not an error", .enabled(if: getuid() == 0, "requires root"))
    func limited() throws {
        let listeners = try (0..<3).map { _ in try Self.listen(family: AF_INET, address: "127.0.0.1") }
        defer { for l in listeners { close(l.fd) } }
        let proc = try #require(Descriptor.open(host: "/proc/self", O_RDONLY | O_DIRECTORY))
        #expect(try ListeningSockets.read(procDirectory: proc.raw, limit: 2).count == 2)
    }

    @Test("an owner lookup finds the process holding a socket, and stops at its descriptor budget")
    func ownersWithinBudget() throws {
        let listener = try Self.listen(family: AF_INET, address: "127.0.0.1")
        defer { close(listener.fd) }
        #expect(ListeningSockets.owners(of: [listener.inode], among: [getpid()]) == [listener.inode: getpid()])
        #expect(ListeningSockets.owners(of: [listener.inode], among: [getpid()], budget: 0).isEmpty)
    }

    @Test("listing the listeners of a process that is gone is an error, not an empty list", .enabled(if: getuid() == 0, "requires root"))
    func goneProcess() throws {
        var child: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/true"), nil]
        defer { free(argv[0]) }
        try #require(posix_spawn(&child, "/bin/true", nil, nil, argv, nil) == 0)
        let proc = try #require(Descriptor.open(host: "/proc/\(child)", O_RDONLY | O_DIRECTORY))
        var status: Int32 = 0
        waitpid(child, &status, 0)
        #expect(throws: SystemError.self) { try ListeningSockets.read(procDirectory: proc.raw) }
    }

    @Test("a process's pids come from NSpid, host first, and its parent from PPid")
    func lineage() {
        let status = "Name:\tpython3\nTgid:\t9123\nNgid:\t0\nPid:\t9123\nPPid:\t9100\nNSpid:\t9123\t42\n"
        #expect(ProcessLineage.parse(status: status) == ProcessLineage(namespacePIDs: [9123, 42], parent: 9100))
        #expect(ProcessLineage.parse(status: "Name:\tx\nPPid:\t1\n") == nil)
    }

    @Test("a process in a namespace nested in the sprite's is named by the sprite's level, not its innermost")
    func nestedNamespace() throws {
        let nested = try #require(ProcessLineage.parse(status: "PPid:\t9100\nNSpid:\t9200\t57\t1\n"))
        #expect(nested.pid(atLevel: 1) == 57)
        #expect(nested.pid(atLevel: 5) == 1)
    }
}
