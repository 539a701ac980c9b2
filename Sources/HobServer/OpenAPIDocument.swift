// Hob's OpenAPI 3.1 document: Sources/HobServer/Resources/openapi.json is its one source. SwiftPM
// embeds it in the binary (`.embedInCode` in Package.swift), so `GET /openapi.json` serves it
// without the repository, and the same bytes are what the tests read.
//
// The document is served without a token: it describes the API and holds no secrets, and tools
// (schemathesis, code generators) fetch it before they have one.
//
// Drift guard: at start-up the daemon compares the routes its router really has with the
// document's operations and logs an error for each difference (`OpenAPIDocument.drift`); the
// integration suite and scripts/schemathesis fail on such a line.
import Foundation
import HTTPTypes
import HobCore
import Hummingbird
import Logging
import NIOCore

enum OpenAPIDocument {
    static let path = "/openapi.json"

    /// The document as served.
    static var bytes: [UInt8] { PackageResources.openapi_json }

    /// A method and a path with its parameters blanked (`GET /v1/sprites/{}`): how a route is
    /// matched against an operation, whatever the parameters are named on either side.
    struct Route: Hashable, Comparable, CustomStringConvertible {
        let method: String
        let path: String

        init(method: String, path: String) {
            self.method = method.uppercased()
            self.path = "/" + path.split(separator: "/", omittingEmptySubsequences: true).map { segment in
                segment.hasPrefix(":") || (segment.hasPrefix("{") && segment.hasSuffix("}")) ? "{}" : String(segment)
            }.joined(separator: "/")
        }

        var description: String { "\(method) \(path)" }
        static func < (a: Route, b: Route) -> Bool { (a.path, a.method) < (b.path, b.method) }
    }

    /// The document's operations: those served now, and those marked `x-hob-pending` (being
    /// added by another change; they must lose the mark once their route is registered).
    struct Operations {
        var served: Set<Route> = []
        var pending: Set<Route> = []
    }

    static let methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]

    static func operations(in bytes: [UInt8] = bytes) throws -> Operations {
        guard let document = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
            let paths = document["paths"] as? [String: Any]
        else { throw HobError(.invalidArgument, "the OpenAPI document has no paths object") }
        var operations = Operations()
        for (path, item) in paths {
            guard let item = item as? [String: Any] else { continue }
            for method in methods {
                guard let operation = item[method] as? [String: Any] else { continue }
                let route = Route(method: method, path: path)
                if operation["x-hob-pending"] != nil {
                    operations.pending.insert(route)
                } else {
                    operations.served.insert(route)
                }
            }
        }
        return operations
    }

    struct Drift: Equatable {
        /// Registered, but not in the document.
        var undocumented: [Route] = []
        /// In the document (not pending), but not registered.
        var unserved: [Route] = []
        /// Registered while the document still marks them pending.
        var stillPending: [Route] = []
        var isEmpty: Bool { undocumented.isEmpty && unserved.isEmpty && stillPending.isEmpty }
    }

    static func drift(registered: [Route], operations: Operations) -> Drift {
        let routes = Set(registered)
        return Drift(
            undocumented: routes.subtracting(operations.served).subtracting(operations.pending).sorted(),
            unserved: operations.served.subtracting(routes).sorted(),
            stillPending: routes.intersection(operations.pending).sorted())
    }

    static func routes<Context>(of router: Router<Context>) -> [Route] {
        router.routes.map { Route(method: $0.method.rawValue, path: $0.path.description) }
    }

    /// Logs every difference between the router and the document (see the file comment).
    static func checkDrift<Context>(_ router: Router<Context>, logger: Logger) {
        let drift: Drift
        do {
            drift = Self.drift(registered: routes(of: router), operations: try operations())
        } catch {
            logger.error("the OpenAPI document cannot be read: \(error)")
            return
        }
        for route in drift.undocumented {
            logger.error("route missing from the OpenAPI document", metadata: ["route": "\(route)"])
        }
        for route in drift.unserved {
            logger.error("OpenAPI document lists a route the server does not have", metadata: ["route": "\(route)"])
        }
        for route in drift.stillPending {
            logger.error("OpenAPI document still marks a served route x-hob-pending", metadata: ["route": "\(route)"])
        }
    }
}

struct OpenAPIRoutes<Context: RequestContext> {
    func register(on router: Router<Context>) {
        router.get(RouterPath(stringLiteral: OpenAPIDocument.path)) { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(bytes: OpenAPIDocument.bytes)))
        }
    }
}
