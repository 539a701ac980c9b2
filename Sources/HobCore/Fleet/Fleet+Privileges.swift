// Privileges (Sprites' `policy/privileges`): which capability set and seccomp filter a sprite's
// processes run under, and which device nodes it has (HobAgentProtocol/Privileges.swift defines
// the profiles). Stored with the sprite; a change applies to a running sprite's device cgroup at
// once and to every process started afterwards (a running process keeps the filter it has: a
// filter can only narrow); added device nodes appear in /dev at the next boot.
import Foundation
import HobAgentProtocol
import Logging

extension Fleet {
    public func privileges(of name: String) throws -> SpritePrivileges { try record(name).privileges }

    /// Stores and applies the sprite's privileges policy; returns it.
    @discardableResult
    public func setPrivileges(_ name: String, _ policy: SpritePrivileges) async throws -> SpritePrivileges {
        if let problem = policy.problem { throw HobError(.invalidArgument, problem) }
        let id = try await changeRecord(name) { $0.privileges = policy }.id
        try await exclusively(id) { try await self.pushPrivileges(id) }
        logger.info("privileges changed", metadata: ["sprite": "\(name)", "privileges": "\(policy.argument)"])
        return policy
    }

    /// Tells a running sprite its current privileges; a sleeping one is told when it wakes, a
    /// cold one boots with them.
    func pushPrivileges(_ id: String) async throws {
        if case .warm? = sprites[id]?.phase {
            sprites[id]?.staleAgent = true  // its agent is frozen; told when it wakes (refreshAgent)
            return
        }
        guard case .running(let running)? = sprites[id]?.phase, let record = record(id: id) else { return }
        try await runtimes.of(record).applyPrivileges(record, running: running)
    }
}
