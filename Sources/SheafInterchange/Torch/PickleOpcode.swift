/// The pickle opcodes this reader knows, named as Python's `pickletools`
/// names them (`SHORT_BINUNICODE` is ``shortBinunicode``). Any byte not listed
/// here is refused.
enum PickleOpcode: UInt8 {
    case proto = 0x80  // PROTO
    case frame = 0x95  // FRAME
    case stop = 0x2E  // STOP
    case mark = 0x28  // MARK
    case emptyDict = 0x7D  // EMPTY_DICT
    case emptyList = 0x5D  // EMPTY_LIST
    case emptyTuple = 0x29  // EMPTY_TUPLE
    case noneValue = 0x4E  // NONE
    case newtrue = 0x88  // NEWTRUE
    case newfalse = 0x89  // NEWFALSE
    case binint1 = 0x4B  // BININT1
    case binint2 = 0x4D  // BININT2
    case binint = 0x4A  // BININT
    case long1 = 0x8A  // LONG1
    case long4 = 0x8B  // LONG4
    case binfloat = 0x47  // BINFLOAT
    case binunicode = 0x58  // BINUNICODE
    case shortBinunicode = 0x8C  // SHORT_BINUNICODE
    case binunicode8 = 0x8D  // BINUNICODE8
    case shortBinstring = 0x55  // SHORT_BINSTRING
    case binstring = 0x54  // BINSTRING
    case shortBinbytes = 0x43  // SHORT_BINBYTES
    case binbytes = 0x42  // BINBYTES
    case binput = 0x71  // BINPUT
    case longBinput = 0x72  // LONG_BINPUT
    case memoize = 0x94  // MEMOIZE
    case binget = 0x68  // BINGET
    case longBinget = 0x6A  // LONG_BINGET
    case pop = 0x30  // POP
    case popMark = 0x31  // POP_MARK
    case dup = 0x32  // DUP
    case tuple = 0x74  // TUPLE
    case tuple1 = 0x85  // TUPLE1
    case tuple2 = 0x86  // TUPLE2
    case tuple3 = 0x87  // TUPLE3
    case append = 0x61  // APPEND
    case appends = 0x65  // APPENDS
    case setitem = 0x73  // SETITEM
    case setitems = 0x75  // SETITEMS
    case global = 0x63  // GLOBAL
    case stackGlobal = 0x93  // STACK_GLOBAL
    case reduce = 0x52  // REDUCE
    case build = 0x62  // BUILD
    case binpersid = 0x51  // BINPERSID
    case newobj = 0x81  // NEWOBJ
    case newobjEx = 0x92  // NEWOBJ_EX
    case inst = 0x69  // INST
    case obj = 0x6F  // OBJ
    case persid = 0x50  // PERSID
}
