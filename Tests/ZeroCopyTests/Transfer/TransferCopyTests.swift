// Copying by path like cp: permissions, same-file refusal before truncation, atomic
// replace, fsync, directories.

import Glibc
import SystemPackage
import Testing
import ZeroCopy

extension TransferTests {
  @Suite("Transfer.copy by path")
  struct CopyByPath {
    @Test("a new destination gets the source's permissions (less the umask); an existing one keeps its own")
    func permissions() async throws {
      let disk = try TransferFixtures.Directory()
      defer { disk.remove() }
      try TransferFixtures.writeFile(disk.file("a"), TransferFixtures.bytes(4096))
      #expect(chmod(disk.file("a"), 0o640) == 0)
      _ = try await Transfer.copy(from: FilePath(disk.file("a")), to: FilePath(disk.file("new")))
      #expect(TransferFixtures.status(disk.file("new"))?.mode == 0o640 & ~TransferFixtures.umaskValue)

      try TransferFixtures.writeFile(disk.file("existing"), TransferFixtures.bytes(100_000), mode: 0o600)
      #expect(chmod(disk.file("existing"), 0o600) == 0)
      let report = try await Transfer.copy(from: FilePath(disk.file("a")), to: FilePath(disk.file("existing")))
      #expect(report.bytes == 4096)
      #expect(TransferFixtures.status(disk.file("existing"))?.mode == 0o600)
      TransferFixtures.expectSame(
        try TransferFixtures.readFile(disk.file("existing")), TransferFixtures.bytes(4096), "truncated and copied")
    }

    @Test("copying a file onto itself or its hard link is refused, the source intact", arguments: [false, true])
    func sameFile(_ atomic: Bool) async throws {
      let disk = try TransferFixtures.Directory()
      defer { disk.remove() }
      let content = TransferFixtures.bytes(70_000)
      try TransferFixtures.writeFile(disk.file("a"), content)
      #expect(link(disk.file("a"), disk.file("hardlink")) == 0)
      #expect(symlink(disk.file("a"), disk.file("symlink")) == 0)
      for target in ["a", "hardlink", "symlink"] {
        let error = await #expect(throws: ZeroCopyError.self, "\(target)") {
          try await Transfer.copy(
            from: FilePath(disk.file("a")), to: FilePath(disk.file(target)), options: CopyOptions(atomic: atomic))
        }
        #expect(error?.errno == .invalidArgument)
        #expect(error?.message?.contains("same file") == true)
        #expect(error?.bytesTransferred == 0)
        TransferFixtures.expectSame(
          try TransferFixtures.readFile(disk.file("a")), content, "the source after copying onto \(target)")
      }
      #expect(Set(TransferFixtures.entries(of: disk.path)) == ["a", "hardlink", "symlink"])
    }

    @Test("atomic replace: the new content under the old name, a new inode, no temporary file left")
    func atomicReplace() async throws {
      let disk = try TransferFixtures.Directory()
      defer { disk.remove() }
      try TransferFixtures.writeFile(disk.file("a"), TransferFixtures.bytes(200_000))
      try TransferFixtures.writeFile(disk.file("b"), [1, 2, 3])
      let before = try #require(TransferFixtures.status(disk.file("b")))
      let report = try await Transfer.copy(
        from: FilePath(disk.file("a")), to: FilePath(disk.file("b")), options: CopyOptions(atomic: true, fsync: true))
      #expect(report.bytes == 200_000)
      let after = try #require(TransferFixtures.status(disk.file("b")))
      #expect(after.inode != before.inode)
      TransferFixtures.expectSame(try TransferFixtures.readFile(disk.file("b")), TransferFixtures.bytes(200_000), "replaced")
      #expect(Set(TransferFixtures.entries(of: disk.path)) == ["a", "b"])
    }

    @Test("fsync, a directory destination, and a relative atomic destination")
    func fsyncAndDirectory() async throws {
      let disk = try TransferFixtures.Directory()
      defer { disk.remove() }
      try TransferFixtures.writeFile(disk.file("a"), TransferFixtures.bytes(12_345))
      #expect(mkdir(disk.file("sub"), 0o755) == 0)
      defer { _ = unlink(disk.file("sub/a")); _ = rmdir(disk.file("sub")) }
      let report = try await Transfer.copy(
        from: FilePath(disk.file("a")), to: FilePath(disk.file("sub")), options: CopyOptions(fsync: true))
      #expect(report.bytes == 12_345)
      TransferFixtures.expectSame(
        try TransferFixtures.readFile(disk.file("sub/a")), TransferFixtures.bytes(12_345), "into a directory")
    }

    @Test("a missing source: ENOENT from open, nothing created")
    func missingSource() async throws {
      let disk = try TransferFixtures.Directory()
      defer { disk.remove() }
      let error = await #expect(throws: ZeroCopyError.self) {
        try await Transfer.copy(from: FilePath(disk.file("missing")), to: FilePath(disk.file("b")))
      }
      #expect(error?.errno == .noSuchFileOrDirectory)
      #expect(error?.syscall == "open")
      #expect(error?.operation == .copy)
      #expect(TransferFixtures.entries(of: disk.path).isEmpty)
    }

    @Test("copyBlocking runs on the calling thread with the same result")
    func blockingCopy() throws {
      let disk = try TransferFixtures.Directory()
      defer { disk.remove() }
      try TransferFixtures.writeFile(disk.file("a"), TransferFixtures.bytes(1 << 20))
      let report = try Transfer.copyBlocking(from: FilePath(disk.file("a")), to: FilePath(disk.file("b")), strategy: .splice)
      #expect(report.strategy == "splice")
      TransferFixtures.expectSame(try TransferFixtures.readFile(disk.file("b")), TransferFixtures.bytes(1 << 20), "copy")
    }
  }
}
