// `hob-init gvisor [PRIVILEGES]`: the agent of a sprite whose root a runtime already built.
//
// Under gVisor, runsc sets up what `setup` does for the namespace runtime (root, /proc, /dev,
// mounts, hostname, network) from the OCI spec and starts us as PID 1 in it. There is no control
// socket and no pivot. The agent cannot serve a host unix socket either (one inside the sandbox
// makes `runsc checkpoint` fail), so it listens on TCP in the sprite's network, where anything in
// the sprite or on the bridge can connect: every connection must open with the per-boot token.
//
// The environment says where and with what (both are removed before anything else runs):
//   HOB_AGENT_LISTEN  tcp:ADDR:PORT (ADDR IPv4, or IPv6 in brackets)
//   HOB_AGENT_TOKEN   hex, at least 64 digits (AgentToken)
// Anything wrong is a message on stderr and exit status 1: runsc reports the sandbox's death.
import CHobShim
import Glibc
import HobAgentProtocol
import HobSpriteEnv

enum GVisorMode {
    static let listenVariable = "HOB_AGENT_LISTEN"
    static let tokenVariable = "HOB_AGENT_TOKEN"

    static func run(privilegesArgument: String?) -> Never {
        // First of all: nothing started from here on may see the token.
        let listen = takeEnvironment(listenVariable)
        let token = takeEnvironment(tokenVariable)

        let privileges: SpritePrivileges
        if let privilegesArgument {
            guard let parsed = SpritePrivileges(argument: privilegesArgument) else { fail("invalid privileges argument \"\(privilegesArgument)\"") }
            privileges = parsed
        } else {
            privileges = .standard
        }
        guard let listen else { fail("\(listenVariable) is not set (expected tcp:ADDR:PORT)") }
        guard let token else { fail("\(tokenVariable) is not set") }
        if let problem = AgentToken.problem(token) { fail("\(tokenVariable): \(problem)") }
        let address: ListenAddress
        do {
            address = try ListenAddress(parsing: listen)
        } catch {
            fail("\(listenVariable): \(error)")
        }

        let agent: Agent
        do {
            // Fds 0-3 first: the listener must not land below 4, nor the agent's signalfd on 3.
            try occupyLowDescriptors()
            try openListener(address, at: Agent.listenFD)
            agent = try Agent(privileges: privileges, token: token)
        } catch {
            fail("\(error)")
        }
        if getpid() == 1 {
            // As in `setup`: ICMP datagram sockets for everyone (the sysctl is the sandbox's own).
            // Only as the sandbox's init: anywhere else this would be the host's setting.
            try? writeFile("/proc/sys/net/ipv4/ping_group_range", "0 2147483647")
        }
        // Nobody waits for a ready byte: the daemon knows the agent is up when a hello succeeds.
        agent.run {}
    }

    static func fail(_ message: String) -> Never {
        writeAll(2, Array("hob-init gvisor: \(message)\n".utf8))
        exit(1)
    }

    /// The variable's value, then gone: unset, and its bytes in the initial environment block
    /// zeroed, since /proc/<pid>/environ shows that block whatever unsetenv does.
    static func takeEnvironment(_ name: String) -> String? {
        guard let raw = getenv(name) else { return nil }
        let value = String(cString: raw)
        memset(raw, 0, strlen(raw))
        unsetenv(name)
        return value
    }

    /// Stdin, stdout, stderr and fd 3 open (on /dev/null where runsc left them closed), so the
    /// descriptors opened next get 4 and up. A free fd 3 would take the agent's signalfd, which
    /// code that treats 3 as the namespace boot's control socket could then close.
    static func occupyLowDescriptors() throws(SysError) {
        for fd in Int32(0)...3 where fcntl(fd, F_GETFD) == -1 && errno == EBADF {
            let flags = fd == 3 ? O_RDONLY | O_CLOEXEC : O_RDWR
            let opened = try check("open /dev/null as fd \(fd)") { open("/dev/null", flags) }
            if opened != fd {
                // A lower descriptor was closed in between: cannot happen single-threaded, but
                // never leave the slot to chance.
                try check("dup /dev/null to fd \(fd)") { dup2(opened, fd) }
                close(opened)
            }
        }
    }

    /// A listening TCP socket at descriptor `target`, close-on-exec and non-blocking.
    static func openListener(_ address: ListenAddress, at target: Int32) throws(SysError) {
        let family = address.isIPv6 ? AF_INET6 : AF_INET
        let flags = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
        let fd = try check("socket") { socket(family, flags, 0) }
        var yes: Int32 = 1
        try check("set SO_REUSEADDR") { setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size)) }
        try check("bind \(address)") { address.withSockaddr { bind(fd, $0, $1) } }
        try check("listen on \(address)") { listen(fd, 128) }
        if fd != target {
            try check("move the listener to fd \(target)") { dup2(fd, target) }
            close(fd)
            setCloseOnExec(target)
        }
    }
}

/// `tcp:ADDR:PORT` from HOB_AGENT_LISTEN.
struct ListenAddress: CustomStringConvertible {
    var host: String
    var port: UInt16
    var isIPv6: Bool

    struct Invalid: Error, CustomStringConvertible {
        var description: String
    }

    init(parsing text: String) throws(Invalid) {
        let expected = "expected tcp:ADDR:PORT, got \"\(text)\""
        guard text.hasPrefix("tcp:"), let colon = text.lastIndex(of: ":") else { throw Invalid(description: expected) }
        var hostPart = Substring(text[text.index(text.startIndex, offsetBy: 4)..<colon])
        guard let port = UInt16(text[text.index(after: colon)...]), port > 0 else { throw Invalid(description: "\(expected): bad port") }
        isIPv6 = hostPart.hasPrefix("[") && hostPart.hasSuffix("]")
        if isIPv6 { hostPart = hostPart.dropFirst().dropLast() }
        host = String(hostPart)
        self.port = port
        var probe = in6_addr()
        guard inet_pton(isIPv6 ? AF_INET6 : AF_INET, host, &probe) == 1 else {
            throw Invalid(description: "\(expected): \"\(host)\" is not an IP\(isIPv6 ? "v6" : "v4") address")
        }
    }

    var description: String { isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Calls `body` with the socket address and its length.
    func withSockaddr(_ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
        if isIPv6 {
            var a = sockaddr_in6()
            a.sin6_family = sa_family_t(AF_INET6)
            a.sin6_port = port.bigEndian
            _ = inet_pton(AF_INET6, host, &a.sin6_addr)
            return withUnsafePointer(to: &a) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = port.bigEndian
        _ = inet_pton(AF_INET, host, &a.sin_addr)
        return withUnsafePointer(to: &a) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }
}
