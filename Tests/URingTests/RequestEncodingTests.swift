// The SQE a factory builds, byte for byte: typed flags reach the kernel's fields, and the
// owned and raw-pointer factory families encode the same operation identically. Reads the
// request's internal SQE on purpose (`@testable`); no ring is needed.

import CLibURing
import Glibc
import LinuxIO
import SystemPackage
import Testing

@testable import URing  // Request.sqe is internal: the encoding is what these tests check

/// The 64 bytes of a request's SQE.
private func bytes(_ request: borrowing IOURing.Request) -> [UInt8] {
  withUnsafeBytes(of: request.sqe) { Array($0) }
}

@Suite("Request encoding")
struct RequestEncodingTests {
  // SPLICE_F_* values from linux/splice.h: MOVE 1, NONBLOCK 2, MORE 4.
  let source = FileDescriptor(rawValue: 11)
  let destination = FileDescriptor(rawValue: 12)

  @Test("splice: SpliceFlags become splice_flags; offsets, descriptors and length in their fields")
  func spliceFlags() {
    let r = IOURing.Request.splice(
      from: source, sourceOffset: 5, to: destination, count: 10, flags: [.move, .more], userData: 3)
    #expect(r.opcode == .splice)
    #expect(r.sqe.splice_flags == 1 | 4)  // SPLICE_F_MOVE | SPLICE_F_MORE
    #expect(r.sqe.splice_fd_in == 11)
    #expect(r.sqe.fd == 12)
    #expect(r.sqe.splice_off_in == 5)
    #expect(r.sqe.off == UInt64.max)  // -1: the destination's file position
    #expect(r.sqe.len == 10)
    #expect(r.sqe.user_data == 3)
    #expect(r.options == [])

    let plain = IOURing.Request.splice(from: source, to: destination, count: 10)
    #expect(plain.sqe.splice_flags == 0)
    let nonBlocking = IOURing.Request.splice(from: source, to: destination, count: 10, flags: .nonBlocking)
    #expect(nonBlocking.sqe.splice_flags == 2)
  }

  @Test("splice and tee from registered slots: SPLICE_F_FD_IN_FIXED and IOSQE_FIXED_FILE added to the typed flags")
  func registeredEnds() {
    let input = IOURing.RegisteredFile(index: 2)
    let output = IOURing.RegisteredFile(index: 5)
    let s = IOURing.Request.splice(from: input, to: output, count: 64, flags: .nonBlocking)
    #expect(s.sqe.splice_flags == 2 | SPLICE_F_FD_IN_FIXED)
    #expect(s.sqe.splice_fd_in == 2)
    #expect(s.sqe.fd == 5)
    #expect(s.options == .fixedFile)

    let t = IOURing.Request.tee(from: input, to: destination, count: 64, flags: .nonBlocking)
    #expect(t.opcode == .tee)
    #expect(t.sqe.splice_flags == 2 | SPLICE_F_FD_IN_FIXED)
    #expect(t.sqe.splice_fd_in == 2)
    #expect(t.sqe.fd == 12)
    #expect(t.options == [])  // the destination is a plain descriptor
  }

  @Test("IOURingFile.ioUringOperand: a descriptor is plain, a slot is registered")
  func operands() {
    #expect(source.ioUringOperand == IOURing.FileOperand(value: 11, isRegistered: false))
    #expect(IOURing.RegisteredFile(index: 7).ioUringOperand == IOURing.FileOperand(value: 7, isRegistered: true))
  }

  @Test("default arguments written as Swift values are liburing's: statx's mask, accept's flags")
  func defaults() {
    let st = IOURing.Request.statx("/", into: IOURing.StatxBuffer())
    #expect(st.sqe.len == UInt32(STATX_BASIC_STATS))  // statx's mask travels in sqe->len
    #expect(IOURing.Request.closeOnExec == Int32(SOCK_CLOEXEC.rawValue))
    let a = IOURing.Request.accept(source)
    #expect(a.sqe.accept_flags == UInt32(SOCK_CLOEXEC.rawValue))
  }

  // The owned factories (Request+Owned.swift) and the raw-pointer ones
  // (Request+Factories.swift) must encode the same operation the same way: same opcode,
  // descriptor, address, length, offset, flags. Only the owned request carries storage.

  @Test("read and unsafeRead encode the same SQE (whole buffer, a range, registered file)")
  func readFamilies() throws {
    let buffer = try AlignedBuffer(count: 8192)
    let base = buffer.unsafeBaseAddress
    let slot = IOURing.RegisteredFile(index: 4)
    let owned = IOURing.Request.read(slot, into: buffer, range: 100..<612, at: 4096, userData: 9)
    let raw = IOURing.Request.unsafeRead(
      slot, into: UnsafeMutableRawBufferPointer(start: base + 100, count: 512), at: 4096, userData: 9)
    #expect(bytes(owned) == bytes(raw))
    #expect(owned.sqe.addr == UInt64(UInt(bitPattern: base + 100)))
    #expect(owned.storage != nil && raw.storage == nil)

    let whole = IOURing.Request.read(source, into: try AlignedBuffer(count: 4096), userData: 1)
    #expect(whole.sqe.len == 4096)
    #expect(whole.sqe.off == UInt64.max)  // nil offset: the file position
  }

  @Test("write, send, recv, sendZeroCopy: owned and unsafe encode the same SQE")
  func otherFamilies() throws {
    var buffer = try AlignedBuffer(count: 4096)
    var base = UnsafeRawPointer(buffer.unsafeBaseAddress)
    let w = IOURing.Request.write(destination, from: buffer, range: 8..<72, at: 0, userData: 2)
    let uw = IOURing.Request.unsafeWrite(
      destination, from: UnsafeRawBufferPointer(start: base + 8, count: 64), at: 0, userData: 2)
    #expect(bytes(w) == bytes(uw))

    buffer = try AlignedBuffer(count: 4096)
    base = UnsafeRawPointer(buffer.unsafeBaseAddress)
    let s = IOURing.Request.send(destination, from: buffer, flags: Int32(MSG_MORE), userData: 4)
    let us = IOURing.Request.unsafeSend(
      destination, from: UnsafeRawBufferPointer(start: base, count: 4096), flags: Int32(MSG_MORE), userData: 4)
    #expect(bytes(s) == bytes(us))

    buffer = try AlignedBuffer(count: 4096)
    let mutableBase = buffer.unsafeBaseAddress
    let r = IOURing.Request.recv(source, into: buffer, range: 0..<100, flags: Int32(MSG_WAITALL), userData: 5)
    let ur = IOURing.Request.unsafeRecv(
      source, into: UnsafeMutableRawBufferPointer(start: mutableBase, count: 100), flags: Int32(MSG_WAITALL),
      userData: 5)
    #expect(bytes(r) == bytes(ur))

    for reportUsage in [true, false] {
      buffer = try AlignedBuffer(count: 4096)
      base = UnsafeRawPointer(buffer.unsafeBaseAddress)
      let z = IOURing.Request.sendZeroCopy(destination, from: buffer, reportUsage: reportUsage, userData: 6)
      let uz = IOURing.Request.unsafeSendZeroCopy(
        destination, from: UnsafeRawBufferPointer(start: base, count: 4096), reportUsage: reportUsage, userData: 6)
      #expect(bytes(z) == bytes(uz))
      #expect(z.opcode == .sendZeroCopy)
    }
  }
}
