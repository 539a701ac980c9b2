// Secrets a sprite uses through the gateway without seeing them (`/v1/secrets`, admin only; see
// RouteAccess). Values go in with PUT and never come out: every answer is a SecretInfo, which names
// the headers alone.
import Foundation
import HobAPI
import HobCore
import Hummingbird

struct SecretRoutes {
    let vault: SecretVault

    func register(on router: Router<APIRequestContext>) {
        router.put("/v1/secrets/:name") { request, context in
            let name = try context.parameters.require("name")
            let body = try await decodeBody(SecretRequest.self, from: request, limit: 1 << 20)
            return jsonResponse(Self.info(try await vault.set(Self.secret(name: name, body))))
        }
        router.get("/v1/secrets") { _, _ in
            jsonResponse(SecretList(secrets: await vault.list().map(Self.info)))
        }
        router.get("/v1/secrets/:name") { _, context in
            let name = try context.parameters.require("name")
            guard let secret = try await vault.secret(named: name) else { throw SecretVault.notFound(name) }
            return jsonResponse(Self.info(secret))
        }
        router.delete("/v1/secrets/:name") { _, context in
            try await vault.delete(name: try context.parameters.require("name"))
            return Response(status: .noContent)
        }
    }

    /// The secret a PUT body describes (validated by the vault). Headers are kept in name order.
    static func secret(name: String, _ body: SecretRequest) -> Secret {
        Secret(
            name: name, host: body.host, scheme: body.scheme ?? "https", port: body.port,
            headers: body.headers.sorted { $0.key.lowercased() < $1.key.lowercased() }.map { SecretHeader(name: $0.key, value: $0.value) },
            access: body.access)
    }

    static func info(_ s: Secret) -> SecretInfo {
        SecretInfo(
            name: s.name, host: s.host, scheme: s.scheme, port: s.port, headerNames: s.headers.map(\.name), access: s.access,
            createdAt: Timestamp.format(s.createdAt), updatedAt: Timestamp.format(s.updatedAt))
    }
}
