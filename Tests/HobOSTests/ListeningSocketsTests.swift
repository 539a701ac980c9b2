// Reading /proc/net/tcp and tcp6, and /proc/<pid>/status, as the port watch does.
import Glibc
import HobOS
import Testing

@Suite("Listening sockets from /proc/net/tcp")
struct ListeningSocketsTests {
    static let tcp = """
          sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
           0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 41234 1 0000000000000000 100 0 0 10 0
           1: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 41235 1 0000000000000000 100 0 0 10 0
           2: 0100007F:0CEA 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 41236 1 0000000000000000 20 4 30 10 -1
        """

    static let tcp6 = """
          sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
           0: 00000000000000000000000000000000:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 51234 1 0000000000000000 100 0 0 10 0
           1: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 51235 1 0000000000000000 100 0 0 10 0
        """

    @Test("IPv4 listeners are read with their address, port and inode; connections are not listeners")
    func ipv4() {
        let sockets = ListeningSockets.parse(Self.tcp, ipv6: false)
        #expect(
            sockets == [
                ListeningSocket(address: "0.0.0.0", port: 8080, inode: 41234),
                ListeningSocket(address: "127.0.0.1", port: 3306, inode: 41235),
            ])
    }

    @Test("IPv6 addresses are read word by word in host byte order")
    func ipv6() {
        let sockets = ListeningSockets.parse(Self.tcp6, ipv6: true)
        #expect(
            sockets == [
                ListeningSocket(address: "::", port: 8081, inode: 51234),
                ListeningSocket(address: "::1", port: 22, inode: 51235),
            ])
    }

    @Test("lines that do not parse are skipped, not fatal")
    func garbage() {
        let text = "header\n 0: nonsense\n 1: 0100007F:ZZZZ 00000000:0000 0A 0 0 0 0 0 7\n\n"
        #expect(ListeningSockets.parse(text, ipv6: false).isEmpty)
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

    @Test("a /proc file longer than one read is read whole")
    func readsWhole() throws {
        // /proc/self/maps of a Swift test process is far larger than a page.
        let text = try Files.read("/proc/self/maps")
        #expect(text.utf8.count > 8192)
        #expect(text.hasSuffix("\n"))
        // As ListeningSockets reads it: relative to an open /proc/<pid>.
        let proc = try #require(Descriptor.open(host: "/proc/self", O_RDONLY | O_DIRECTORY))
        #expect(try Files.read("maps", at: proc.raw).utf8.count > 8192)
    }
}
