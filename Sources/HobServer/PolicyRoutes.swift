// Sprite policies: `/v1/sprites/{name}/policy/<kind>`, GET (200, the policy), POST (204, set)
// and DELETE (204, back to the default). SDKs require exactly 204 from POST (docs/API.md).
//
// Each kind is one `register…` function below; add a policy by adding one. (The privileges
// policy, whose POST answers the resulting policy, lives in PrivilegesRoutes.swift.)
import HobAPI
import HobCore
import Hummingbird

struct PolicyRoutes<Context: RequestContext> {
    let fleet: Fleet

    func register(on router: Router<Context>) {
        registerResources(on: router)
    }

    /// `resources`: the memory limit, applied live (Fleet+Resources.swift).
    func registerResources(on router: Router<Context>) {
        router.get("/v1/sprites/:name/policy/resources") { _, context in
            let limit = try await fleet.memoryLimitMB(try context.parameters.require("name"))
            return jsonResponse(ResourcesPolicy(memory: MemoryPolicy(limitMB: limit, autoscale: false)))
        }
        router.post("/v1/sprites/:name/policy/resources") { request, context in
            let name = try context.parameters.require("name")
            let policy = try await decodeBody(ResourcesPolicy.self, from: request, limit: 16 << 10)
            guard let memory = policy.memory else {
                throw HobError(.invalidArgument, "the resources policy needs memory, e.g. {\"memory\":{\"limit_mb\":1024}}")
            }
            guard memory.autoscale != true else {
                throw HobError(.invalidArgument, "memory.autoscale is not supported by Hob; leave it out or send false")
            }
            guard let limit = memory.limitMB else { throw HobError(.invalidArgument, "memory.limit_mb is required") }
            try await fleet.setMemoryLimit(name, mb: limit)
            return Response(status: .noContent)
        }
        router.delete("/v1/sprites/:name/policy/resources") { _, context in
            try await fleet.setMemoryLimit(try context.parameters.require("name"), mb: nil)
            return Response(status: .noContent)
        }
    }
}
