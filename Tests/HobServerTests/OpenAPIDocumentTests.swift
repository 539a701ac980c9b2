// The OpenAPI document compiled into the daemon: well-formed, self-consistent, and compared with
// the routes a router really has (the daemon runs the same comparison at start-up).
import Foundation
import Hummingbird
import Testing

@testable import HobServer

@Suite("OpenAPI document")
struct OpenAPIDocumentTests {
    func document() throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.bytes))
        return try #require(object as? [String: Any])
    }

    @Test("is JSON, OpenAPI 3.1, with paths and a bearer scheme")
    func wellFormed() throws {
        let doc = try document()
        #expect((doc["openapi"] as? String)?.hasPrefix("3.1") == true)
        #expect((doc["paths"] as? [String: Any])?.isEmpty == false)
        let schemes = (doc["components"] as? [String: Any])?["securitySchemes"] as? [String: Any]
        #expect(schemes?["bearerAuth"] != nil)
    }

    @Test("every $ref points at a schema the document defines")
    func referencesResolve() throws {
        let doc = try document()
        let schemas = try #require((doc["components"] as? [String: Any])?["schemas"] as? [String: Any])
        var references: [String] = []
        func walk(_ value: Any) {
            if let object = value as? [String: Any] {
                if let ref = object["$ref"] as? String { references.append(ref) }
                object.values.forEach(walk)
            } else if let array = value as? [Any] {
                array.forEach(walk)
            }
        }
        walk(doc)
        #expect(!references.isEmpty)
        let prefix = "#/components/schemas/"
        let dangling = references.filter { !$0.hasPrefix(prefix) || schemas[String($0.dropFirst(prefix.count))] == nil }
        #expect(dangling.isEmpty, "dangling: \(dangling)")
    }

    @Test("every operation has a unique operationId, a tag and responses")
    func operationsComplete() throws {
        let paths = try #require(try document()["paths"] as? [String: [String: Any]])
        var ids: [String] = []
        for (path, item) in paths {
            for method in OpenAPIDocument.methods {
                guard let operation = item[method] as? [String: Any] else { continue }
                let id = operation["operationId"] as? String
                #expect(id != nil, "\(method) \(path) has no operationId")
                ids.append(id ?? "")
                #expect((operation["tags"] as? [String])?.isEmpty == false, "\(method) \(path) has no tag")
                #expect((operation["responses"] as? [String: Any])?.isEmpty == false, "\(method) \(path) has no responses")
            }
        }
        #expect(Set(ids).count == ids.count, "duplicate operationIds")
    }

    @Test("the document and the dashboard's page are the only operations served without a token")
    func documentIsPublic() throws {
        let paths = try #require(try document()["paths"] as? [String: [String: Any]])
        let get = try #require(paths[OpenAPIDocument.path]?["get"] as? [String: Any])
        #expect((get["security"] as? [Any])?.isEmpty == true)
        let open = paths.flatMap { path, item in
            OpenAPIDocument.methods.compactMap { method in
                ((item[method] as? [String: Any])?["security"] as? [Any])?.isEmpty == true ? "\(method) \(path)" : nil
            }
        }
        #expect(Set(open) == ["get \(OpenAPIDocument.path)", "get /", "get /ui", "get /ui/{file}"])
    }

    @Test("routes match operations whatever their parameters are called")
    func routeNormalisation() {
        let route = OpenAPIDocument.Route(method: "get", path: "/v1/sprites/:name/checkpoints/:id")
        #expect(route == OpenAPIDocument.Route(method: "GET", path: "/v1/sprites/{name}/checkpoints/{checkpoint_id}"))
        #expect(route.description == "GET /v1/sprites/{}/checkpoints/{}")
    }

    @Test("drift: a route the document lacks, an operation no route serves, a pending mark left behind")
    func drift() throws {
        let router = Router()
        router.get("/v1/sprites/:name") { _, _ in "" }
        router.post("/v1/sprites/:name/brand-new") { _, _ in "" }
        router.post("/v1/sprites/:name/finished") { _, _ in "" }
        var operations = OpenAPIDocument.Operations()
        operations.served = [.init(method: "GET", path: "/v1/sprites/{name}"), .init(method: "DELETE", path: "/v1/sprites/{name}")]
        operations.pending = [.init(method: "POST", path: "/v1/sprites/{name}/finished"), .init(method: "POST", path: "/v1/sprites/{name}/later")]
        let drift = OpenAPIDocument.drift(registered: OpenAPIDocument.routes(of: router), operations: operations)
        #expect(drift.undocumented == [.init(method: "POST", path: "/v1/sprites/{}/brand-new")])
        #expect(drift.unserved == [.init(method: "DELETE", path: "/v1/sprites/{}")])
        #expect(drift.stillPending == [.init(method: "POST", path: "/v1/sprites/{}/finished")])
    }

    @Test("the document's served operations are all in the drift check's view of the document")
    func operationsParsed() throws {
        let operations = try OpenAPIDocument.operations()
        #expect(operations.served.contains(.init(method: "GET", path: "/v1/sprites/{name}")))
        #expect(operations.served.contains(.init(method: "GET", path: OpenAPIDocument.path)))
        #expect(operations.served.isDisjoint(with: operations.pending))
    }
}
