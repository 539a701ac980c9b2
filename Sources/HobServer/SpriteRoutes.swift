// REST routes for sprites: create, list (and its live NDJSON form), get, update, destroy
// (SPRITES-API.md §3), restart, check and upgrade (§3.6), and Hob's lifecycle extensions
// (docs/API.md): forced sleep and usage.
import HobAPI
import HobAccess
import HobCore
import Hummingbird

struct SpriteRoutes {
    let fleet: Fleet
    let access: AccessCheck
    /// The live list's shared poller.
    let listFeed: SpriteListFeed

    init(fleet: Fleet, access: AccessCheck, maxLiveLists: Int) {
        self.fleet = fleet
        self.access = access
        listFeed = SpriteListFeed(fleet: fleet, maxStreams: maxLiveLists)
    }

    func register(on router: Router<APIRequestContext>) {
        router.get("/v1/sprites") { request, context in try await list(request, grant: context.requireGrant()) }
        router.post("/v1/sprites") { request, context in
            let body = try await decodeBody(CreateSpriteRequest.self, from: request)
            return jsonResponse(try await create(body, grant: context.requireGrant()), status: .created)
        }
        router.get("/v1/sprites/:name") { _, context in
            jsonResponse(try await fleet.info(try context.parameters.require("name")))
        }
        router.put("/v1/sprites/:name") { request, context in
            let name = try context.parameters.require("name")
            let body = try await decodeBody(UpdateSpriteRequest.self, from: request)
            return jsonResponse(try await update(name, body, grant: context.requireGrant()))
        }
        router.delete("/v1/sprites/:name") { _, context in
            try await fleet.destroy(try context.parameters.require("name"))
            return Response(status: .noContent)
        }
        router.post("/v1/sprites/:name/sleep") { request, context in
            let name = try context.parameters.require("name")
            let body = try await decodeBodyIfPresent(SleepRequest.self, from: request, limit: 4096)
            let raw = body?.state ?? "warm"
            guard let state = SpriteStatus(rawValue: raw), state != .running else {
                throw HobError(.invalidArgument, "state must be warm or cold, not \(raw)")
            }
            return jsonResponse(try await fleet.sleep(name, to: state))
        }
        router.get("/v1/sprites/:name/usage") { _, context in
            jsonResponse(try await fleet.usage(of: try context.parameters.require("name")))
        }
        router.get("/v1/usage") { _, _ in jsonResponse(try await fleet.hostUsage()) }
        router.post("/v1/sprites/:name/restart") { _, context in
            jsonResponse(try await fleet.restart(try context.parameters.require("name")))
        }
        router.get("/v1/sprites/:name/check") { _, context in
            jsonResponse(try await fleet.check(try context.parameters.require("name")))
        }
        router.post("/v1/sprites/:name/upgrade") { request, context in
            let name = try context.parameters.require("name")
            let body = try await decodeBodyIfPresent(UpgradeRequest.self, from: request, limit: 4096)
            return jsonResponse(try await fleet.upgrade(name, version: body?.version))
        }
    }

    /// Most sprites one page lists (the OpenAPI's 1–500).
    static var maxPage: Int { 500 }

