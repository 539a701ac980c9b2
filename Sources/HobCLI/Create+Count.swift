// `hob create NAME --count N`: NAME-1 … NAME-N, at most Create.maxConcurrent at a time. The first
// failure stops new creates; those under way finish, and the error says what exists, so it can be
// used or destroyed.

import HobAPI
import HobClient

extension Create {
    struct Outcome: Sendable {
        var name: String
        var result: Result<SpriteInfo, any Error>
    }

    func createMany(_ client: HobClient) async throws {
        let requests = try names.map { try request(named: $0) }
        let status = ProgressLine()
        var created: [SpriteInfo] = []
        var failure: (name: String, error: any Error)?
        var tokenMissing: String?
        let create: @Sendable (CreateSpriteRequest) async -> Outcome = { request in
            do { return Outcome(name: request.name, result: .success(try await client.createSprite(request))) } catch {
                return Outcome(name: request.name, result: .failure(error))
            }
        }
        await withTaskGroup(of: Outcome.self) { group in
            var next = 0
            var running = 0
            while next < requests.count, running < Self.maxConcurrent {
                group.addTask { [request = requests[next]] in await create(request) }
                next += 1
                running += 1
            }
            status.show(Self.statusText(created: 0, of: requests.count, running: running))
            for await outcome in group {
                running -= 1
                switch outcome.result {
                case .success(let sprite):
                    created.append(sprite)
                    status.clear()
                    if !json { print(sprite.name) }
                    if wantsToken, sprite.token == nil { tokenMissing = tokenMissing ?? sprite.name }
                    if !json, let token = sprite.token { print(token) }
                case .failure(let error):
                    failure = failure ?? (outcome.name, error)
                }
                if failure == nil, next < requests.count {
                    group.addTask { [request = requests[next]] in await create(request) }
                    next += 1
                    running += 1
                }
                if running > 0 { status.show(Self.statusText(created: created.count, of: requests.count, running: running)) }
            }
        }
        status.finish()
        let order = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
        created.sort { order[$0.name, default: 0] < order[$1.name, default: 0] }
        if json, failure == nil || !created.isEmpty { try JSONOutput.print(created) }
        if let failure {
            guard !created.isEmpty else { throw failure.error }
            throw CommandError(
                "created \(created.count) of \(count) (\(created.map(\.name).joined(separator: ", "))), then creating \(failure.name) failed: "
                    + CommandFailure.message(for: failure.error, .sprite(failure.name)))
        }
        if let tokenMissing {
            throw CommandError(
                "the sprites were created, but the daemon returned no token for \(tokenMissing); "
                    + "mint one with `hob token create --sprite \(tokenMissing)`")
        }
    }

    static func statusText(created: Int, of total: Int, running: Int) -> String {
        "creating sprites: \(created)/\(total) created, \(running) under way"
    }
}
