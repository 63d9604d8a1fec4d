import SheafRuntime

extension UnaryOperation {
    /// transformers' activation names (`activation_function`, `hidden_act`).
    static func named(_ name: String, origin: String) throws -> UnaryOperation {
        switch name {
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": return .geluTanh
        case "gelu": return .gelu
        case "relu": return .relu
        case "silu", "swish": return .silu
        case "tanh": return .tanh
        case "sigmoid": return .sigmoid
        default: throw ModelError(.invalidConfiguration, "\(origin): the activation \(printable(name)) is not supported (gelu_new, gelu, relu, silu, tanh, sigmoid)")
        }
    }
}

/// A name from a file, shown only when it is short plain text (messages never
/// echo arbitrary bytes from a file).
func printable(_ name: String) -> String {
    let plain = name.count <= 40 && name.unicodeScalars.allSatisfy { ($0.isASCII && ($0.properties.isAlphabetic || $0.properties.numericType != nil)) || "_-.".unicodeScalars.contains($0) }
    return plain ? "'\(name)'" : "(a name that is not plain text)"
}