    /// Creates a sprite the token may create: a name and labels in its scope, its count caps not
    /// reached, and for a fork, a source whose files it may read. With `token`, also mints a token
    /// for the new sprite alone.
    func create(_ body: CreateSpriteRequest, grant: Grant) async throws -> SpriteInfo {
        try SpriteName.validate(body.name)
        let scope = grant.scope
        let labels = try Labels.validate(body.labels ?? [])
        guard scope.covers(name: body.name, labels: labels) else {
            let limits = scope.caveats.map(\.text).filter { !$0.hasPrefix("ops=") && !$0.hasPrefix("expires=") }
            throw HobError(
                .permissionDenied,
                "this token may not create a sprite named \(body.name) with labels [\(labels.joined(separator: ", "))] (its sprites: \(limits.joined(separator: " ")))")
        }
        try Self.requireLabelsSettable(Set(labels), by: grant)
        if let source = body.source { try await access.checkSprite(grant, source.sprite, .files) }
        var tokenCaveats: [Caveat]?
        if let t = body.token {
            try grant.require(.tokens)
            tokenCaveats = [.sprites([body.name])] + (try TokenRoutes.caveats(CreateTokenRequest(ops: t.ops, expiresIn: t.expiresIn)))
        }
        let caps = scope.caps
        var info = try await fleet.create(body, admit: caps.isEmpty ? nil : { @Sendable records in
            for cap in caps {
                let held = records.filter { cap.counts(name: $0.name, labels: $0.labels) }.count
                guard held < cap.limit else {
                    throw HobError(.permissionDenied, "this token may create sprites only while fewer than \(cap.limit) of its sprites exist (\(held) do)")
                }
            }
        })
        if let tokenCaveats {
            let description = body.token?.description ?? "for sprite \(body.name)"
            info.token = try await access.authority.mint(by: grant, description: description, caveats: tokenCaveats).0.string
        }
        return info
    }

    /// Labels decide who may use a sprite (token and secret scopes name them), so a token limited
    /// in any way may add only the labels its own `label=` caveats name; only an admin token sets
    /// any label.
    static func requireLabelsSettable(_ added: Set<String>, by grant: Grant) throws {
        guard !grant.scope.allows(.admin) else { return }
        let foreign = added.subtracting(grant.scope.labels)
        guard foreign.isEmpty else {
            throw HobError(
                .permissionDenied,
                "this token may not set the labels \(foreign.sorted().joined(separator: ", ")): labels decide which tokens and secrets reach a sprite, so only an admin token sets labels beyond its own label caveats")
        }
    }

    /// A settings change by a limited token may not take the sprite out of the token's scope (by
    /// dropping a label it needs) nor add labels of other scopes.
    func update(_ name: String, _ body: UpdateSpriteRequest, grant: Grant) async throws -> SpriteInfo {
        if !grant.scope.allows(.admin), body.labels != nil || body.clearLabels == true {
            let current = try await fleet.record(name).labels
            var next = body.clearLabels == true ? [] : current
            if let labels = body.labels { next = try Labels.validate(labels) }
            try Self.requireLabelsSettable(Set(next).subtracting(current), by: grant)
            guard grant.scope.covers(name: name, labels: next) else {
                throw HobError(.permissionDenied, "this token may not remove the labels its own scope needs (\(grant.scope.labels.sorted().joined(separator: ", ")))")
            }
        }
        return try await fleet.update(name, body)
    }

    func list(_ request: Request, grant: Grant) async throws -> Response {
        let query = request.uri.queryParameters
        let prefix = query["prefix"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
        // `Accept: application/x-ndjson` asks for the live list (`sprite list -w`).
        if request.headers[.accept]?.lowercased().contains("application/x-ndjson") == true {
            try await listFeed.admit()
            return SpriteListStream(feed: listFeed, prefix: prefix, scope: grant.scope.isSpriteScoped ? grant.scope : nil).response()
        }
        var limit = 50
        if let raw = query["max_results"], !raw.isEmpty {
            guard let n = Int(raw), (1...Self.maxPage).contains(n) else {
                throw HobError(.invalidArgument, "max_results must be a number from 1 to \(Self.maxPage)")
            }
            limit = n
        }
        var token: String?
        if let raw = query["continuation_token"].map(String.init), !raw.isEmpty {
            do { try SpriteName.validate(raw) } catch { throw HobError(.invalidArgument, "invalid continuation_token") }
            token = raw
        }
        return jsonResponse(await fleet.list(prefix: prefix, maxResults: limit, after: token, visible: Self.visible(to: grant)))
    }

    /// Which sprites a token sees in lists; nil: all.
    static func visible(to grant: Grant) -> (@Sendable (SpriteRecord) -> Bool)? {
        let scope = grant.scope
        guard scope.isSpriteScoped else { return nil }
        return { scope.covers(name: $0.name, labels: $0.labels) }
    }
}
