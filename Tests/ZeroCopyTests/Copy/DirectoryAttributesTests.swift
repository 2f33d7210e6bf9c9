// CopyPolicy.applyDirectoryAttributes: the attributes of a directory made for a copy (what
// zc copy --parents gives the directories it creates), with the tree copy's rules.

import Glibc
import LinuxIO
import SystemPackage
import Testing
import ZeroCopy

@Suite("Directory attributes (--parents' directories)")
struct DirectoryAttributesTests {
  /// A scratch directory with `src` (mode 0o751, times, a user attribute, an access ACL
  /// when the filesystem takes them) and `dst` (made with mode 0o700).
  static func layout() throws -> (root: String, acl: [UInt8]?, xattr: Bool) {
    var template = Array("/tmp/zc-dirattr-XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { throw Errno(rawValue: errno) }
    let root = String(cString: made)
    #expect(mkdir(root + "/src", 0o751) == 0 && chmod(root + "/src", 0o751) == 0)
    #expect(mkdir(root + "/dst", 0o700) == 0)
    let source = try FileDescriptor.open(FilePath(root + "/src"), .readOnly, options: .directory)
    defer { try? source.close() }
    let xattr = (try? source.setExtendedAttribute(named: Array("user.zc".utf8), to: [4, 2])) != nil
    // user 1000 r-x, mask r-x (the xattr's binary form, as setfacl writes it).
    let acl: [UInt8] = [
      2, 0, 0, 0, 1, 0, 7, 0, 255, 255, 255, 255, 2, 0, 5, 0, 232, 3, 0, 0, 4, 0, 5, 0, 255, 255, 255, 255,
      16, 0, 5, 0, 255, 255, 255, 255, 32, 0, 1, 0, 255, 255, 255, 255,
    ]
    let acls = (try? source.setExtendedAttribute(named: Array("system.posix_acl_access".utf8), to: acl)) != nil
    let times = [timespec(tv_sec: 1_000_000_000, tv_nsec: 5), timespec(tv_sec: 1_100_000_000, tv_nsec: 7)]
    #expect(futimens(source.rawValue, times) == 0)
    return (root, acls ? acl : nil, xattr)
  }

  static func attribute(_ path: String, _ name: String) -> [UInt8]? {
    try? ExtendedAttributes.value(named: Array(name.utf8), atPath: FilePath(path))
  }

  static func status(_ path: String) -> stat {
    var s = stat()
    #expect(stat(path, &s) == 0)
    return s
  }

  @Test("everything preserved: mode, times, access ACL and extended attributes")
  func all() throws {
    let (root, acl, xattr) = try Self.layout()
    defer { _ = system("rm -rf '\(root)'") }
    let notes = try CopyPolicy(preserve: .all).applyDirectoryAttributes(
      from: FilePath(root + "/src"), to: FilePath(root + "/dst"))
    #expect(notes.isEmpty, "\(notes)")
    let s = Self.status(root + "/dst")
    #expect(s.st_mode & 0o7777 == Self.status(root + "/src").st_mode & 0o7777)
    #expect(s.st_mtim.tv_sec == 1_100_000_000 && s.st_mtim.tv_nsec == 7)
    #expect(s.st_atim.tv_sec == 1_000_000_000 && s.st_atim.tv_nsec == 5)
    if let acl { #expect(Self.attribute(root + "/dst", "system.posix_acl_access") == acl) }
    if xattr { #expect(Self.attribute(root + "/dst", "user.zc") == [4, 2]) }
  }

  @Test(
    "mode and times only (what zc copy --parents -a asks, as cp's re_protect): the ACL comes with the mode, no other attribute")
  func modeAndTimes() throws {
    let (root, acl, _) = try Self.layout()
    defer { _ = system("rm -rf '\(root)'") }
    _ = try CopyPolicy(preserve: [.mode, .timestamps]).applyDirectoryAttributes(
      from: FilePath(root + "/src"), to: FilePath(root + "/dst"))
    #expect(Self.status(root + "/dst").st_mtim.tv_sec == 1_100_000_000)
    if let acl { #expect(Self.attribute(root + "/dst", "system.posix_acl_access") == acl) }
    #expect(Self.attribute(root + "/dst", "user.zc") == nil)
  }

  @Test("nothing preserved: the given permissions, the times and attributes left")
  func nothingPreserved() throws {
    let (root, _, _) = try Self.layout()
    defer { _ = system("rm -rf '\(root)'") }
    _ = try CopyPolicy().applyDirectoryAttributes(
      from: FilePath(root + "/src"), to: FilePath(root + "/dst"), modeWithoutPreserve: FilePermissions(rawValue: 0o750))
    let s = Self.status(root + "/dst")
    #expect(s.st_mode & 0o7777 == 0o750)
    #expect(s.st_mtim.tv_sec != 1_100_000_000)
    #expect(Self.attribute(root + "/dst", "system.posix_acl_access") == nil)
  }

  @Test("fileCreationMask is the process's umask (that it is read without changing it: the exit test below)")
  func fileCreationMask() throws {
    // The process's mask from /proc/self/status (the fixture fails the test if it cannot).
    #expect(CopyPolicy.fileCreationMask.rawValue == TransferFixtures.umaskValue)
  }

  @Test("fileCreationMask in a process whose umask is 0o027 (an exit test): 0o027, the umask unchanged")
  func fileCreationMaskInAChild() async {
    await #expect(processExitsWith: .success) {
      umask(0o027)
      guard CopyPolicy.fileCreationMask.rawValue == 0o027 else { exit(1) }
      exit(umask(0o022) == 0o027 ? 0 : 2)
    }
  }

  @Test("a missing directory: ZeroCopyError naming open and ENOENT")
  func missing() throws {
    let (root, _, _) = try Self.layout()
    defer { _ = system("rm -rf '\(root)'") }
    let error = #expect(throws: ZeroCopyError.self) {
      try CopyPolicy(preserve: .all).applyDirectoryAttributes(from: FilePath(root + "/src"), to: FilePath(root + "/none"))
    }
    #expect(error?.syscall == "open" && error?.errno == .noSuchFileOrDirectory && error?.operation == .copy)
  }
}
