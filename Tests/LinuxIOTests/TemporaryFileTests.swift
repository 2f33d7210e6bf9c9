// FileDescriptor.createTemporaryFile(template:): mkostemp with O_CLOEXEC — a new file with a
// unique name, mode 0600 (less the umask), close-on-exec from the start; its errors typed.

import Glibc
import SystemPackage
import Testing

@testable import LinuxIO

@Suite("Temporary files, close-on-exec atomically (mkostemp)")
struct TemporaryFileTests {
  /// A fresh directory, removed with what is left in it by `remove()`.
  struct Scratch {
    let path: String
    init() throws {
      var template = Array("/tmp/linuxio-tmpfile-XXXXXX".utf8CString)
      guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
        throw Errno(rawValue: errno)
      }
      path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
    func entries() throws -> [FilePath] {
      let directory = try FileDescriptor.open(FilePath(path), .readOnly, options: [.directory, .closeOnExec])
      defer { try? directory.close() }
      return try directory.directoryEntryNames()
    }
    /// `file`'s name in this directory.
    func name(_ file: FilePath) -> FilePath { FilePath(String(file.string.dropFirst(path.count + 1))) }
    func remove() { _ = system("rm -rf '\(path)'") }
  }

  @Test("A new file: the template filled in, mode 0600 less the umask, FD_CLOEXEC set, readable and writable")
  func createsAFile() throws {
    let scratch = try Scratch()
    defer { scratch.remove() }
    let template = scratch.path + "/report.XXXXXX"
    let (file, path) = try FileDescriptor.createTemporaryFile(template: FilePath(template))
    defer { try? file.close() }
    #expect(isCloseOnExec(file))
    let name = path.string
    #expect(name.count == template.count && name.hasPrefix(scratch.path + "/report."))
    #expect(!name.hasSuffix("XXXXXX"), "the six X's are replaced: \(name)")
    #expect(try scratch.entries() == [scratch.name(path)])
    // The path names the descriptor's file: a regular file, empty, mode 0600 less the umask.
    var byPath = stat()
    try #require(stat(name, &byPath) == 0)
    let byDescriptor = try file.status().rawValue
    #expect(byPath.st_ino == byDescriptor.st_ino && byPath.st_dev == byDescriptor.st_dev)
    #expect(byPath.st_mode & S_IFMT == S_IFREG && byPath.st_size == 0)
    let umask = try #require(CurrentProcess.fileCreationMask())
    #expect(byPath.st_mode & 0o7777 == 0o600 & ~umask.rawValue)
    #expect(try file.writeAll([1, 2, 3]) == 3)
    #expect(try bytes(of: file, at: 0, count: 3) == [1, 2, 3])
    // Another call from the same template makes another file.
    let (second, secondPath) = try FileDescriptor.createTemporaryFile(template: FilePath(template))
    try second.close()
    #expect(secondPath != path)
    #expect(try Set(scratch.entries()).count == 2)
  }

  @Test("Errors: a missing directory, a file as a directory, a template without XXXXXX; nothing is created")
  func errors() throws {
    let scratch = try Scratch()
    defer { scratch.remove() }
    #expect(throws: Errno.noSuchFileOrDirectory) {
      try FileDescriptor.createTemporaryFile(template: FilePath(scratch.path + "/missing/t.XXXXXX"))
    }
    let (file, path) = try FileDescriptor.createTemporaryFile(template: FilePath(scratch.path + "/plain.XXXXXX"))
    try file.close()
    #expect(throws: Errno.notDirectory) {
      try FileDescriptor.createTemporaryFile(template: FilePath(path.string + "/t.XXXXXX"))
    }
    #expect(throws: Errno.invalidArgument) {
      try FileDescriptor.createTemporaryFile(template: FilePath(scratch.path + "/t.XXXXX"))
    }
    #expect(throws: Errno.invalidArgument) {
      try FileDescriptor.createTemporaryFile(template: FilePath(scratch.path + "/t.XXXXXX.tmp"))
    }
    #expect(try scratch.entries() == [scratch.name(path)])
  }

  #if DEBUG
    @Test("EINTR is retried from the original template; another errno is thrown as is")
    func interruptedIsRetried() throws {
      let scratch = try Scratch()
      defer { scratch.remove() }
      let template = FilePath(scratch.path + "/t.XXXXXX")
      let (created, calls) = try SyscallMocking.withForcedErrnos(["mkostemp": [.interrupted]]) {
        mock throws(Errno) in
        (try FileDescriptor.createTemporaryFile(template: template), mock.recordedCalls)
      }
      let (file, path) = created
      defer { try? file.close() }
      #expect(calls == ["mkostemp", "mkostemp"])
      #expect(isCloseOnExec(file) && path.string.hasPrefix(scratch.path + "/t.") && !path.string.hasSuffix("XXXXXX"))
      #expect(throws: Errno.readOnlyFileSystem) {
        try SyscallMocking.withForcedErrnos(["mkostemp": [.readOnlyFileSystem]]) { _ throws(Errno) in
          try FileDescriptor.createTemporaryFile(template: template)
        }
      }
    }
  #endif
}
