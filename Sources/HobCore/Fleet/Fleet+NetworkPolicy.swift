// The network (egress) policy (Sprites' `policy/network`; EgressPolicy.swift has the rules and
// HostNetwork+Egress.swift the enforcement). Stored with the sprite; a change applies to a running
// or sleeping sprite at once: new DNS queries are judged by the new rules, and addresses it had
// reached stop passing traffic until a new rule allows them again. The sprite sees a read-only copy
// at /.sprite/policy/network.json.
import Foundation
import HobAPI
import Logging

extension Fleet {
    public func networkPolicy(of name: String) throws -> NetworkPolicy { try record(name).networkPolicy }

    /// Validates, stores and applies the sprite's network policy; returns it as stored.
    @discardableResult
    public func setNetworkPolicy(_ name: String, _ requested: NetworkPolicy) async throws -> NetworkPolicy {
        let policy = try EgressPolicy.validate(requested)
        let id = try await changeRecord(name) { $0.networkPolicy = policy }.id
        try await exclusively(id) { try await self.pushNetworkPolicy(id) }
        logger.info("network policy changed", metadata: ["sprite": "\(name)", "rules": "\(policy.rules.count)"])
        return policy
    }

    /// Applies the stored policy to a running or sleeping sprite (its filter rules and the copy it
    /// sees); a cold one gets it when it boots.
    func pushNetworkPolicy(_ id: String) async throws {
        guard let record = record(id: id) else { return }
        switch sprites[id]?.phase {
        case .running?, .warm?: try await runtimes.of(record).applyNetworkPolicy(record)
        default: return
        }
    }
}
