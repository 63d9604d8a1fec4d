import Glibc

// SwiftPM links each target with main = <module>_main; each target defines that
// function and hands control to libFuzzer's driver through this declaration.
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<Int32>,
                     _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> Int32) -> Int32

/// Runs libFuzzer with this process's arguments on `target`.
public func runFuzzer(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                      _ target: @convention(c) (UnsafePointer<UInt8>, Int) -> Int32) -> Int32 {
    var count = argc
    var arguments = argv
    return runFuzzerDriver(&count, &arguments, target)
}

/// Writes one input to this process's scratch file (the readers take paths) and returns its path.
public func scratchFile(_ data: UnsafePointer<UInt8>, _ size: Int, name: String) -> String? {
    let path = "/tmp/sheaf-fuzz-\(name)-\(getpid())"
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0 else { return nil }
    _ = write(fd, data, size)
    close(fd)
    return path
}
