import Foundation
import Testing
import Sheaf
@testable import SheafInterchange

/// The restricted unpickler on pickle programs written opcode by opcode.
@Suite("restricted unpickler")
struct UnpicklerTests {
    func load(_ program: [UInt8], storages: [String: Int] = [:]) throws(SheafError) -> PickleValue {
        var machine = Unpickler(data: program, file: "t.pkl") { storages[$0] }
        return try machine.load()
    }

    func op(_ code: PickleOpcode) -> UInt8 { code.rawValue }

    func short(_ text: String) -> [UInt8] { [op(.shortBinunicode), UInt8(text.utf8.count)] + Array(text.utf8) }

    @Test("the opcodes are pickletools' numbers")
    func opcodes() {
        #expect(PickleOpcode.proto.rawValue == 0x80 && PickleOpcode.stop.rawValue == UInt8(ascii: "."))
        #expect(PickleOpcode.mark.rawValue == UInt8(ascii: "(") && PickleOpcode.reduce.rawValue == UInt8(ascii: "R"))
        #expect(PickleOpcode.stackGlobal.rawValue == 0x93 && PickleOpcode.memoize.rawValue == 0x94)
        #expect(PickleOpcode.binpersid.rawValue == UInt8(ascii: "Q") && PickleOpcode.shortBinunicode.rawValue == 0x8C)
    }

    @Test("dicts keep insertion order; ints, negative LONG1, floats, None and bools load")
    func values() throws {
        var program: [UInt8] = [op(.proto), 2, op(.emptyDict), op(.mark)]
        program += short("b") + [op(.binint1), 7]
        program += short("a") + [op(.long1), 1, 0xFF]  // -1
        program += short("c") + [op(.binfloat), 0x3F, 0xF8, 0, 0, 0, 0, 0, 0]  // 1.5, big-endian
        program += short("d") + [op(.noneValue)]
        program += [op(.binint1), 3, op(.newtrue)]  // integer key 3
        program += [op(.setitems), op(.stop)]
        guard case .dict(let dict) = try load(program) else { Issue.record("not a dict"); return }
        #expect(dict.keys == ["b", "a", "c", "d", "3"])
        guard case .int(7)? = dict.values["b"], case .int(-1)? = dict.values["a"], case .float(1.5)? = dict.values["c"],
              case .none? = dict.values["d"], case .bool(true)? = dict.values["3"] else {
            Issue.record("values \(dict.values)"); return
        }
    }

    @Test("memo put and get give the same container")
    func memo() throws {
        let program: [UInt8] = [op(.emptyList), op(.binput), 0, op(.binget), 0, op(.append), op(.stop)]
        var machine = Unpickler(data: program, file: "t") { _ in nil }
        guard case .list(let list) = try machine.load() else { Issue.record("not a list"); return }
        #expect(list.items.count == 1)
        machine.releaseContainers()  // the list holds itself; releasing breaks the cycle
        #expect(list.items.isEmpty)
    }

    @Test("a global outside the allow-list is refused before anything is applied",
          arguments: [("os", "system"), ("builtins", "eval"), ("subprocess", "Popen"), ("torch", "load")])
    func refusedGlobals(_ module: String, _ name: String) {
        let program = short(module) + short(name) + [op(.stackGlobal), op(.stop)]
        let error = #expect(throws: SheafError.self) { try load(program) }
        #expect(error?.code == .unsupported)
        #expect(error?.message.contains("\(module).\(name)") == true)
    }

    @Test("opcodes that build arbitrary objects, and unknown bytes, are refused",
          arguments: [PickleOpcode.newobj.rawValue, PickleOpcode.inst.rawValue, PickleOpcode.obj.rawValue, 0xFE])
    func refusedOpcodes(_ code: UInt8) {
        let error = #expect(throws: SheafError.self) { try load([op(.emptyTuple), code, op(.stop)]) }
        #expect(error?.code == .unsupported || error?.code == .invalidFile)
    }

    @Test("a tensor rebuild checks its view against the storage's size")
    func rebuild() throws {
        func program(size: UInt8) -> [UInt8] {
            var p = short("torch._utils") + short("_rebuild_tensor_v2") + [op(.stackGlobal)]
            p += [op(.mark)]
            // persistent id ('storage', torch.FloatStorage, '0', 'cpu', 4)
            p += [op(.mark)] + short("storage") + short("torch") + short("FloatStorage") + [op(.stackGlobal)]
            p += short("0") + short("cpu") + [op(.binint1), 4, op(.tuple), op(.binpersid)]
            p += [op(.binint1), 0, op(.binint1), size, op(.tuple1), op(.binint1), 1, op(.tuple1)]
            p += [op(.newfalse), op(.emptyDict), op(.tuple), op(.reduce), op(.stop)]
            return p
        }
        guard case .tensor(let view) = try load(program(size: 4), storages: ["0": 16]) else { Issue.record("not a tensor"); return }
        #expect(view.shape == [4] && view.strides == [1] && view.storage.dtype == .float32)
        let past = #expect(throws: SheafError.self) { try load(program(size: 5), storages: ["0": 16]) }
        #expect(past?.message.contains("reaches element 4") == true)
        let sized = #expect(throws: SheafError.self) { try load(program(size: 4), storages: ["0": 12]) }
        #expect(sized?.message.contains("claims 4") == true)
    }

    @Test("truncated programs and stack underflow are errors, not traps")
    func malformed() {
        #expect(throws: SheafError.self) { try load([op(.proto)]) }
        #expect(throws: SheafError.self) { try load([op(.stop)]) }
        #expect(throws: SheafError.self) { try load([op(.binunicode), 0xFF, 0xFF, 0xFF, 0x7F]) }
        #expect(throws: SheafError.self) { try load([op(.binget), 9, op(.stop)]) }
    }
}
