import ArgumentParser
import Foundation
import Sheaf
import SheafInterchange

extension SheafCommand {
    struct Diff: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare two files of any readable format key by key.",
            discussion: "Elements compare as numpy.allclose does: |a - b| <= atol + rtol * |b|, NaN equal to NaN. Exits 0 when the files hold the same keys, dtypes, shapes and values within tolerance, 1 otherwise.")

        @Argument(help: "The first file.") var a: String
        @Argument(help: "The second file.") var b: String
        @Option(help: "Relative tolerance.") var rtol: Double = 0
        @Option(help: "Absolute tolerance.") var atol: Double = 0
        @OptionGroup var isolation: IsolationOptions

        func validate() throws {
            guard rtol >= 0, atol >= 0 else { throw ValidationError("tolerances must be non-negative") }
        }

        func run() throws {
            let fileA = try InputFile(a), fileB = try InputFile(b)
            try isolation.preflight(fileA)
            try isolation.preflight(fileB)
            let report = try fileA.reading { pathA in
                try fileB.reading { pathB in
                    try Differ.diff(try Interchange.open(path: pathA), try Interchange.open(path: pathB), rtol: rtol, atol: atol)
                }
            }
            for key in report.onlyInFirst { print("only in \(a): \(key)") }
            for key in report.onlyInSecond { print("only in \(b): \(key)") }
            for (key, reason) in report.incompatible { print("\(key): \(reason)") }
            for difference in report.compared where difference.mismatched > 0 || difference.maxAbsolute > 0 {
                print("\(difference.key): \(difference.mismatched) of \(difference.count) elements differ beyond tolerance; max abs \(difference.maxAbsolute), max rel \(difference.maxRelative)")
            }
            for line in report.metadataDifferences { print("metadata \(line)") }
            if report.equal {
                print("equal: \(counted(report.compared.count, "tensor"))\(rtol > 0 || atol > 0 ? " within rtol \(rtol), atol \(atol)" : "")")
            } else {
                throw CommandFailure()
            }
        }
    }
}
