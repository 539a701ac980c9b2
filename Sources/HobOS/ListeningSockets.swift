// Which TCP ports a sprite listens on, asked from the host: the kernel's socket diagnostics
// (sock_diag(7), over a netlink socket made in the sprite's network namespace) list its listening
// sockets, and a socket's owner is found by its inode among the sprite's processes' descriptors
// (/proc/<pid>/fd → "socket:[inode]").
//
// Not /proc/<pid>/net/tcp: reading that walks every bucket of the host's established-connection
// hash (262,144 on a 24 GB host) for each read(2), about 2 ms a read, 9 ms for tcp and tcp6, paid
// before every exec starts and at every poll. The LISTEN-only dump walks the listening hash
// alone (0.04 ms). Nothing in the sprite can interfere beyond choosing what it listens on.
import CHobShim
import Glibc

/// One listening TCP socket.
public struct ListeningSocket: Sendable, Equatable, Hashable {
    /// The address it is bound to, as text ("0.0.0.0", "::", "127.0.0.1", "::1").
    public var address: String
    public var port: UInt16
    public var inode: UInt64

    public init(address: String, port: UInt16, inode: UInt64) {
        self.address = address
        self.port = port
        self.inode = inode
    }
}

public enum ListeningSockets {
    /// Most listening sockets read from one namespace: a sprite can make far more (one per port
    /// and address, times its processes' descriptors), and the daemon's memory and time for them
    /// must stay bounded. Beyond it, sockets go unreported.
    public static let maxSockets = 16384

    /// The listening sockets of the network namespace of the process whose /proc directory is
    /// open as `procDirectory`, at most `limit`. Throws once that process is gone.
    public static func read(procDirectory: Int32, limit: Int = maxSockets) throws(SystemError) -> [ListeningSocket] {
        var capacity = min(64, limit)
        while true {
            var entries = [hob_tcp_listener](repeating: hob_tcp_listener(), count: capacity)
            let count = hob_tcp_listeners(procDirectory, &entries, Int32(capacity))
            guard count >= 0 else { throw SystemError(operation: "list the sprite's listening sockets", errno: -count) }
            // More arrived than fit: ask again with room for them (and some that open meanwhile).
            if Int(count) > capacity && capacity < limit {
                capacity = min(Int(count) * 2, limit)
                continue
            }
            return entries.prefix(min(Int(count), capacity)).compactMap { entry in
                guard let address = text(of: entry) else { return nil }
                return ListeningSocket(address: address, port: entry.port, inode: entry.inode)
            }
        }
    }

    /// The socket's address as text, from its network-order bytes.
    static func text(of entry: hob_tcp_listener) -> String? {
        let family = Int32(entry.family)
        guard family == AF_INET || family == AF_INET6 else { return nil }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let ok = withUnsafeBytes(of: entry.address) { raw in inet_ntop(family, raw.baseAddress, &text, socklen_t(text.count)) != nil }
        guard ok else { return nil }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Most descriptors one owner lookup examines: a sprite may hold millions (4,096 processes
    /// with many descriptors each), and the daemon reads them on its own time.
    public static let maxDescriptorsExamined = 65536

    /// Which of `pids` holds each of the socket `inodes` (the first one found, for a socket
    /// shared after a fork). Inodes no process holds, or not found within `budget` descriptors,
    /// are left out.
    public static func owners(of inodes: Set<UInt64>, among pids: [pid_t], budget: Int = maxDescriptorsExamined) -> [UInt64: pid_t] {
        var found: [UInt64: pid_t] = [:]
        var examined = 0
        for pid in pids where found.count < inodes.count && examined < budget {
            guard let dir = opendir("/proc/\(pid)/fd") else { continue }
            defer { closedir(dir) }
            while examined < budget, let entry = readdir(dir) {
                examined += 1
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                guard name.first?.isNumber == true else { continue }
                var target = [CChar](repeating: 0, count: 64)
                let n = readlink("/proc/\(pid)/fd/\(name)", &target, target.count - 1)
                guard n > 0 else { continue }
                let link = String(decoding: target[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                guard link.hasPrefix("socket:["), link.hasSuffix("]"),
                    let inode = UInt64(link.dropFirst(8).dropLast()), inodes.contains(inode), found[inode] == nil
                else { continue }
                found[inode] = pid
            }
        }
        return found
    }
}

/// What /proc/<pid>/status says about a process's place in its pid namespaces.
public struct ProcessLineage: Sendable, Equatable {
    /// Its pid in each pid namespace it is in, the host's first (the NSpid fields).
    public var namespacePIDs: [pid_t]
    /// Its parent's pid on the host.
    public var parent: pid_t

    public init(namespacePIDs: [pid_t], parent: pid_t) {
        self.namespacePIDs = namespacePIDs
        self.parent = parent
    }

    /// Its pid in the namespace `level` deep (0 is the host's), or its innermost one if it is in
    /// fewer: a process in a namespace nested inside a sprite's is still named as the sprite sees it.
    public func pid(atLevel level: Int) -> pid_t { namespacePIDs[min(level, namespacePIDs.count - 1)] }

    /// Parses the text of a status file; nil if it has no NSpid (kernels before 4.1) or PPid.
    public static func parse(status text: String) -> ProcessLineage? {
        var nspids: [pid_t] = []
        var ppid: pid_t?
        for line in text.split(separator: "\n") {
            if line.hasPrefix("NSpid:") {
                nspids = line.dropFirst(6).split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { pid_t($0) }
            } else if line.hasPrefix("PPid:") {
                ppid = pid_t(line.dropFirst(5).trimmingCharacters(in: " \t"))
            }
        }
        guard !nspids.isEmpty, let ppid else { return nil }
        return ProcessLineage(namespacePIDs: nspids, parent: ppid)
    }

    public static func of(_ pid: pid_t) -> ProcessLineage? {
        guard let text = try? Files.read("/proc/\(pid)/status") else { return nil }
        return parse(status: text)
    }

    /// The pids, as the sprite whose init is `spriteInit` (a host pid) sees them, of `pid` and its
    /// ancestors up to (not including) that init, nearest first. At most `limit` of them.
    public static func chain(from pid: pid_t, spriteInit: pid_t, limit: Int = 64) -> [pid_t] {
        guard let initLineage = of(spriteInit) else { return [] }
        let level = initLineage.namespacePIDs.count - 1
        var chain: [pid_t] = []
        var current = pid
        while current > 1, current != spriteInit, chain.count < limit, let lineage = of(current) {
            chain.append(lineage.pid(atLevel: level))
            current = lineage.parent
        }
        return chain
    }
}

extension StringProtocol {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let c = s.first, set.contains(c) { s = s.dropFirst() }
        while let c = s.last, set.contains(c) { s = s.dropLast() }
        return String(s)
    }
}
