// A mount namespace of its own, kept alive by a `sleep` holding it, in which a test can load the
// mount table (thousands of mounts) and run daemons: nothing mounted in it propagates to the host
// or to other namespaces, and all of it vanishes with the holder, whatever a failed test left.
import Foundation
import Glibc

final class PrivateMountNamespace: Sendable {
    let holder: ChildProcess

    /// The namespace, as nsenter and /proc name it.
    var path: String { "/proc/\(holder.pid)/ns/mnt" }
    /// Prefix that runs a command in the namespace (DaemonFixture's launcher).
    var launcher: [String] { ["nsenter", "--mount=\(path)", "--"] }

    private init(holder: ChildProcess) { self.holder = holder }

    /// `unshare --propagation private`: every mount copied into it is private, so mounts made in
    /// it are not seen outside and the host's later mounts do not come in.
    static func start() async throws -> PrivateMountNamespace {
        let ours = Self.link("/proc/self/ns/mnt")
        let holder = try ChildProcess("unshare", ["--mount", "--propagation", "private", "sleep", "7200"])
        let namespace = PrivateMountNamespace(holder: holder)
        let made = await eventually(timeout: .seconds(10), every: .milliseconds(20)) {
            // unshare has made the namespace once it runs `sleep`.
            KernelFile.text("/proc/\(holder.pid)/comm").hasPrefix("sleep") && Self.link(namespace.path) != ours
        }
        guard made else {
            await holder.kill()
            throw TestFailure("unshare did not make a mount namespace")
        }
        return namespace
    }

    /// Mounts a tmpfs on `base`, then `count` more tmpfs inside it (their directories live in the
    /// first, so nothing is left in `base` once the namespace is gone). One process: ctypes mount(2).
    func addTmpfsMounts(_ count: Int, under base: String, source: String) async throws {
        let script = """
            import ctypes, os, sys
            libc = ctypes.CDLL(None, use_errno=True)
            base, count, source = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
            def mount(target):
                if libc.mount(source, target.encode(), b"tmpfs", 0, b"size=64k") != 0:
                    e = ctypes.get_errno()
                    raise OSError(e, os.strerror(e), target)
            mount(base)
            for i in range(count):
                os.mkdir(f"{base}/{i}")
                mount(f"{base}/{i}")
            """
        let result = try await HostProcess.run(
            "nsenter", ["--mount=\(path)", "--", TinyHTTPServer.hostPython, "-c", script, base, String(count), source],
            timeout: .seconds(300))
        guard result.succeeded else { throw TestFailure("adding \(count) mounts: \(result)") }
    }

    /// The namespace's mount table, read whole.
    func mountTable() -> String { KernelFile.text("/proc/\(holder.pid)/mountinfo") }

    /// Ends the holder: the namespace and every mount in it go (once no process is left in it).
    func end() async { await holder.kill() }

    private static func link(_ path: String) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        let n = readlink(path, &buffer, buffer.count - 1)
        return n > 0 ? String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
    }
}
