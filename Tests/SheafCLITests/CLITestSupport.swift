import Foundation
import Testing
@_exported import SheafTestSupport

/// The folder holding the built products (the `sheaf` binary sits next to the test bundle).
let productsDirectory: String = {
    var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.isExecutableFile(atPath: url.path + "/sheaf") { return url.path }
    }
    return ""
}()



/// Runs the real `sheaf` binary.
func sheaf(_ arguments: String..., in folder: String? = nil) throws -> ProcessResult {
    try sheaf(arguments, in: folder)
}

/// Runs the real `sheaf` binary with an argument list.
func sheaf(_ arguments: [String], in folder: String? = nil) throws -> ProcessResult {
    try runProcess(productsDirectory + "/sheaf", arguments, in: folder)
}



