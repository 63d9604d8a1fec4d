import FuzzSupport
@_spi(Fuzzing) import Sheaf

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    SheafFuzzEntryPoints.binaryIndex(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

@_cdecl("fuzz_sheaf_binary_index_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runFuzzer(argc, argv) { data, size in fuzz(data, size) }
}
