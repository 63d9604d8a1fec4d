import Foundation
import Sheaf

/// The ResNet fixtures' weights (Fixtures/models/resnet/resnet.json): a
/// counter-based generator that reproduces exactly the float32 values the
/// fixture script fed to torchvision, so the 11.7M and 25.6M parameters need
/// not be committed.
public enum ResNetFixtureWeights {
    // The counter-based weights of resnet.json, exactly as the fixture script made them.
    struct ResNetEntry: Decodable {
        let key: String, shape: [Int], dtype: String
        let index: Int?, lo: Double?, hi: Double?, value: Int64?
    }
    struct ResNetManifest: Decodable { let seed: UInt64; let models: [String: [ResNetEntry]] }

    static func splitmix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    static func generated(seed: UInt64, index: Int, shape: [Int], lo: Double, hi: Double) throws -> Tensor {
        let count = shape.reduce(1, *)
        let base = seed &+ UInt64(index) &* (1 << 32)
        let low = Float(lo), span = Float(hi - lo)
        var values = [Float](repeating: 0, count: count)
        for i in 0..<count {
            let u = Float(splitmix(base &+ UInt64(i)) >> 40) / Float(1 << 24)
            values[i] = low + span * u
        }
        return try Tensor(shape: shape, scalars: values)
    }

    public static func resnetStateDict(_ name: String) throws -> StateDict {
        let manifest = try JSONDecoder().decode(ResNetManifest.self, from: Data(contentsOf: URL(fileURLWithPath: fixturePath("models/resnet/resnet.json"))))
        var state = StateDict()
        for entry in manifest.models[name] ?? [] {
            if entry.dtype == "int64" {
                state[entry.key] = try Tensor(shape: entry.shape, scalars: [entry.value ?? 0])
            } else {
                state[entry.key] = try generated(seed: manifest.seed, index: entry.index ?? 0, shape: entry.shape, lo: entry.lo ?? 0, hi: entry.hi ?? 0)
            }
        }
        return state
    }
}
