// The *at family on a directory descriptor and the metadata calls on an open file
// (FileDescriptor+At.swift, FileDescriptor+Metadata.swift): exact statuses, bytes, modes,
// times and errnos on a real directory.

import Glibc
import LinuxIO
import SystemPackage
import Testing

/// A fresh directory under the disk test directory, opened; removed with its contents.
private final class Scratch {
  let path: String
  let directory: FileDescriptor

  init() throws {
    path = uniquePath(in: diskDirectory)
    guard mkdir(path, 0o755) == 0 else { throw Errno(rawValue: errno) }
    directory = try FileDescriptor.open(FilePath(path), .readOnly, options: [.directory, .closeOnExec])
  }

  deinit {
    try? directory.close()
    if let names = try? FileDescriptor.open(FilePath(path), .readOnly, options: [.directory, .closeOnExec]) {
      for name in (try? names.directoryEntryNames()) ?? [] {
        if (try? names.removeEntry(name)) == nil { try? names.removeEntry(name, directory: true) }
      }
      try? names.close()
    }
    rmdir(path)
  }

  /// Creates `name` holding `bytes`; returns it open for reading and writing.
  func file(_ name: FilePath, _ bytes: [UInt8] = []) throws -> FileDescriptor {
    let fd = try directory.open(
      relative: name, .readWrite, options: [.create, .exclusiveCreate, .closeOnExec], permissions: .ownerReadWrite)
    if !bytes.isEmpty { _ = try fd.writeAll(toAbsoluteOffset: 0, bytes) }
    return fd
  }
}

