import Foundation
import Testing
@testable import Sheaf

@Suite("The seed chapter's save/load workflow")
struct SeedWorkflowTests {
    @Test("a tensor saved and loaded, like torch.save(x, 'x-file')")
    func tensor() throws {
        let folder = try TemporaryFolder()
        let x = Tensor(arange: 4)
        #expect(x.dtype == .int64)
        try x.save(to: folder.file("x-file"))
        let x2 = try Tensor(contentsOf: folder.file("x-file"))
        #expect(x2 == x)
        #expect(try x2.scalars(as: Int64.self) == [0, 1, 2, 3])
        #expect(x2.description == "tensor([0, 1, 2, 3])")
    }

    @Test("a list of tensors saved and loaded")
    func list() throws {
        let folder = try TemporaryFolder()
        let x = Tensor(arange: 4)
        let y = try Tensor(zeros: [4])
        try [x, y].save(to: folder.file("x-files"))
        let loaded = try [Tensor](contentsOf: folder.file("x-files"))
        #expect(loaded == [x, y])
        #expect(loaded[1].description == "tensor([0., 0., 0., 0.])")
    }

    @Test("a dict saved and loaded keeps key order")
    func dict() throws {
        let folder = try TemporaryFolder()
        var sd = StateDict()
        sd["x"] = Tensor(arange: 4)
        sd["y"] = try Tensor(zeros: [4])
        sd["a"] = Tensor([Float(1.5)])
        try sd.save(to: folder.file("mydict"))
        let sd2 = try StateDict(contentsOf: folder.file("mydict"))
        #expect(sd2.keys == ["x", "y", "a"])
        #expect(sd2 == sd)
    }

    @Test("lazy open reads keys, dtypes and shapes without data, then one tensor")
    func lazy() throws {
        let folder = try TemporaryFolder()
        var sd = StateDict()
        sd["hidden.weight"] = try Tensor(zeros: [256, 20])
        sd["hidden.bias"] = try Tensor(zeros: [256])
        sd.metadata["epoch"] = 3
        try sd.save(to: folder.file("mlp.sheaf"))
        let file = try SheafFile(path: folder.file("mlp.sheaf"))
        #expect(file.kind == .dict)
        #expect(file.version == "1.4")  // both tensors are under 64 KiB, so packed (Spec §18)
        #expect(file.keys == ["hidden.weight", "hidden.bias"])
        #expect(try file.entry("hidden.bias").storage == .packed)
        #expect(try file.entry("hidden.weight").storage == .packed)
        #expect(try file.entry("hidden.weight").shape == [256, 20])
        #expect(file.metadata == ["epoch": .int(3)])
        let w = try file.tensor("hidden.weight")
        #expect(w == sd["hidden.weight"]!)
        expectSheafError(.keyNotFound) { _ = try file.tensor("nope") }
    }
}
