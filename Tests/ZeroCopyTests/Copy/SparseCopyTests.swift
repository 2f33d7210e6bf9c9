// Holes: a sparse file copies as its data segments (SEEK_DATA/SEEK_HOLE) with its length
// set by ftruncate, in Transfer.copy (every strategy), zc copy and every tree engine;
// --sparse=always turns runs of zeros into holes; --sparse=never fills them.

import Glibc
import SystemPackage
import Testing
import ZeroCopy

private typealias F = TreeFixtures
private typealias S = CopySupport

@Suite("Sparse copies")
struct SparseCopyTests {
  static let threeGiB: Int64 = 3 << 30

  /// A 3 GiB file holding 8 KiB of data: 4 KiB at 1 GiB, 4 KiB in its last block.
  static func makeThreeGiB(_ path: [UInt8]) throws {
    try S.makeSparse(
      path, size: threeGiB,
      data: [(1 << 30, TransferFixtures.bytes(4096)), (threeGiB - 4096, TransferFixtures.bytes(4096, from: 4096))])
  }

  /// Allocated bytes (st_blocks × 512).
  static func allocated(_ path: [UInt8]) -> Int64 { Int64(S.lstatus(path)?.st_blocks ?? -1) * 512 }

  static let cases: [(String, String)] = TransferStrategies.builtIn.map(\.name).flatMap { [($0, "/tmp"), ($0, "/dev/shm")] }

