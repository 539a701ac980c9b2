// `POST /v1/sprites/{name}/url/login`: a one-time sign-in link for a browser (URLLoginLinks.swift).
// The caller's token must be one that could open the URL itself (`url`; `admin` where
// `private_access` is `admins`), so a link never opens more than its requester could.
import Foundation
import HobAPI
import HobAccess
import HobCore
import Hummingbird

struct URLLoginRoute {
    let fleet: Fleet
    let logins: URLLoginLinks
    let settings: URLProxySettings

    func register(on router: Router<APIRequestContext>) {
        router.post("/v1/sprites/:name/url/login") { _, context in
            let name = try context.parameters.require("name")
            let grant = try context.requireGrant()
            let record = try await fleet.record(name)
            if record.urlPrivateAccess == "admins" { try grant.require(.admin) }
            guard settings.listenHost != nil else {
                throw HobError(.unsupported, "this daemon serves no sprite URLs; start it with --url-listen")
            }
            let sessionUntil = grant.scope.expiryDate ?? Date.distantFuture
            let (code, expires) = try logins.issue(sprite: record.id, sessionUntil: sessionUntil)
            let base = settings.url(of: name)
            let link = "\(base.hasSuffix("/") ? base : base + "/")?\(URLLoginLinks.queryParameter)=\(code)"
            return jsonResponse(URLLoginLink(url: link, expiresAt: Timestamp.format(expires)), status: .created)
        }
    }
}
