// The privileges policy of a sprite (Sprites' `policy/privileges`; profiles defined in
// HobAgentProtocol/Privileges.swift): GET answers the policy in effect, POST changes the fields
// it carries, DELETE returns to the default. POST and DELETE answer the resulting policy.
import HobAPI
import HobAgentProtocol
import HobCore
import Hummingbird

struct PrivilegesRoutes<Context: RequestContext> {
    let fleet: Fleet

    func register(on router: Router<Context>) {
        router.get("/v1/sprites/:name/policy/privileges") { _, context in
            jsonResponse(Self.wire(try await fleet.privileges(of: try context.parameters.require("name"))))
        }
        router.post("/v1/sprites/:name/policy/privileges") { request, context in
            let name = try context.parameters.require("name")
            let body = try await decodeBody(PrivilegesPolicy.self, from: request, limit: 64 << 10)
            let policy = try Self.merge(body, into: try await fleet.privileges(of: name))
            return jsonResponse(Self.wire(try await fleet.setPrivileges(name, policy)))
        }
        router.delete("/v1/sprites/:name/policy/privileges") { _, context in
            jsonResponse(Self.wire(try await fleet.setPrivileges(try context.parameters.require("name"), .standard)))
        }
    }

    static func wire(_ p: SpritePrivileges) -> PrivilegesPolicy {
        PrivilegesPolicy(profile: p.profile.rawValue, devices: p.devices, noNewPrivileges: p.noNewPrivileges)
    }

    /// The policy `body` asks for, starting from `current` for the fields it leaves out.
    static func merge(_ body: PrivilegesPolicy, into current: SpritePrivileges) throws -> SpritePrivileges {
        var policy = current
        if let name = body.profile {
            guard let profile = name.isEmpty ? .standard : SpritePrivileges.Profile(rawValue: name) else {
                let choices = SpritePrivileges.Profile.allCases.map(\.rawValue).joined(separator: ", ")
                throw HobError(.invalidArgument, "profile must be one of \(choices) (or \"\" for the default), not \"\(name)\"")
            }
            policy.profile = profile
        }
        if let devices = body.devices {
            guard devices.count <= 16 else { throw HobError(.invalidArgument, "at most 16 devices") }
            var unique: [String] = []
            for d in devices where !unique.contains(d) { unique.append(d) }
            policy.devices = unique
        }
        if let nnp = body.noNewPrivileges { policy.noNewPrivileges = nnp }
        return policy  // Fleet.setPrivileges refuses what cannot be applied (unknown devices)
    }
}
