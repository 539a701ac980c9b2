// The network (egress) policy of a sprite (Sprites' `policy/network`; HobCore/Network/
// EgressPolicy.swift has the rules). GET answers `{"rules":[...]}` (always an array); POST
// replaces the rules and answers 204 with no body, which every Sprites SDK requires.
import HobAPI
import HobCore
import Hummingbird

struct NetworkPolicyRoutes<Context: RequestContext> {
    let fleet: Fleet

    func register(on router: Router<Context>) {
        router.get("/v1/sprites/:name/policy/network") { _, context in
            jsonResponse(try await fleet.networkPolicy(of: try context.parameters.require("name")))
        }
        router.post("/v1/sprites/:name/policy/network") { request, context -> Response in
            let name = try context.parameters.require("name")
            // 1000 rules of long names fit in well under 1 MiB.
            let body = try await decodeBody(NetworkPolicy.self, from: request, limit: 1 << 20)
            try await fleet.setNetworkPolicy(name, body)
            return Response(status: .noContent)
        }
    }
}
