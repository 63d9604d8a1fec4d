import Foundation
import Testing
@testable import Sheaf
@_exported import SheafTestSupport



/// Expects `body` to throw a SheafError with `code`; returns it.
@discardableResult
func expectSheafError(_ code: SheafError.Code, sourceLocation: SourceLocation = #_sourceLocation,
                      _ body: () throws -> Void) -> SheafError? {
    do {
        try body()
        Issue.record("expected \(code) error, nothing was thrown", sourceLocation: sourceLocation)
        return nil
    } catch let error as SheafError {
        #expect(error.code == code, "got \(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected SheafError \(code), got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}
