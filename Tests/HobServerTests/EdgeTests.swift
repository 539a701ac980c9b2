import HobAPI
import HobCore
import Hummingbird
import Testing

@testable import HobServer

@Suite("Exec query strings")
struct FormQueryTests {
    @Test("form encoding: + is a space, %2B is a plus, repeated keys keep their order")
    func formEncoding() {
        let q = FormQuery("cmd=sh&cmd=-c&cmd=echo+hi+%2B+%C3%BC&env=A%3D1&env=B=2=3&tty=true")
        #expect(q.all("cmd") == ["sh", "-c", "echo hi + ü"])
        #expect(q.all("env") == ["A=1", "B=2=3"])
        #expect(q["tty"] == "true")
        #expect(q["missing"] == nil)
    }

    @Test("empty and odd queries do not crash")
    func oddQueries() {
        #expect(FormQuery(nil).items.isEmpty)
        #expect(FormQuery("").items.isEmpty)
        #expect(FormQuery("&&flag&x=%ZZ")["flag"] == "")
        #expect(FormQuery("x=%ZZ")["x"] == "%ZZ")
    }
}

@Suite("Error mapping")
struct ErrorMappingTests {
    @Test(
        "HobError codes map to one status each",
        arguments: [
            (HobError.Code.invalidArgument, 400), (.unauthorized, 401), (.notFound, 404), (.exists, 409), (.invalidState, 409),
            (.gone, 410), (.tooLarge, 413), (.unavailable, 503), (.unsupported, 501), (.internalError, 500),
            (.permissionDenied, 403), (.insufficientStorage, 507), (.rateLimited, 429), (.resourceExhausted, 409),
        ])
    func statuses(code: HobError.Code, status: Int) {
        let (mapped, body) = APIError.map(HobError(code, "m"))
        #expect(mapped.code == status)
        #expect(body.error == code.description)
        #expect(body.message == "m")
    }

    @Test("router errors keep their status and get the Sprites body")
    func httpErrors() {
        let (status, body) = APIError.map(HTTPError(.notFound))
        #expect(status == .notFound)
        #expect(body.error == "not_found")
        let (tooLarge, _) = APIError.map(HTTPError(.contentTooLarge))
        #expect(tooLarge == .contentTooLarge)
    }

    @Test("anything else is a 500 with a message")
    func unknown() {
        struct Boom: Error {}
        let (status, body) = APIError.map(Boom())
        #expect(status == .internalServerError)
        #expect(body.error == "internal_error")
    }
}
