import FuzzSupport
@_spi(Fuzzing) import SheafInterchange

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    if let path = scratchFile(data, size, name: "safetensors") { FuzzEntryPoints.readFile(path, format: .safetensors) }
    return 0
}

@_cdecl("fuzz_safetensors_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runFuzzer(argc, argv) { data, size in fuzz(data, size) }
}
