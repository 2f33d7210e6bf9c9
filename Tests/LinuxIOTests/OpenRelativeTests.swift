// Opening relative to a directory: openat, and openat2 with each RESOLVE_* rule, on a real
// tree with symbolic links that stay inside, lead out, or are absolute.

import Glibc
import LinuxIO
import SystemPackage
import Testing

/// root/a ("A"), root/sub/b ("B"), root/inside -> sub/b, root/up -> ../outside,
/// root/absolute -> /sub/b, and root/../outside ("OUT") next to the root.
private final class Tree {
  let base: String
  let root: FileDescriptor

  init() throws {
    var template = Array("/tmp/linuxio-open-XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { throw Errno(rawValue: errno) }
    base = String(cString: made)
    for (path, text) in [("root/a", "A"), ("root/sub/b", "B"), ("outside", "OUT")] {
      let full = base + "/" + path
      _ = mkdir(String(full[..<full.lastIndex(of: "/")!]), 0o755)
      let fd = try FileDescriptor.open(
        FilePath(full), .writeOnly, options: [.create, .exclusiveCreate, .closeOnExec], permissions: .ownerReadWrite)
      _ = try fd.writeAll(Array(text.utf8))
      try fd.close()
    }
    symlink("sub/b", base + "/root/inside")
    symlink("../outside", base + "/root/up")
    symlink("/sub/b", base + "/root/absolute")
    root = try FileDescriptor.open(FilePath(base + "/root"), .readOnly, options: [.path, .directory, .closeOnExec])
  }

  deinit {
    try? root.close()
    for path in ["root/a", "root/sub/b", "root/inside", "root/up", "root/absolute", "root/new", "outside"] {
      unlink(base + "/" + path)
    }
    rmdir(base + "/root/sub")
    rmdir(base + "/root")
    rmdir(base)
  }

  /// The text of a descriptor opened for reading; closes it.
  static func text(_ fd: FileDescriptor) throws -> String {
    defer { try? fd.close() }
    return String(decoding: try readExactly(fd, 16), as: UTF8.self)
  }
}

@Suite("Opening relative to a directory (openat, openat2)")
struct OpenRelativeTests {
  @Test("O_PATH and O_NOCTTY have this architecture's values")
  func optionValues() {
    #expect(FileDescriptor.OpenOptions.path.rawValue == 0o10_000_000)
    #expect(FileDescriptor.OpenOptions.noControllingTerminal.rawValue == O_NOCTTY)
    #expect(FileDescriptor.ResolveOptions.beneath.rawValue == 0x08)
    #expect(FileDescriptor.ResolveOptions.noMagicLinks.rawValue == 0x02)
  }

  @Test("openat: relative paths, symbolic links followed, O_NOFOLLOW refuses a final one")
  func openat() throws {
    let tree = try Tree()
    #expect(try Tree.text(tree.root.open(relative: "a", .readOnly)) == "A")
    #expect(try Tree.text(tree.root.open(relative: "sub/b", .readOnly, options: .closeOnExec)) == "B")
    #expect(try Tree.text(tree.root.open(relative: "inside", .readOnly)) == "B")
    #expect(try Tree.text(tree.root.open(relative: "up", .readOnly)) == "OUT", "openat has no RESOLVE_ rules")
    #expect(throws: Errno.tooManySymbolicLinkLevels) { try tree.root.open(relative: "inside", .readOnly, options: .noFollow) }
    #expect(throws: Errno.noSuchFileOrDirectory) { try tree.root.open(relative: "missing", .readOnly) }
    #expect(throws: Errno.notDirectory) { try tree.root.open(relative: "a/x", .readOnly) }
    #expect(throws: Errno.badFileDescriptor) { try FileDescriptor(rawValue: -1).open(relative: "a", .readOnly) }
  }

  @Test("O_PATH: names the file without opening it for reading; with O_NOFOLLOW, the link itself")
  func pathDescriptor() throws {
    let tree = try Tree()
    let named = try tree.root.open(relative: "a", .readOnly, options: [.path, .closeOnExec])
    defer { try? named.close() }
    var byte: UInt8 = 0
    #expect(throws: Errno.badFileDescriptor) { try withUnsafeMutableBytes(of: &byte) { try named.read(into: $0) } }
    var st = stat()
    #expect(fstat(named.rawValue, &st) == 0 && st.st_size == 1)
    let link = try tree.root.open(relative: "inside", .readOnly, options: [.path, .noFollow, .closeOnExec])
    defer { try? link.close() }
    #expect(fstat(link.rawValue, &st) == 0 && st.st_mode & S_IFMT == S_IFLNK)
  }

