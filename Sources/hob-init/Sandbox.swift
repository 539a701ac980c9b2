// The privileges hob-init gives every process it starts (exec sessions and services): a seccomp
// filter, a capability set and, on request, no_new_privs. hob-init itself keeps its own: it is
// the sprite's PID 1 and needs mounts for the checkpoint views. A process whose capabilities are
// a strict subset of PID 1's cannot ptrace it, so the filter cannot be shed through it.
//
// The profile arrives on the command line of `hob-init agent` (from the BootConfig) and can be
// replaced with `setPrivileges`; a change applies to processes started afterwards.
import CHobShim
import Glibc
import HobAgentProtocol

final class Sandbox {
    let policy: SpritePrivileges
    private let program: UnsafeMutableBufferPointer<hob_filter_insn>
    private let length: Int32

    init(_ policy: SpritePrivileges) throws(SysError) {
        self.policy = policy
        program = .allocate(capacity: 512)
        let flags = policy.profile == .privileged ? Int32(HOB_SANDBOX_NESTED) : 0
        let count = hob_sandbox_filter_build(flags, program.baseAddress, Int32(program.count))
        guard count > 0 else {
            program.deallocate()
            throw SysError(operation: "build the seccomp filter", errno: errno)
        }
        length = count
    }

    deinit { program.deallocate() }

    /// Calls `body` with the C description, valid for the duration of the call.
    func withSpec<R>(_ body: (UnsafePointer<hob_sandbox>) -> R) -> R {
        var spec = hob_sandbox(
            filter: UnsafePointer(program.baseAddress), filter_len: length, capabilities: policy.capabilities,
            no_new_privs: policy.noNewPrivileges ? 1 : 0)
        return withUnsafePointer(to: &spec) { body($0) }
    }

    /// The sandbox of every process started from now on. hob-init is single-threaded.
    nonisolated(unsafe) static var current: Sandbox?

    /// Installs `policy` for processes started from now on.
    static func apply(_ policy: SpritePrivileges) throws(SysError) {
        current = try Sandbox(policy)
    }
}
