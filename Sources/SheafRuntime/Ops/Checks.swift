import Sheaf

extension NDArray {
    func sameDevice(_ other: NDArray, _ operation: String) throws {
        try Self.requireSameDevice(device, other.device, operation)
    }

    static func requireSameDevice(_ device: Device, _ other: Device, _ operation: String) throws {
        guard device == other else {
            throw RuntimeError(.deviceMismatch,
                               "\(operation): expected all arrays on the same device, found \(device) and \(other); move one with .to(_:)")
        }
    }

    /// float32, or float64 on the CPU (the basic operations).
    func requireFloat(_ operation: String) throws {
        guard dtype == .float32 || (dtype == .float64 && device == .cpu) else {
            throw RuntimeError(.dtypeUnsupported, "\(operation) needs float32 (or float64 on the CPU), found \(dtype) on \(device)")
        }
    }

    /// float32 only (the neural-network operations).
    func requireFloat32(_ operation: String) throws {
        guard dtype == .float32 else {
            throw RuntimeError(.dtypeUnsupported, "\(operation) needs float32, found \(dtype); convert with .converted(to: .float32)")
        }
    }

    func requireRank(_ expected: Int, _ operation: String, _ layout: String) throws {
        guard rank == expected else {
            throw RuntimeError(.shapeMismatch, "\(operation) needs a \(expected)-d input \(layout), found shape \(shape)")
        }
    }

    /// An axis counted from the end when negative, checked against the rank.
    func resolvedAxis(_ axis: Int, _ operation: String) throws -> Int {
        let resolved = axis < 0 ? axis + rank : axis
        guard resolved >= 0 && resolved < rank else {
            throw RuntimeError(.invalidArgument, "\(operation): axis \(axis) is out of range for shape \(shape)")
        }
        return resolved
    }

    /// A 1-d parameter of `length` elements on this array's device, or an error naming it.
    func checkVector(_ vector: NDArray?, _ length: Int, _ name: String, _ operation: String) throws {
        guard let vector else { return }
        try sameDevice(vector, operation)
        guard vector.shape == [length], vector.dtype == dtype else {
            throw RuntimeError(.shapeMismatch, "\(operation): \(name) must be \(dtype) of shape [\(length)], found \(vector.dtype) \(vector.shape)")
        }
    }
}
