@_spi(Fuzzing) import SheafInterchange

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    FuzzEntryPoints.unpickle(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
