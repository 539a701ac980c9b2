// TCP connections into a running sprite, made from inside its network namespace (port
// forwarding; the URL proxy): the same view of the network the sprite's own processes have.
import Foundation
import Glibc
import HobOS

extension NamespaceRuntime {
    /// Connects to `host`:`port` as seen from inside the sprite. "localhost" is the sprite's
    /// loopback; IP literals are used as given; other names go through the host's resolver
    /// (sprites use the host's DNS servers). Returns a connected, non-blocking socket.
    public func connect(_ running: RunningSprite, host: String, port: Int, timeout: Duration) async throws -> Int32 {
        guard (1...65535).contains(port) else { throw HobError(.invalidArgument, "port must be between 1 and 65535") }
        let address = try await Self.address(of: host)
        let step = "connect to \(host):\(port) in the sprite"
        let netns = open("/proc/\(running.pid)/ns/net", O_RDONLY | O_CLOEXEC)
        guard netns >= 0 else { throw HobError(.unavailable, "\(step): the sprite is not running", cause: SystemError(operation: "open its network namespace", errno: errno)) }
        defer { close(netns) }
        // Opened before this check: if the pid still has the init's start time, the namespace is
        // the sprite's and not that of a process that took a recycled pid.
        guard isAlive(running) else { throw HobError(.unavailable, "\(step): the sprite stopped") }
        let ms = Int32(clamping: timeout.components.seconds * 1000)
        do {
            return try await offload { try NamespacedTCP.connect(inNetworkNamespace: netns, address: address, port: UInt16(port), timeoutMs: ms) }
        } catch let error as SystemError {
            let reason = error.errno == ECONNREFUSED ? "nothing is listening there" : String(cString: strerror(error.errno))
            throw HobError(.unavailable, "\(step): \(reason)", cause: error)
        }
    }

    /// An IP literal for `host`.
    static func address(of host: String) async throws -> String {
        var name = host.isEmpty ? "localhost" : host
        if name.hasPrefix("[") && name.hasSuffix("]") { name = String(name.dropFirst().dropLast()) }
        if name == "localhost" { return "127.0.0.1" }
        var probe = in6_addr()
        if inet_pton(AF_INET, name, &probe) == 1 || inet_pton(AF_INET6, name, &probe) == 1 { return name }
        let valid = name.utf8.count <= 253 && name.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 46 }
        guard valid else { throw HobError(.invalidArgument, "host must be localhost, an IP address or a DNS name") }
        let query = name
        let resolved = try? await offload { () -> String? in
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var result: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(query, nil, &hints, &result) == 0, let first = result else { return nil }
            defer { freeaddrinfo(result) }
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            guard getnameinfo(first.pointee.ai_addr, first.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 else { return nil }
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        guard let address = resolved ?? nil else { throw HobError(.notFound, "host \(name) could not be resolved") }
        return address
    }
}
