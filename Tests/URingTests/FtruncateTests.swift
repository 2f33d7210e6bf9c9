// IORING_OP_FTRUNCATE (kernel 6.9): the factory liburing 2.3 lacks.

import Glibc
import SystemPackage
import Testing
import URing

@Suite("URing ftruncate", .requires(.ftruncate))
struct FtruncateTests {
  @Test func shrinksAndExtendsToTheExactLength() throws {
    var ring = try makeRing()
    let file = try TempFile(contents: [UInt8]("0123456789"))
    let shrink = try ring.perform(.ftruncate(file.fd, length: 4, userData: 7))
    #expect(shrink.userData == 7)
    #expect(shrink.result == .success(0))
    #expect(try file.bytes() == [UInt8]("0123"))
    let grow = try ring.perform(.ftruncate(file.fd, length: 6, userData: 8))
    #expect(grow.result == .success(0))
    #expect(try file.bytes() == [UInt8]("0123") + [0, 0])
  }

  @Test func readOnlyDescriptorIsRefusedWithEINVAL() throws {
    var ring = try makeRing()
    let file = try TempFile(contents: [UInt8]("abc"))
    let readOnly = try FileDescriptor.open(FilePath(file.path), .readOnly)
    defer { try? readOnly.close() }
    let c = try ring.perform(.ftruncate(readOnly, length: 0))
    // ftruncate(2) on a descriptor not open for writing is EINVAL (or EBADF); the file is untouched.
    #expect(c.result == .failure(.invalidArgument) || c.result == .failure(.badFileDescriptor))
    #expect(try file.bytes() == [UInt8]("abc"))
  }

  @Test func factoryPreparesTheFtruncateOpcodeWithTheLengthInOff() {
    let r = IOURing.Request.ftruncate(FileDescriptor(rawValue: 5), length: 1234, userData: 9)
    #expect(r.opcode == .ftruncate)
    #expect(r.userData == 9)
  }
}
