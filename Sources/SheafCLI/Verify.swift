import ArgumentParser
import Foundation
import Sheaf
import SheafInterchange

extension SheafCommand {
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check Sheaf files against every rule of Spec/FORMAT.md, every checksum included.",
            discussion: "Prints one line per file: OK, or each problem with its key and reason. Exits 1 if any file has a problem.")

        @Argument(help: "The files to check.") var files: [String]
        @Flag(help: "Print the result as JSON.") var json = false
        @OptionGroup var isolation: IsolationOptions

        /// The problems of `path`, found in an isolated child or in process; `unreadable`
        /// when the path could not be opened as a regular file.
        static func check(_ path: String, isolate: Bool) -> (problems: [VerificationProblem], unreadable: Bool) {
            let file: InputFile
            do { file = try InputFile(path) } catch {
                return ([VerificationProblem(key: nil, message: error.error.message, code: error.error.code)], true)
            }
            return (isolate ? probe(file, path) : SheafFile.verify(path: path), false)
        }

        private static func probe(_ file: InputFile, _ path: String) -> [VerificationProblem] {
            switch Isolation.probe(.verify, file) {
            case .failed(let reason):
                return [VerificationProblem(key: nil, message: reason, code: .invalidFile)]
            case .finished(_, let output):
                guard let items = try? JSONDecoder().decode([ProbeReport].self, from: output) else {
                    return [VerificationProblem(key: nil, message: "the isolated verifier gave no result", code: .invalidFile)]
                }
                return items.map {
                    VerificationProblem(key: $0.key, message: $0.reason.replacingOccurrences(of: Isolation.childPath, with: path),
                                        code: $0.code.flatMap(SheafError.Code.init(rawValue:)) ?? .invalidFile)
                }
            }
        }

        func validate() throws {
            guard !files.isEmpty else { throw ValidationError("give at least one file") }
        }

        func run() throws {
            var results: [[String: Any]] = []
            var failed = false
            var unreadable = false
            for file in files {
                var (problems, unopened) = Self.check(file, isolate: isolation.isolate)
                if problems.count == 1, problems[0].code == .notSheaf {
                    problems[0].message = "a valid HDF5 file, but not a Sheaf file (no sheaf_format attribute)"
                }
                if unopened || problems.contains(where: { $0.code == .fileNotFound }) { unreadable = true }
                failed = failed || !problems.isEmpty
                if json {
                    results.append(["file": file, "ok": problems.isEmpty,
                                    "problems": problems.map { ["key": $0.key as Any? ?? NSNull(), "code": $0.code.rawValue, "reason": $0.message] }])
                } else if problems.isEmpty {
                    print("\(file): OK")
                } else {
                    for problem in problems { print("\(file): \(problem)") }
                }
            }
            if json { print(jsonText(results)) }
            if unreadable { throw ExitCode(2) }
            if failed { throw CommandFailure() }
        }
    }
}
