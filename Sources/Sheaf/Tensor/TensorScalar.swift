/// A Swift type that is the element of a ``Tensor`` of one ``DType``.
public protocol TensorScalar: BitwiseCopyable, Sendable {
    static var dtype: DType { get }
}

extension Bool: TensorScalar { public static var dtype: DType { .bool } }
extension UInt8: TensorScalar { public static var dtype: DType { .uint8 } }
extension UInt16: TensorScalar { public static var dtype: DType { .uint16 } }
extension UInt32: TensorScalar { public static var dtype: DType { .uint32 } }
extension UInt64: TensorScalar { public static var dtype: DType { .uint64 } }
extension Int8: TensorScalar { public static var dtype: DType { .int8 } }
extension Int16: TensorScalar { public static var dtype: DType { .int16 } }
extension Int32: TensorScalar { public static var dtype: DType { .int32 } }
extension Int64: TensorScalar { public static var dtype: DType { .int64 } }
extension Float: TensorScalar { public static var dtype: DType { .float32 } }
extension Double: TensorScalar { public static var dtype: DType { .float64 } }
#if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
extension Float16: TensorScalar { public static var dtype: DType { .float16 } }
#endif