@Suite("Entries of a directory (the *at family) and an open file's metadata")
struct DirectoryEntryTests {
  @Test("fstatat: a file's size and type; a symbolic link itself or followed; ENOENT")
  func status() throws {
    let scratch = try Scratch()
    try scratch.file("f", pattern(1234)).close()
    try scratch.directory.createSymbolicLink("l", to: Array("f".utf8))
    let file = try scratch.directory.status(of: "f", followingSymbolicLinks: false).rawValue
    #expect(file.st_size == 1234)
    #expect(file.st_mode & S_IFMT == S_IFREG)
    let link = try scratch.directory.status(of: "l", followingSymbolicLinks: false).rawValue
    #expect(link.st_mode & S_IFMT == S_IFLNK)
    #expect(link.st_size == 1)  // the target's length
    let followed = try scratch.directory.status(of: "l", followingSymbolicLinks: true).rawValue
    #expect(followed.st_ino == file.st_ino)
    #expect(throws: Errno.noSuchFileOrDirectory) {
      try scratch.directory.status(of: "missing", followingSymbolicLinks: false)
    }
    // The current working directory resolves an absolute path like stat(2).
    let absolute = try FileDescriptor.currentWorkingDirectory.status(
      of: FilePath(scratch.path + "/f"), followingSymbolicLinks: true)
    #expect(absolute.rawValue.st_ino == file.st_ino)
  }

  @Test("mkdirat with its mode, EEXIST; unlinkat of a file, EISDIR, then AT_REMOVEDIR")
  func directories() throws {
    let scratch = try Scratch()
    // The umask is read, not set: the process's mask is shared with every suite running
    // beside this one (a test that set it for a moment changed their files' modes).
    let mask = try #require(CurrentProcess.fileCreationMask()).rawValue
    try scratch.directory.createDirectory("d", permissions: [.ownerReadWriteExecute, .groupRead, .groupWrite])
    let made = try scratch.directory.status(of: "d", followingSymbolicLinks: false).rawValue
    #expect(made.st_mode & S_IFMT == S_IFDIR)
    #expect(made.st_mode & 0o7777 == 0o760 & ~mask)  // the requested mode less the umask
    #expect(throws: Errno.fileExists) { try scratch.directory.createDirectory("d", permissions: .ownerReadWriteExecute) }
    #expect(throws: Errno.isDirectory) { try scratch.directory.removeEntry("d") }
    try scratch.directory.removeEntry("d", directory: true)
    try scratch.file("f").close()
    try scratch.directory.removeEntry("f")
    #expect(throws: Errno.noSuchFileOrDirectory) { try scratch.directory.removeEntry("f") }
    #expect(try scratch.directory.directoryEntryNames().isEmpty)
  }

  @Test("linkat makes a second name of the same inode and replaces nothing; renameat replaces")
  func linksAndRenames() throws {
    let scratch = try Scratch()
    try scratch.file("a", [1, 2, 3]).close()
    try scratch.file("b", [9]).close()
    try scratch.directory.createHardLink(to: "a", named: "c", in: scratch.directory)
    let a = try scratch.directory.status(of: "a", followingSymbolicLinks: false).rawValue
    let c = try scratch.directory.status(of: "c", followingSymbolicLinks: false).rawValue
    #expect(a.st_ino == c.st_ino)
    #expect(c.st_nlink == 2)
    #expect(throws: Errno.fileExists) { try scratch.directory.createHardLink(to: "a", named: "b", in: scratch.directory) }
    try scratch.directory.rename("a", to: "b", in: scratch.directory)
    #expect(try scratch.directory.status(of: "b", followingSymbolicLinks: false).rawValue.st_ino == a.st_ino)
    #expect(throws: Errno.noSuchFileOrDirectory) { try scratch.directory.rename("a", to: "x", in: scratch.directory) }
    #expect(try scratch.directory.directoryEntryNames().sorted { $0.string < $1.string } == ["b", "c"])
  }

  @Test("symlinkat stores the bytes as given; readlinkat returns them, cut at its capacity; EINVAL on a file")
  func symbolicLinks() throws {
    let scratch = try Scratch()
    let target: [UInt8] = Array("../no/such/\u{00E9}t\u{00E9}".utf8) + [0xFF, 0x01]  // not UTF-8 at the end
    try scratch.directory.createSymbolicLink("l", to: target)
    #expect(try scratch.directory.symbolicLinkTarget("l", capacity: 4096) == target)
    #expect(try scratch.directory.symbolicLinkTarget("l", capacity: 3) == Array(target.prefix(3)))
    #expect(throws: Errno.fileExists) { try scratch.directory.createSymbolicLink("l", to: [0x78]) }
    try scratch.file("f").close()
    #expect(throws: Errno.invalidArgument) { try scratch.directory.symbolicLinkTarget("f", capacity: 16) }
  }

  @Test("mknodat makes a FIFO with its mode; EEXIST over an existing name")
  func nodes() throws {
    let scratch = try Scratch()
    let mask = try #require(CurrentProcess.fileCreationMask()).rawValue  // read, not set (above)
    try scratch.directory.createNode("p", mode: FileMode(rawValue: S_IFIFO | 0o640), device: DeviceID(rawValue: 0))
    let fifo = try scratch.directory.status(of: "p", followingSymbolicLinks: false).rawValue
    #expect(fifo.st_mode == S_IFIFO | (0o640 & ~mask))
    #expect(throws: Errno.fileExists) {
      try scratch.directory.createNode("p", mode: FileMode(rawValue: S_IFIFO | 0o600), device: DeviceID(rawValue: 0))
    }
  }

  @Test("fchmodat/fchmod, fchownat/fchown (nil keeps), utimensat/futimens to the nanosecond")
  func metadata() throws {
    let scratch = try Scratch()
    let fd = try scratch.file("f", [7])
    defer { try? fd.close() }
    try scratch.directory.setPermissions(of: "f", to: FilePermissions(rawValue: 0o4751))
    #expect(try fd.status().rawValue.st_mode & 0o7777 == 0o4751)
    try fd.setPermissions(FilePermissions(rawValue: 0o604))
    #expect(try scratch.directory.status(of: "f", followingSymbolicLinks: false).rawValue.st_mode & 0o7777 == 0o604)

    let before = try fd.status().rawValue
    try fd.setOwner(user: nil, group: nil)  // -1, -1: nothing changes, allowed to anyone
    try scratch.directory.setOwner(of: "f", user: nil, group: GroupID(rawValue: before.st_gid))
    let after = try fd.status().rawValue
    #expect(after.st_uid == before.st_uid && after.st_gid == before.st_gid)
    if getuid() == 0 {
      try fd.setOwner(user: UserID(rawValue: 12345), group: GroupID(rawValue: 23456))
      #expect(try fd.status().rawValue.st_uid == 12345)
      #expect(try fd.status().rawValue.st_gid == 23456)
    } else {
      #expect(throws: Errno.notPermitted) { try fd.setOwner(user: UserID(rawValue: 0), group: nil) }
    }

    var times = Stat(rawValue: before)
    times.rawValue.st_atim = timespec(tv_sec: 1_000_000_000, tv_nsec: 123_456_789)
    times.rawValue.st_mtim = timespec(tv_sec: 1_500_000_000, tv_nsec: 987_654_321)
    try fd.setTimes(from: times)
    var set = try fd.status().rawValue
    #expect(set.st_atim.tv_sec == 1_000_000_000 && set.st_atim.tv_nsec == 123_456_789)
    #expect(set.st_mtim.tv_sec == 1_500_000_000 && set.st_mtim.tv_nsec == 987_654_321)
    // By name, on a symbolic link itself: the link's times change, not its target's.
    try scratch.directory.createSymbolicLink("l", to: Array("f".utf8))
    times.rawValue.st_mtim = timespec(tv_sec: 42, tv_nsec: 1)
    try scratch.directory.setTimes(of: "l", from: times)
    let link = try scratch.directory.status(of: "l", followingSymbolicLinks: false).rawValue
    #expect(link.st_mtim.tv_sec == 42 && link.st_mtim.tv_nsec == 1)
    set = try fd.status().rawValue
    #expect(set.st_mtim.tv_sec == 1_500_000_000)
    #expect(throws: Errno.noSuchFileOrDirectory) { try scratch.directory.setTimes(of: "missing", from: times) }
  }

  @Test("ftruncate cuts and extends; lseek SEEK_CUR/SEEK_SET; EINVAL on a read-only descriptor")
  func sizeAndPosition() throws {
    let scratch = try Scratch()
    let fd = try scratch.file("f", pattern(10_000))
    defer { try? fd.close() }
    try fd.truncate(toSize: 100)
    #expect(try fd.status().rawValue.st_size == 100)
    try fd.truncate(toSize: 1 << 20)
    #expect(try fd.status().rawValue.st_size == 1 << 20)
    try fd.setPosition(77)
    #expect(try fd.position() == 77)
    let readOnly = try scratch.directory.open(relative: "f", .readOnly, options: .closeOnExec)
    defer { try? readOnly.close() }
    #expect(throws: Errno.invalidArgument) { try readOnly.truncate(toSize: 0) }
    let pipe = try Pipe()
    #expect(throws: Errno.illegalSeek) { try pipe.readEnd.position() }
  }

  @Test("fallocate grows the size (mode 0) or keeps it (KEEP_SIZE), allocating blocks; EBADF, ESPIPE, EINVAL")
  func allocate() throws {
    let scratch = try Scratch()
    let fd = try scratch.file("f", pattern(100))
    defer { try? fd.close() }
    let before = try fd.status().rawValue.st_blocks
    try fd.allocate(at: 0, length: 1 << 20)
    var status = try fd.status().rawValue
    #expect(status.st_size == 1 << 20)
    #expect(Int64(status.st_blocks - before) * 512 >= (1 << 20) - 4096)
    let grown = status.st_blocks
    try fd.allocate(at: 1 << 20, length: 1 << 20, keepSize: true)
    status = try fd.status().rawValue
    #expect(status.st_size == 1 << 20)
    #expect(Int64(status.st_blocks - grown) * 512 >= 1 << 20)
    var head = [UInt8](repeating: 0xEE, count: 200)
    #expect(try head.withUnsafeMutableBytes { try fd.read(fromAbsoluteOffset: 0, into: $0) } == 200)
    #expect(Array(head[0..<100]) == pattern(100))
    #expect(head[100...].allSatisfy { $0 == 0 })
    #expect(throws: Errno.invalidArgument) { try fd.allocate(at: 0, length: 0) }
    let readOnly = try scratch.directory.open(relative: "f", .readOnly, options: .closeOnExec)
    defer { try? readOnly.close() }
    #expect(throws: Errno.badFileDescriptor) { try readOnly.allocate(at: 0, length: 1 << 22) }
    #expect(try fd.status().rawValue.st_size == 1 << 20)
    let pipe = try Pipe()
    #expect(throws: Errno.illegalSeek) { try pipe.writeEnd.allocate(at: 0, length: 1) }
  }

  @Test("SEEK_DATA/SEEK_HOLE find a sparse file's data segment; ENXIO past the data")
  func dataAndHoles() throws {
    let scratch = try Scratch()
    let fd = try scratch.file("sparse")
    defer { try? fd.close() }
    let block: Int64 = 1 << 20
    _ = try fd.writeAll(toAbsoluteOffset: 4 * block, pattern(Int(block)))
    try fd.truncate(toSize: 8 * block)
    // Every filesystem may report more data than was written (a filesystem without holes
    // reports all of it), never less: the written block is inside the first segment found.
    let data = try fd.seek(toData: 0)
    #expect(data <= 4 * block)
    let hole = try fd.seek(toHole: data)
    #expect(hole >= 5 * block && hole <= 8 * block)
    #expect(try fd.position() == hole)
    #expect(throws: Errno.noSuchAddressOrDevice) { try fd.seek(toData: 8 * block) }
    #expect(throws: Errno.noSuchAddressOrDevice) { try fd.seek(toHole: 8 * block + 1) }
    let fileSystem = try fd.fileSystemType()
    if fileSystem == 0xEF53 || fileSystem == 0x0102_1994 || fileSystem == 0x5846_5342 {  // ext4, tmpfs, xfs
      #expect(data == 4 * block)
      #expect(hole == 5 * block)
    }
  }

  @Test("directory listing: every name as raw bytes, no . or .., twice from the same descriptor")
  func listing() throws {
    let scratch = try Scratch()
    let odd = FilePath(platformString: [CChar(bitPattern: 0xE9), 0x61, 0])  // not UTF-8
    for name in ["a", "b c", ".hidden"] { try scratch.file(FilePath(name)).close() }
    try scratch.file(odd).close()
    try scratch.directory.createDirectory("sub", permissions: .ownerReadWriteExecute)
    let expected = Set(["a", "b c", ".hidden", "sub"].map { FilePath($0) } + [odd])
    #expect(Set(try scratch.directory.directoryEntryNames()) == expected)
    #expect(Set(try scratch.directory.directoryEntryNames()) == expected)
    let file = try scratch.directory.open(relative: "a", .readOnly, options: .closeOnExec)
    defer { try? file.close() }
    #expect(throws: Errno.notDirectory) { try file.directoryEntryNames() }
  }

  @Test("faccessat W_OK: a writable file passes, a missing one is ENOENT")
  func writable() throws {
    let scratch = try Scratch()
    try scratch.file("f").close()
    try scratch.directory.checkWritable("f")
    #expect(throws: Errno.noSuchFileOrDirectory) { try scratch.directory.checkWritable("missing") }
  }

  @Test("fsync and fdatasync on a file and a directory; EINVAL on a pipe")
  func synchronize() throws {
    let scratch = try Scratch()
    let fd = try scratch.file("f", [1])
    defer { try? fd.close() }
    try fd.synchronize()
    try fd.synchronize(dataOnly: true)
    try scratch.directory.synchronize()
    let pipe = try Pipe()
    #expect(throws: Errno.invalidArgument) { try pipe.writeEnd.synchronize() }
  }
}