  @Test("openat2 RESOLVE_BENEATH: inside is allowed, '..', absolute paths and links out are EXDEV")
  func beneath() throws {
    let tree = try Tree()
    let rules: FileDescriptor.ResolveOptions = [.beneath, .noMagicLinks]
    #expect(try Tree.text(tree.root.open(relative: "sub/b", .readOnly, resolve: rules)) == "B")
    #expect(try Tree.text(tree.root.open(relative: "inside", .readOnly, resolve: rules)) == "B")
    #expect(try Tree.text(tree.root.open(relative: "sub/../a", .readOnly, resolve: rules)) == "A")
    for escape in ["..", "../outside", "sub/../../outside", "up", "absolute", "/etc/passwd"] {
      #expect(throws: Errno.improperLink, "\(escape)") { try tree.root.open(relative: escape, .readOnly, resolve: rules) }
    }
    // The pointer form, as a server passes request bytes.
    #expect(throws: Errno.improperLink) {
      try "../outside".withCString { try tree.root.open(relative: $0, .readOnly, resolve: .beneath) }
    }
  }

  @Test("openat2 RESOLVE_IN_ROOT: '..' stops at the root, absolute links start from it")
  func inRoot() throws {
    let tree = try Tree()
    #expect(try Tree.text(tree.root.open(relative: "../../a", .readOnly, resolve: .inRoot)) == "A")
    #expect(try Tree.text(tree.root.open(relative: "absolute", .readOnly, resolve: .inRoot)) == "B")
    #expect(throws: Errno.noSuchFileOrDirectory) { try tree.root.open(relative: "up", .readOnly, resolve: .inRoot) }
    #expect(throws: Errno.invalidArgument) { try tree.root.open(relative: "a", .readOnly, resolve: [.inRoot, .beneath]) }
  }

  @Test("openat2 RESOLVE_NO_SYMLINKS, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_XDEV")
  func linkAndMountRules() throws {
    let tree = try Tree()
    #expect(throws: Errno.tooManySymbolicLinkLevels) {
      try tree.root.open(relative: "inside", .readOnly, resolve: .noSymbolicLinks)
    }
    #expect(try Tree.text(tree.root.open(relative: "sub/b", .readOnly, resolve: .noSymbolicLinks)) == "B")

    let slash = try FileDescriptor.open("/", .readOnly, options: [.path, .directory, .closeOnExec])
    defer { try? slash.close() }
    // /proc/self/exe is a magic link; /proc is another mount than /.
    let exe = try slash.open(relative: "proc/self/exe", .readOnly, options: [.path, .closeOnExec], resolve: [])
    try exe.close()
    #expect(throws: Errno.tooManySymbolicLinkLevels) {
      try slash.open(relative: "proc/self/exe", .readOnly, options: .path, resolve: .noMagicLinks)
    }
    #expect(throws: Errno.improperLink) {
      try slash.open(relative: "proc/self", .readOnly, options: .path, resolve: .noMountCrossing)
    }
  }

  @Test("openat2: creating with permissions; a mode without O_CREAT and unknown bits are EINVAL; EBADF")
  func createAndInvalid() throws {
    let tree = try Tree()
    let created = try tree.root.open(
      relative: "new", .writeOnly, options: [.create, .exclusiveCreate, .closeOnExec], permissions: .ownerReadWrite,
      resolve: .beneath)
    var st = stat()
    #expect(fstat(created.rawValue, &st) == 0 && st.st_mode & 0o777 == 0o600 && st.st_mode & S_IFMT == S_IFREG)
    try created.close()
    #expect(throws: Errno.fileExists) {
      try tree.root.open(
        relative: "new", .writeOnly, options: [.create, .exclusiveCreate], permissions: .ownerReadWrite, resolve: [])
    }
    #expect(throws: Errno.invalidArgument) {
      try tree.root.open(relative: "a", .readOnly, permissions: .ownerReadWrite, resolve: .beneath)
    }
    #expect(throws: Errno.invalidArgument) {
      try tree.root.open(relative: "a", .readOnly, resolve: FileDescriptor.ResolveOptions(rawValue: 1 << 40))
    }
    #expect(throws: Errno.badFileDescriptor) {
      try FileDescriptor(rawValue: -1).open(relative: "a", .readOnly, resolve: .beneath)
    }
  }
}
