// Reflinks for real: an XFS filesystem (reflink=1) on a loop device, when mkfs.xfs is
// installed (Debian's xfsprogs) and the process may mount (root).

import Glibc
import LinuxIO
import SystemPackage
import Testing
import ZeroCopy

extension TransferFixtures {
  /// `mkfs.xfs`, if installed.
  static let mkfsXFS: String? = ["/usr/sbin/mkfs.xfs", "/sbin/mkfs.xfs"].first { access($0, X_OK) == 0 }
}

extension TransferTests {
  @Suite(
    "Transfer reflink on XFS",
    .enabled(if: TransferFixtures.mkfsXFS != nil && geteuid() == 0, "needs mkfs.xfs (xfsprogs) and root to mount a loop device"))
  struct Reflink {
    /// FIEMAP's view of a file's extents.
    static func sharing(_ path: String) throws -> ExtentSharing {
      let fd = try FileDescriptor.open(FilePath(path), .readOnly)
      defer { try? fd.close() }
      return try fd.extentSharing()
    }

    @Test("reflink and copy_file_range share extents; a misaligned range falls back with EINVAL")
    func reflinkOnXFS() async throws {
      let work = try TransferFixtures.Directory()
      defer { work.remove() }
      let image = work.file("xfs.img")
      let imageFile = try TransferFixtures.openFile(image, O_RDWR | O_CREAT | O_TRUNC)
      #expect(ftruncate(imageFile.rawValue, 512 << 20) == 0)  // sparse: XFS wants >= 300 MiB
      try imageFile.close()
      let made = try TransferFixtures.run(try #require(TransferFixtures.mkfsXFS), ["-q", "-f", "-m", "reflink=1", image])
      try #require(made.status == 0, "mkfs.xfs: \(made.standardError)")
      let mountPoint = work.file("mnt")
      #expect(mkdir(mountPoint, 0o755) == 0)
      let mounted = try TransferFixtures.run("/bin/mount", ["-o", "loop", image, mountPoint])
      if mounted.status != 0 {
        _ = rmdir(mountPoint)
        try Test.cancel("cannot mount a loop device here: \(mounted.standardError)")
      }
      defer {
        _ = try? TransferFixtures.run("/bin/umount", [mountPoint])
        _ = rmdir(mountPoint)
      }
      let content = TransferFixtures.bytes((3 << 20) + 5)
      let source = mountPoint + "/a"
      try TransferFixtures.writeFile(source, content)

      let cloned = try await Transfer.copy(from: FilePath(source), to: FilePath(mountPoint + "/b"), strategy: .reflink)
      #expect(cloned.strategy == "reflink", "\(cloned)")
      #expect(cloned.fallbacks.isEmpty)
      #expect(cloned.bytes == Int64(content.count))
      #expect(cloned.syscalls == 1)
      TransferFixtures.expectSame(try TransferFixtures.readFile(mountPoint + "/b"), content, "reflinked copy")

      #expect(cloned.dataPath?.kind == .cloned, "\(cloned)")

      // --reflink=auto (the default, as cp 9): the automatic copy clones (one FICLONE) and says so.
      let automatic = try await Transfer.copy(from: FilePath(source), to: FilePath(mountPoint + "/c"))
      #expect(automatic.strategy == "reflink", "\(automatic)")
      #expect(automatic.dataPath?.kind == .cloned, "\(automatic)")
      TransferFixtures.expectSame(try TransferFixtures.readFile(mountPoint + "/c"), content, "cloned copy")
      #expect(try Self.sharing(mountPoint + "/c").allShared)

      // copy_file_range asked for: XFS shares the extents too, and FIEMAP says so.
      let kernel = try await Transfer.copy(from: FilePath(source), to: FilePath(mountPoint + "/e"), strategy: .copyFileRange)
      #expect(kernel.strategy == "copyFileRange", "\(kernel)")
      #expect(kernel.dataPath?.kind == .cloned, "\(kernel)")
      #expect(kernel.dataPath?.reason?.contains("FIEMAP") == true, "\(kernel)")

      // --reflink=never: no FICLONE and no copy_file_range; the bytes are copied, nothing shared.
      var never = CopyOptions()
      never.policy.reflink = .never
      let copied = try await Transfer.copy(from: FilePath(source), to: FilePath(mountPoint + "/f"), options: never)
      #expect(copied.strategy != "reflink" && copied.strategy != "copyFileRange", "\(copied)")
      #expect(copied.dataPath?.kind == .kernel || copied.dataPath?.kind == .userSpace, "\(copied)")
      #expect(copied.dataPath?.reason?.contains("--reflink=never") == true, "\(copied)")
      TransferFixtures.expectSame(try TransferFixtures.readFile(mountPoint + "/f"), content, "--reflink=never copy")
      #expect(try Self.sharing(mountPoint + "/f").shared == 0)

      // --reflink=always across filesystems: refused (EXDEV), nothing copied.
      var always = CopyOptions()
      always.policy.reflink = .always
      await #expect(throws: ZeroCopyError.self) {
        _ = try await Transfer.copy(from: FilePath(source), to: FilePath(work.file("g")), options: always)
      }
      var left = stat()
      #expect(stat(work.file("g"), &left) != 0 || left.st_size == 0, "nothing copied byte by byte")

      // Block-aligned range: cloned. Misaligned: EINVAL, and copy_file_range takes over.
      let input = try TransferFixtures.openFile(source, O_RDONLY)
      defer { try? input.close() }
      let output = try TransferFixtures.openFile(mountPoint + "/d", O_RDWR | O_CREAT | O_TRUNC)
      defer { try? output.close() }
      let aligned = try await Transfer.run(
        TransferRequest(from: input, offset: 4096, count: 8192, to: output, at: 0), strategy: .reflink)
      #expect(aligned.strategy == "reflink", "\(aligned)")
      let misaligned = try await Transfer.run(
        TransferRequest(from: input, offset: 7, count: 8192, to: output, at: 8192), strategy: .reflink)
      #expect(misaligned.strategy == "copyFileRange", "\(misaligned)")
      #expect(misaligned.fallbacks.first?.errno == .invalidArgument, "\(misaligned)")
      let written = try TransferFixtures.readFile(mountPoint + "/d")
      TransferFixtures.expectSame(Array(written[0..<8192]), Array(content[4096..<12288]), "aligned clone")
      TransferFixtures.expectSame(Array(written[8192..<16384]), Array(content[7..<8199]), "misaligned copy")
    }
  }
}