  @Test(
    "a 3 GiB file with 8 KiB of data: Transfer.copy allocates no more than the data's blocks, bytes identical (every strategy, ext4 and tmpfs)",
    arguments: cases)
  func threeGiB(_ name: String, _ parent: String) throws {
    let strategy = try #require(TransferStrategies.named(name))
    let scratch = try F.Scratch(in: parent)
    let src = scratch.sub("src"), dst = scratch.sub("dst")
    try Self.makeThreeGiB(src)
    let result: Result<TransferReport, ZeroCopyError> = Result { () throws(ZeroCopyError) in
      try Transfer.copyBlocking(
        from: F.filePath(src), to: F.filePath(dst), strategy: strategy,
        options: CopyOptions(transfer: TransferOptions(allowFallback: false)))
    }
    if case .failure(let error) = result, [.notSupported, .improperLink, .invalidArgument].contains(error.errno) {
      // The strategy does not do file → file here (sendZeroCopy; reflink outside XFS/Btrfs).
      print("sparse 3 GiB, \(name) on \(parent): skipped, \(error.errno.symbolicName): \(error.message ?? "")")
      return
    }
    let report = try result.get()
    #expect(report.bytes == 8192, "\(name): \(report)")
    #expect(report.notes.contains { $0.hasPrefix("sparse: 8192 bytes of data in 2 segments") }, "\(report.notes)")
    #expect(S.lstatus(dst).map { Int64($0.st_size) } == Self.threeGiB)
    #expect(
      Self.allocated(dst) <= Self.allocated(src),
      "\(name) on \(parent): \(Self.allocated(dst)) bytes allocated, the source has \(Self.allocated(src))")
    #expect(S.dataSegments(dst).reduce(0) { $0 + $1.count } <= 8192 + 8192, "\(name): data segments \(S.dataSegments(dst))")
    S.expectSameSparseContent(src, dst, "\(name) on \(parent)")
  }

  @Test(
    "zc copy of the 3 GiB file: the data's blocks only; --report says so; the JSON notes too",
    .enabled(if: TransferFixtures.zcExecutable != nil))
  func zcCopy() throws {
    let scratch = try F.Scratch()
    let src = scratch.sub("src")
    try Self.makeThreeGiB(src)
    let run = try S.zc([S.b("copy"), src, scratch.sub("dst"), S.b("--report")])
    #expect(run.status == 0, "\(run)")
    #expect(run.standardOutput.contains("sparse: 8192 bytes of data in 2 segments copied"), "\(run.standardOutput)")
    #expect(Self.allocated(scratch.sub("dst")) <= Self.allocated(src))
    S.expectSameSparseContent(src, scratch.sub("dst"), "zc copy")
    let json = try S.zc([S.b("copy"), src, scratch.sub("dst2"), S.b("--json")])
    #expect(json.standardOutput.contains("\"bytes\":8192"), "\(json.standardOutput)")
    #expect(json.standardOutput.contains("\"notes\":[\"sparse: 8192 bytes of data"))
  }

  @Test(
    "--sparse=never writes the holes as zeros; --sparse=always makes holes of runs of zeros",
    .enabled(if: TransferFixtures.zcExecutable != nil))
  func sparseModes() throws {
    let scratch = try F.Scratch()
    // 4 MiB with 8 KiB of data.
    try S.makeSparse(scratch.sub("holes"), size: 4 << 20, data: [(1 << 20, TransferFixtures.bytes(8192))])
    let never = try S.zc([S.b("copy"), S.b("--sparse"), S.b("never"), scratch.sub("holes"), scratch.sub("filled")])
    #expect(never.status == 0, "\(never)")
    #expect(Self.allocated(scratch.sub("filled")) >= 4 << 20, "never: \(Self.allocated(scratch.sub("filled"))) bytes allocated")
    S.expectSameSparseContent(scratch.sub("holes"), scratch.sub("filled"), "--sparse=never")
    // A file without holes whose first MiB is written zeros: always turns them into a hole.
    var bytes = [UInt8](repeating: 0, count: 1 << 20)
    bytes += TransferFixtures.bytes(4096)
    bytes += [UInt8](repeating: 0, count: 64 << 10)
    try F.write(scratch.sub("zeros"), bytes)
    #expect(Self.allocated(scratch.sub("zeros")) >= Int64(bytes.count))
    for strategy in ["automatic", "sendfile"] {
      let out = scratch.sub("always-\(strategy)")
      let always = try S.zc([
        S.b("copy"), S.b("--sparse=always"), S.b("--strategy"), S.b(strategy), S.b("--report"), scratch.sub("zeros"), out,
      ])
      #expect(always.status == 0, "\(always)")
      #expect(Self.allocated(out) <= 8192, "always (\(strategy)): \(Self.allocated(out)) bytes allocated")
      TransferFixtures.expectSame(F.read(out), bytes, "always (\(strategy)): the bytes")
      #expect(always.standardOutput.hasPrefix("readWrite: 4096 bytes"), "\(always.standardOutput)")
      if strategy == "sendfile" {
        #expect(always.standardOutput.contains("fell back from sendfile: --sparse=always"), "\(always.standardOutput)")
      }
    }
    let refused = try S.zc([
      S.b("copy"), S.b("--sparse=always"), S.b("--strategy"), S.b("sendfile"), S.b("--no-fallback"), scratch.sub("zeros"),
      scratch.sub("x"),
    ])
    #expect(refused.status == 1)
    #expect(refused.standardError.contains("EOPNOTSUPP"), "\(refused)")
  }

  @Test(
    "a tree copy keeps holes (every engine, auto and always) and fills them with never",
    arguments: [TreeCopy.Engine.ioUring, .threads, .sequential])
  func treeCopy(_ engine: TreeCopy.Engine) async throws {
    let scratch = try F.Scratch()
    let src = scratch.sub("src")
    let expected = try F.buildSource(src)
    try Self.makeThreeGiB(src + S.b("/a/sparse"))
    try S.makeSparse(src + S.b("/small-sparse"), size: 1 << 20, data: [(4096, TransferFixtures.bytes(100))])
    // never: a tree without the 3 GiB file (it would be written whole).
    try F.mkdirp(scratch.sub("small"))
    try S.makeSparse(scratch.sub("small/small-sparse"), size: 1 << 20, data: [(4096, TransferFixtures.bytes(100))])
    let filled = scratch.sub("filled")
    let never = try await TreeCopy.copy(
      from: F.filePath(scratch.sub("small")), to: F.filePath(filled), options: TreeCopy.Options(engine: engine, sparse: .never))
    #expect(never.errors.isEmpty)
    #expect(Self.allocated(filled + S.b("/small-sparse")) >= 1 << 20, "\(engine) never")
    S.expectSameSparseContent(scratch.sub("small/small-sparse"), filled + S.b("/small-sparse"), "\(engine) never")
    for mode in [SparseMode.auto, .always] {
      let dst = scratch.sub("dst-\(mode)")
      let report = try await TreeCopy.copy(
        from: F.filePath(src), to: F.filePath(dst), options: TreeCopy.Options(engine: engine, sparse: mode))
      #expect(report.errors.isEmpty, "\(report.errors)")
      S.expectSameSparseContent(src + S.b("/small-sparse"), dst + S.b("/small-sparse"), "\(engine) \(mode)")
      #expect(Self.allocated(dst + S.b("/a/sparse")) <= Self.allocated(src + S.b("/a/sparse")), "\(engine) \(mode)")
      #expect(Self.allocated(dst + S.b("/small-sparse")) <= 4096, "\(engine) \(mode)")
      S.expectSameSparseContent(src + S.b("/a/sparse"), dst + S.b("/a/sparse"), "\(engine) \(mode)")
      // (Not F.snapshot: it would read the 3 GiB file into memory.)
      TransferFixtures.expectSame(
        F.read(dst + S.b("/a/b/big")), F.read(src + S.b("/a/b/big")), "\(engine) \(mode): a file without holes")
      #expect(report.files == expected.files + 2, "\(engine) \(mode)")
    }
  }

  @Test("a sparse source into a FIFO: the holes are written as zeros and the report says so")
  func intoAFIFO() async throws {
    let scratch = try F.Scratch()
    try S.makeSparse(scratch.sub("src"), size: 1 << 20, data: [(8192, TransferFixtures.bytes(4096))])
    #expect(mkfifo(F.cPath(scratch.sub("fifo")), 0o600) == 0)
    let reader = S.FIFOReader(scratch.sub("fifo"))
    let report = try await Transfer.copy(from: F.filePath(scratch.sub("src")), to: F.filePath(scratch.sub("fifo")))
    let received = reader.finish()
    #expect(report.bytes == 1 << 20)
    #expect(report.notes.contains("holes written as zeros: the destination is not a regular file"), "\(report.notes)")
    TransferFixtures.expectSame(received, F.read(scratch.sub("src")), "what the FIFO's reader got")
  }

  @Test("a descriptor source is copied from its position, holes kept, and its position advanced to the end")
  func descriptorSource() async throws {
    let scratch = try F.Scratch()
    try S.makeSparse(
      scratch.sub("src"), size: 16 << 20,
      data: [(1 << 20, TransferFixtures.bytes(4096)), (12 << 20, TransferFixtures.bytes(4096))])
    let fd = try TransferFixtures.openFile(String(decoding: scratch.sub("src"), as: UTF8.self), O_RDONLY)
    defer { try? fd.close() }
    #expect(lseek(fd.rawValue, 2 << 20, SEEK_SET) == 2 << 20)
    let report = try await Transfer.copy(from: fd, named: "piece", to: F.filePath(scratch.path))
    #expect(report.bytes == 4096)
    #expect(lseek(fd.rawValue, 0, SEEK_CUR) == 16 << 20)
    let copy = scratch.sub("piece")
    #expect(S.lstatus(copy)?.st_size == 14 << 20)
    TransferFixtures.expectSame(S.read(copy, at: 10 << 20, count: 4096), TransferFixtures.bytes(4096), "the data at 10 MiB")
    #expect(Self.allocated(copy) <= 8192)
    // Without a name, a directory destination is refused.
    #expect(lseek(fd.rawValue, 0, SEEK_SET) == 0)
    let error = await #expect(throws: ZeroCopyError.self) { try await Transfer.copy(from: fd, to: F.filePath(scratch.path)) }
    #expect(error?.errno == .isDirectory)
  }
}
