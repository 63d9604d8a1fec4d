import Glibc
@_spi(Fuzzing) import SheafInterchange

/// The readers take files: each input is written to one scratch file.
let scratch = "/tmp/sheaf-fuzz-zip-\(getpid())"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let fd = open(scratch, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0 else { return 0 }
    _ = write(fd, data, size)
    close(fd)
    FuzzEntryPoints.readFile(scratch, format: .npz)
    return 0
}
