import Glibc
import Synchronization

/// A failure in the CUDA driver or cuBLAS, or in loading them.
public struct CUDAError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var code: Int32
    public var message: String
    public var description: String { "\(operation) failed: \(message)\(code != 0 ? " (code \(code))" : "")" }
}

/// The dlopen handle of a library; never closed, so function pointers stay valid.
final class LibraryHandle: @unchecked Sendable {
    let raw: UnsafeMutableRawPointer
    let path: String
    init(raw: UnsafeMutableRawPointer, path: String) { self.raw = raw; self.path = path }

    /// Opens the first loadable candidate; the error lists what was tried.
    static func open(_ candidates: [String], what: String) -> Result<LibraryHandle, CUDAError> {
        var tried: [String] = []
        for candidate in candidates {
            if let raw = dlopen(candidate, RTLD_NOW | RTLD_LOCAL) { return .success(LibraryHandle(raw: raw, path: candidate)) }
            tried.append("\(candidate) (\(dlerror().map { String(cString: $0) } ?? "not found"))")
        }
        return .failure(CUDAError(operation: "dlopen", code: 0, message: "no \(what) library could be loaded; tried \(tried.joined(separator: ", "))"))
    }

    func symbol<T>(_ name: String, as type: T.Type) -> Result<T, CUDAError> {
        guard let pointer = dlsym(raw, name) else {
            return .failure(CUDAError(operation: "dlsym", code: 0, message: "\(path) lacks the symbol \(name)"))
        }
        return .success(unsafeBitCast(pointer, to: type))
    }
}

typealias CUResultFn<Args> = Args
typealias CUptr = UInt64
typealias CUhandle = OpaquePointer?

