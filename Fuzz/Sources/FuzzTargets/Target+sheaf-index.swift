@_spi(Fuzzing) import Sheaf

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    SheafFuzzEntryPoints.index(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
