// Extended attributes, FICLONE and FIEMAP on the filesystems of this machine (ext4 and
// tmpfs: extended attributes yes, clones no, extent maps on ext4 only). Clones on XFS are
// tested in ZeroCopyTests (a loop-mounted XFS, as root with mkfs.xfs).

import Glibc
import SystemPackage
import Testing

@testable import LinuxIO

@Suite("File attributes: xattr, FICLONE, FIEMAP")
struct FileAttributesTests {
  static func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

  /// The errno `body` threw, or nil.
  static func failure<T>(_ body: () throws(Errno) -> T) -> Errno? {
    do {
      _ = try body()
      return nil
    } catch {
      return error
    }
  }

  @Test(
    "user.* attributes round trip by descriptor, on ext4 and tmpfs; a missing one is ENODATA",
    arguments: [diskDirectory, memoryDirectory])
  func roundTrip(_ directory: String) throws {
    let file = try temporaryFile([1, 2, 3], in: directory)
    defer { try? file.close() }
    #expect(try file.extendedAttributeNames().filter { $0.starts(with: Self.bytes("user.")) }.isEmpty)
    let value: [UInt8] = [0, 1, 2, 0xFF] + Array(repeating: 7, count: 3000)
    if Self.failure({ () throws(Errno) in try file.setExtendedAttribute(named: Self.bytes("user.zc.one"), to: value) })
      == .notSupported
    {
      try Test.cancel("\(directory) has no user extended attributes here")
    }
    try file.setExtendedAttribute(named: Self.bytes("user.zc.empty"), to: [])
    let names = try file.extendedAttributeNames().filter { $0.starts(with: Self.bytes("user.")) }
    #expect(Set(names) == [Self.bytes("user.zc.one"), Self.bytes("user.zc.empty")])
    #expect(try file.extendedAttribute(named: Self.bytes("user.zc.one")) == value)
    #expect(try file.extendedAttribute(named: Self.bytes("user.zc.empty")) == [])
    #expect(Self.failure { () throws(Errno) in try file.extendedAttribute(named: Self.bytes("user.zc.missing")) } == Errno.noData)
    try file.removeExtendedAttribute(named: Self.bytes("user.zc.one"))
    #expect(Self.failure { () throws(Errno) in try file.extendedAttribute(named: Self.bytes("user.zc.one")) } == Errno.noData)
  }

  @Test("by path without following a symbolic link: the link's own attributes, or EPERM for user.*")
  func pathForms() throws {
    let target = uniquePath(in: diskDirectory), link = uniquePath(in: diskDirectory)
    let fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    try #require(fd >= 0)
    close(fd)
    defer { unlink(target); unlink(link) }
    #expect(symlink(target, link) == 0)
    try ExtendedAttributes.set(named: Self.bytes("user.zc"), to: [5], atPath: FilePath(target))
    #expect(try ExtendedAttributes.value(named: Self.bytes("user.zc"), atPath: FilePath(target)) == [5])
    // The link itself has no user.zc: the call did not follow it.
    #expect(
      Self.failure { () throws(Errno) in try ExtendedAttributes.value(named: Self.bytes("user.zc"), atPath: FilePath(link)) }
        == Errno.noData)
    #expect(
      Self.failure { () throws(Errno) in try ExtendedAttributes.set(named: Self.bytes("user.zc"), to: [1], atPath: FilePath(link))
      } == Errno.notPermitted)
    if geteuid() == 0 {
      try ExtendedAttributes.set(named: Self.bytes("trusted.zc"), to: [9], atPath: FilePath(link))
      #expect(try ExtendedAttributes.names(atPath: FilePath(link)).contains(Self.bytes("trusted.zc")))
      #expect(try ExtendedAttributes.value(named: Self.bytes("trusted.zc"), atPath: FilePath(link)) == [9])
    }
    #expect(
      Self.failure { () throws(Errno) in try ExtendedAttributes.names(atPath: FilePath(target + ".missing")) }
        == Errno.noSuchFileOrDirectory)
    // Following the link (an O_PATH descriptor's /proc/self/fd/N name is one): the target's.
    #expect(try ExtendedAttributes.value(named: Self.bytes("user.zc"), atPath: FilePath(link), following: true) == [5])
    try ExtendedAttributes.set(named: Self.bytes("user.zc2"), to: [6], atPath: FilePath(link), following: true)
    #expect(try ExtendedAttributes.names(atPath: FilePath(link), following: true).contains(Self.bytes("user.zc2")))
    try ExtendedAttributes.remove(named: Self.bytes("user.zc2"), atPath: FilePath(link), following: true)
    #expect(
      Self.failure { () throws(Errno) in try ExtendedAttributes.value(named: Self.bytes("user.zc2"), atPath: FilePath(target)) }
        == Errno.noData)
    #expect(
      Self.failure { () throws(Errno) in try ExtendedAttributes.remove(named: Self.bytes("user.zc2"), atPath: FilePath(target)) }
        == Errno.noData)
  }

  @Test("FICLONE on ext4 and tmpfs: EOPNOTSUPP (or EXDEV across them), the destination untouched")
  func cloneRefused() throws {
    let source = try temporaryFile(pattern(10_000), in: diskDirectory)
    defer { try? source.close() }
    for (directory, expected) in [(diskDirectory, Errno.notSupported), (memoryDirectory, Errno.improperLink)] {
      let destination = try temporaryFile([], in: directory)
      var refusal: Errno?
      do { try destination.cloneContents(from: source) } catch { refusal = error }
      #expect(refusal == expected, "\(directory)")
      var st = stat()
      #expect(fstat(destination.rawValue, &st) == 0 && st.st_size == 0)
      try destination.close()
    }
  }

  @Test("FIEMAP: a written ext4 file has extents, none shared; tmpfs has no extent map")
  func extentMap() throws {
    let file = try temporaryFile(pattern(3 << 20), in: diskDirectory)
    defer { try? file.close() }
    #expect(fsync(file.rawValue) == 0)
    let sharing = try file.extentSharing()
    #expect(sharing.extents >= 1, "\(sharing)")
    #expect(sharing.shared == 0 && !sharing.allShared && sharing.complete, "\(sharing)")
    let empty = try temporaryFile([], in: diskDirectory)
    defer { try? empty.close() }
    let none = try empty.extentSharing()
    #expect(none.extents == 0 && none.complete, "\(none)")
    let memory = try temporaryFile([1], in: memoryDirectory)
    defer { try? memory.close() }
    #expect(Self.failure { () throws(Errno) in try memory.extentSharing() } == Errno.notSupported)
  }
}