/// The CUDA driver API and cuBLAS, loaded at run time with `dlopen` (the build
/// needs neither). Every symbol used is required: a missing one makes the whole
/// backend unavailable with an error that names it, never a crash.
///
/// Kernels ship as PTX text (``Kernels``) and are JIT-compiled by the driver:
/// PTX ISA 7.0 for `sm_50`, which any driver since CUDA 11.0 (R450) loads.
final class CUDA: @unchecked Sendable {
    // Driver API.
    let cuInit: @convention(c) (UInt32) -> Int32
    let cuDeviceGetCount: @convention(c) (UnsafeMutablePointer<Int32>) -> Int32
    let cuDeviceGet: @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
    let cuDevicePrimaryCtxRetain: @convention(c) (UnsafeMutablePointer<CUhandle>, Int32) -> Int32
    let cuCtxSetCurrent: @convention(c) (CUhandle) -> Int32
    let cuMemAlloc: @convention(c) (UnsafeMutablePointer<CUptr>, Int) -> Int32
    let cuMemFree: @convention(c) (CUptr) -> Int32
    let cuMemcpyHtoDAsync: @convention(c) (CUptr, UnsafeRawPointer?, Int, CUhandle) -> Int32
    let cuMemcpyDtoHAsync: @convention(c) (UnsafeMutableRawPointer?, CUptr, Int, CUhandle) -> Int32
    let cuMemcpyDtoDAsync: @convention(c) (CUptr, CUptr, Int, CUhandle) -> Int32
    let cuStreamCreate: @convention(c) (UnsafeMutablePointer<CUhandle>, UInt32) -> Int32
    let cuStreamSynchronize: @convention(c) (CUhandle) -> Int32
    let cuModuleLoadData: @convention(c) (UnsafeMutablePointer<CUhandle>, UnsafeRawPointer) -> Int32
    let cuModuleGetFunction: @convention(c) (UnsafeMutablePointer<CUhandle>, CUhandle, UnsafePointer<CChar>) -> Int32
    let cuLaunchKernel: @convention(c) (CUhandle, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, CUhandle,
                                        UnsafeMutablePointer<UnsafeMutableRawPointer?>?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> Int32
    let cuGetErrorString: @convention(c) (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>) -> Int32
    let cuMemHostAlloc: @convention(c) (UnsafeMutablePointer<UnsafeMutableRawPointer?>, Int, UInt32) -> Int32
    let cuEventCreate: @convention(c) (UnsafeMutablePointer<CUhandle>, UInt32) -> Int32
    let cuEventRecord: @convention(c) (CUhandle, CUhandle) -> Int32
    let cuEventSynchronize: @convention(c) (CUhandle) -> Int32
    let cuMemFreeHost: @convention(c) (UnsafeMutableRawPointer?) -> Int32
    let cuEventDestroy: @convention(c) (CUhandle) -> Int32
    let cuStreamDestroy: @convention(c) (CUhandle) -> Int32
    // cuBLAS.
    let cublasCreate: @convention(c) (UnsafeMutablePointer<CUhandle>) -> Int32
    let cublasSetStream: @convention(c) (CUhandle, CUhandle) -> Int32
    let cublasSgemm: @convention(c) (CUhandle, Int32, Int32, Int32, Int32, Int32, UnsafePointer<Float>, CUptr, Int32,
                                     CUptr, Int32, UnsafePointer<Float>, CUptr, Int32) -> Int32
    let cublasSgemv: @convention(c) (CUhandle, Int32, Int32, Int32, UnsafePointer<Float>, CUptr, Int32, CUptr, Int32,
                                     UnsafePointer<Float>, CUptr, Int32) -> Int32

    let deviceCount: Int
    let driverPath: String
    let cublasPath: String
    /// Per device: context, stream, cuBLAS handle, kernels; made on first use.
    private let devices: Mutex<[Int: DeviceState]> = Mutex([:])
    /// Per device: the pinned buffers loads stage through (``CUDAStaging``);
    /// held for the whole of a load.
    let stagingPools: Mutex<[Int: CUDAStaging]> = Mutex([:])
    /// One lock for every CUDA call: the current context is per thread, and
    /// each batch of calls sets it first.
    let lock = Mutex(())

    struct DeviceState: @unchecked Sendable {
        let context: CUhandle
        let stream: CUhandle
        let blas: CUhandle
        let kernels: [String: CUhandle]
    }

    /// Candidate sonames, most specific first; `SHEAF_CUDA_DRIVER` and
    /// `SHEAF_CUBLAS` override them.
    static var driverCandidates: [String] {
        if let override = getenv("SHEAF_CUDA_DRIVER") { return [String(cString: override)] }
        return ["libcuda.so.1"]  // never bare libcuda.so, which can be the toolkit's stub
    }
    static var cublasCandidates: [String] {
        if let override = getenv("SHEAF_CUBLAS") { return [String(cString: override)] }
        return ["libcublas.so.13", "libcublas.so.12", "libcublas.so.11"]
    }

    private static let loaded: Result<CUDA, CUDAError> = load(driver: driverCandidates, cublas: cublasCandidates)

    /// The process-wide backend, loaded once.
    static func load() -> Result<CUDA, CUDAError> { loaded }
    static var shared: CUDA? { try? loaded.get() }

    /// Loads the driver and cuBLAS from the given candidates (tests pass paths
    /// that do not exist to exercise the failure path).
    static func load(driver: [String], cublas: [String]) -> Result<CUDA, CUDAError> {
        Result { () throws(CUDAError) in try CUDA(driver: driver, cublas: cublas) }
    }

    private init(driver: [String], cublas: [String]) throws(CUDAError) {
        let d = try LibraryHandle.open(driver, what: "CUDA driver").get()
        func sym<T>(_ name: String, _ type: T.Type) throws(CUDAError) -> T { try d.symbol(name, as: type).get() }
        cuInit = try sym("cuInit", type(of: cuInit))
        cuDeviceGetCount = try sym("cuDeviceGetCount", type(of: cuDeviceGetCount))
        cuDeviceGet = try sym("cuDeviceGet", type(of: cuDeviceGet))
        cuDevicePrimaryCtxRetain = try sym("cuDevicePrimaryCtxRetain", type(of: cuDevicePrimaryCtxRetain))
        cuCtxSetCurrent = try sym("cuCtxSetCurrent", type(of: cuCtxSetCurrent))
        cuMemAlloc = try sym("cuMemAlloc_v2", type(of: cuMemAlloc))
        cuMemFree = try sym("cuMemFree_v2", type(of: cuMemFree))
        cuMemcpyHtoDAsync = try sym("cuMemcpyHtoDAsync_v2", type(of: cuMemcpyHtoDAsync))
        cuMemcpyDtoHAsync = try sym("cuMemcpyDtoHAsync_v2", type(of: cuMemcpyDtoHAsync))
        cuMemcpyDtoDAsync = try sym("cuMemcpyDtoDAsync_v2", type(of: cuMemcpyDtoDAsync))
        cuStreamCreate = try sym("cuStreamCreate", type(of: cuStreamCreate))
        cuStreamSynchronize = try sym("cuStreamSynchronize", type(of: cuStreamSynchronize))
        cuModuleLoadData = try sym("cuModuleLoadData", type(of: cuModuleLoadData))
        cuModuleGetFunction = try sym("cuModuleGetFunction", type(of: cuModuleGetFunction))
        cuLaunchKernel = try sym("cuLaunchKernel", type(of: cuLaunchKernel))
        cuGetErrorString = try sym("cuGetErrorString", type(of: cuGetErrorString))
        cuMemHostAlloc = try sym("cuMemHostAlloc", type(of: cuMemHostAlloc))
        cuEventCreate = try sym("cuEventCreate", type(of: cuEventCreate))
        cuEventRecord = try sym("cuEventRecord", type(of: cuEventRecord))
        cuEventSynchronize = try sym("cuEventSynchronize", type(of: cuEventSynchronize))
        cuMemFreeHost = try sym("cuMemFreeHost", type(of: cuMemFreeHost))
        cuEventDestroy = try sym("cuEventDestroy_v2", type(of: cuEventDestroy))
        cuStreamDestroy = try sym("cuStreamDestroy_v2", type(of: cuStreamDestroy))
        let b = try LibraryHandle.open(cublas, what: "cuBLAS").get()
        func blas<T>(_ name: String, _ type: T.Type) throws(CUDAError) -> T { try b.symbol(name, as: type).get() }
        cublasCreate = try blas("cublasCreate_v2", type(of: cublasCreate))
        cublasSetStream = try blas("cublasSetStream_v2", type(of: cublasSetStream))
        cublasSgemm = try blas("cublasSgemm_v2", type(of: cublasSgemm))
        cublasSgemv = try blas("cublasSgemv_v2", type(of: cublasSgemv))
        driverPath = d.path
        cublasPath = b.path
        let initResult = cuInit(0)
        var count: Int32 = 0
        if initResult == 0, cuDeviceGetCount(&count) == 0 { deviceCount = Int(count) } else { deviceCount = 0 }
    }

    func errorText(_ code: Int32) -> String {
        var text: UnsafePointer<CChar>?
        if cuGetErrorString(code, &text) == 0, let text { return String(cString: text) }
        return "CUDA error"
    }

    /// Checks a driver result.
    func check(_ code: Int32, _ operation: String) throws(CUDAError) {
        guard code == 0 else { throw CUDAError(operation: operation, code: code, message: errorText(code)) }
    }

    func checkBlas(_ code: Int32, _ operation: String) throws(CUDAError) {
        guard code == 0 else { throw CUDAError(operation: operation, code: code, message: "cuBLAS status \(code)") }
    }

    /// The state of device `index`, creating it (primary context, stream,
    /// cuBLAS handle, kernels) on first use. Call with the lock held.
    func state(_ index: Int) throws(CUDAError) -> DeviceState {
        if let state = devices.withLock({ $0[index] }) {
            try check(cuCtxSetCurrent(state.context), "cuCtxSetCurrent")
            return state
        }
        guard index >= 0 && index < deviceCount else {
            throw CUDAError(operation: "device", code: 0, message: "cuda:\(index) does not exist; this machine has \(deviceCount) GPU(s)")
        }
        var device: Int32 = 0
        try check(cuDeviceGet(&device, Int32(index)), "cuDeviceGet")
        var context: CUhandle = nil
        try check(cuDevicePrimaryCtxRetain(&context, device), "cuDevicePrimaryCtxRetain")
        try check(cuCtxSetCurrent(context), "cuCtxSetCurrent")
        var stream: CUhandle = nil
        try check(cuStreamCreate(&stream, 0), "cuStreamCreate")
        var blas: CUhandle = nil
        try checkBlas(cublasCreate(&blas), "cublasCreate_v2")
        try checkBlas(cublasSetStream(blas, stream), "cublasSetStream_v2")
        var module: CUhandle = nil
        let code = Kernels.ptx.withCString { cuModuleLoadData(&module, $0) }
        try check(code, "cuModuleLoadData (PTX ISA \(Kernels.isaVersion), \(Kernels.target))")
        var kernels: [String: CUhandle] = [:]
        for name in Kernels.names {
            var function: CUhandle = nil
            try check(name.withCString { cuModuleGetFunction(&function, module, $0) }, "cuModuleGetFunction(\(name))")
            kernels[name] = function
        }
        let state = DeviceState(context: context, stream: stream, blas: blas, kernels: kernels)
        devices.withLock { $0[index] = state }
        return state
    }

    /// Runs `body` with the lock held and device `index`'s context current.
    func with<R>(device index: Int, _ body: (DeviceState) throws(CUDAError) -> R) throws(CUDAError) -> R {
        try lock.withLock { _ throws(CUDAError) in
            let state = try self.state(index)
            return try body(state)
        }
    }

    /// Launches a 1-d grid covering `count` threads on `stream` (the device's own by default).
    func launch(_ state: DeviceState, _ name: String, count: Int, _ arguments: [Any], stream: CUhandle? = nil) throws(CUDAError) {
        guard count > 0 else { return }
        let block = 256
        let grid = (count + block - 1) / block
        guard grid <= Int(Int32.max) else { throw CUDAError(operation: name, code: 0, message: "\(count) elements are too many for one launch") }
        var storage: [UnsafeMutableRawPointer] = []
        defer { storage.forEach { $0.deallocate() } }
        for argument in arguments {
            let pointer = UnsafeMutableRawPointer.allocate(byteCount: 8, alignment: 8)
            switch argument {
            case let v as UInt64: pointer.storeBytes(of: v, as: UInt64.self)
            case let v as Float: pointer.storeBytes(of: v, as: Float.self)
            default: pointer.storeBytes(of: 0, as: UInt64.self)
            }
            storage.append(pointer)
        }
        guard let function = state.kernels[name] else {
            throw CUDAError(operation: "cuLaunchKernel", code: 0, message: "no kernel named \(name) in the loaded module")
        }
        var parameters: [UnsafeMutableRawPointer?] = storage
        let code = parameters.withUnsafeMutableBufferPointer {
            cuLaunchKernel(function, UInt32(grid), 1, 1, UInt32(block), 1, 1, 0, stream ?? state.stream, $0.baseAddress, nil)
        }
        try check(code, "cuLaunchKernel(\(name))")
    }
}

/// Device memory, freed when the last reference goes.
final class CUDABuffer: @unchecked Sendable {
    let cuda: CUDA
    let device: Int
    let address: CUptr
    let byteCount: Int

    init(cuda: CUDA, device: Int, byteCount: Int) throws(CUDAError) {
        self.cuda = cuda
        self.device = device
        self.byteCount = byteCount
        var address: CUptr = 0
        if byteCount > 0 {
            try cuda.with(device: device) { _ throws(CUDAError) in
                try cuda.check(cuda.cuMemAlloc(&address, byteCount), "cuMemAlloc_v2 (\(byteCount) bytes)")
            }
        }
        self.address = address
    }

    deinit {
        guard address != 0 else { return }
        let cuda = cuda, address = address
        _ = try? cuda.with(device: device) { state throws(CUDAError) in
            // Work queued on the stream may still read this memory.
            _ = cuda.cuStreamSynchronize(state.stream)
            _ = cuda.cuMemFree(address)
        }
    }
}
