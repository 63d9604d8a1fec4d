import Sheaf

/// The subset of Python literals a NumPy header holds: dicts with string keys,
/// strings, ints, bools, None and tuples.
enum PythonLiteral: Equatable {
    case string(String)
    case int(Int)
    case bool(Bool)
    case none
    case tuple([PythonLiteral])
    case list([PythonLiteral])
    case dict([(String, PythonLiteral)])

    static func == (a: PythonLiteral, b: PythonLiteral) -> Bool {
        switch (a, b) {
        case (.string(let x), .string(let y)): x == y
        case (.int(let x), .int(let y)): x == y
        case (.bool(let x), .bool(let y)): x == y
        case (.none, .none): true
        case (.tuple(let x), .tuple(let y)), (.list(let x), .list(let y)): x == y
        case (.dict(let x), .dict(let y)): x.map(\.0) == y.map(\.0) && x.map(\.1) == y.map(\.1)
        default: false
        }
    }
}

/// A recursive-descent parser for ``PythonLiteral`` with a nesting cap; it
/// evaluates nothing.
struct PythonLiteralParser {
    static let maxDepth = 16
    private let chars: [Character]
    private var position = 0

    init(_ text: String) { chars = Array(text) }

    struct Failure: Error { let message: String }

    mutating func parseTop() throws(SheafError) -> PythonLiteral {
        do {
            let value = try parse(depth: 0)
            skipSpace()
            guard position == chars.count else { throw Failure(message: "unexpected text after the literal at \(position)") }
            return value
        } catch let failure as Failure {
            throw SheafError(.invalidFile, failure.message)
        } catch {
            throw SheafError(.invalidFile, "\(error)")
        }
    }

    private mutating func skipSpace() {
        while position < chars.count, chars[position].isWhitespace { position += 1 }
    }

    private mutating func expect(_ c: Character) throws {
        skipSpace()
        guard position < chars.count, chars[position] == c else {
            throw Failure(message: "expected '\(c)' at \(position)")
        }
        position += 1
    }

    private mutating func parse(depth: Int) throws -> PythonLiteral {
        guard depth < Self.maxDepth else { throw Failure(message: "nested deeper than \(Self.maxDepth)") }
        skipSpace()
        guard position < chars.count else { throw Failure(message: "unexpected end") }
        let c = chars[position]
        switch c {
        case "{":
            position += 1
            var items: [(String, PythonLiteral)] = []
            while true {
                skipSpace()
                if position < chars.count, chars[position] == "}" { position += 1; return .dict(items) }
                guard case .string(let key) = try parse(depth: depth + 1) else { throw Failure(message: "dict keys must be strings") }
                try expect(":")
                items.append((key, try parse(depth: depth + 1)))
                skipSpace()
                if position < chars.count, chars[position] == "," { position += 1 }
            }
        case "(", "[":
            position += 1
            let close: Character = c == "(" ? ")" : "]"
            var items: [PythonLiteral] = []
            while true {
                skipSpace()
                if position < chars.count, chars[position] == close {
                    position += 1
                    return c == "(" ? .tuple(items) : .list(items)
                }
                items.append(try parse(depth: depth + 1))
                skipSpace()
                if position < chars.count, chars[position] == "," { position += 1 }
                else if position < chars.count, chars[position] == close { continue }
                else { throw Failure(message: "expected ',' or '\(close)' at \(position)") }
            }
        case "'", "\"":
            position += 1
            var text = ""
            while position < chars.count, chars[position] != c {
                if chars[position] == "\\" { throw Failure(message: "escapes are not supported in header strings") }
                text.append(chars[position])
                position += 1
            }
            guard position < chars.count else { throw Failure(message: "unterminated string") }
            position += 1
            return .string(text)
        default:
            var word = ""
            while position < chars.count, chars[position].isLetter || chars[position].isNumber || chars[position] == "-" || chars[position] == "_" {
                word.append(chars[position])
                position += 1
            }
            switch word {
            case "True": return .bool(true)
            case "False": return .bool(false)
            case "None": return .none
            default:
                var digits = word
                if digits.hasSuffix("L") { digits.removeLast() }  // Python 2 longs
                guard let value = Int(digits) else { throw Failure(message: "unexpected '\(word)' at \(position)") }
                return .int(value)
            }
        }
    }
}
