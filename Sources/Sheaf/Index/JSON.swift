#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// JSON coding for the index: sorted keys and no escaped slashes, so the same
/// index always encodes to the same bytes.
enum JSON {
    static func encode<T: Encodable>(_ value: T) throws(SheafError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do { return Array(try encoder.encode(value)) } catch {
            throw SheafError(.invalidArgument, "cannot encode JSON: \(error)")
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8], file: String) throws(SheafError) -> T {
        do { return try JSONDecoder().decode(type, from: Data(bytes)) } catch {
            throw SheafError(.invalidIndex, file: file, "the index is not valid JSON of the expected form: \(error)")
        }
    }
}
