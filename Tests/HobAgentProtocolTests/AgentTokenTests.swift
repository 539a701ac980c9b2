import HobAgentProtocol
import Testing

@Suite("Agent token")
struct AgentTokenTests {
    @Test("a fresh token is 64 hex digits, valid, and different every time")
    func random() {
        let a = AgentToken.random()
        let b = AgentToken.random()
        #expect(a.utf8.count == AgentToken.minimumLength)
        #expect(AgentToken.problem(a) == nil)
        #expect(a != b)
    }

    @Test(
        "short, long or non-hex tokens are refused",
        arguments: ["", String(repeating: "a", count: 63), String(repeating: "a", count: 257), String(repeating: "g", count: 64), String(repeating: "a", count: 63) + " "])
    func badTokens(_ token: String) {
        #expect(AgentToken.problem(token) != nil)
    }

    @Test("only the exact token matches")
    func matching() {
        let token = String(repeating: "ab", count: 32)
        #expect(AgentToken.matches(token, token))
        #expect(!AgentToken.matches(String(repeating: "ab", count: 31) + "ac", token))
        #expect(!AgentToken.matches(String(token.dropLast()), token))
        #expect(!AgentToken.matches(token + "a", token))
        #expect(!AgentToken.matches("", token))
    }
}
