// PreparedTransfer: endpoints inspected once and used for many transfers; the facts it
// holds are the ones the transfer decides with; a file's size is read again for
// "until the end"; pseudo files are still recognised now that a file on a block device
// skips the fstatfs.

import Glibc
import LinuxIO
import SystemPackage
import Testing
import ZeroCopy

extension TransferTests {
  @Suite("Prepared transfers")
  struct Prepared {
    @Test("many ranges through one prepared pair deliver exactly the bytes one-shot transfers do")
    func manyRanges() throws {
      let directory = try TransferFixtures.Directory()
      defer { directory.remove() }
      let content = TransferFixtures.bytes(300_000)
      try TransferFixtures.writeFile(directory.file("a"), content)
      let source = try TransferFixtures.openFile(directory.file("a"), O_RDONLY)
      defer { try? source.close() }
      let target = try TransferFixtures.openFile(directory.file("b"), O_RDWR | O_CREAT | O_TRUNC)
      defer { try? target.close() }
      let prepared = try PreparedTransfer(from: source, to: target)
      #expect(prepared.endpoints.source.kind == .file)
      #expect(prepared.endpoints.source.size == 300_000)
      // Backwards, in pieces of 4 KiB (the last one shorter), every offset explicit.
      var reports: [TransferReport] = []
      for start in stride(from: 0, to: 300_000, by: 4096).reversed() {
        let count = min(4096, 300_000 - start)
        reports.append(try prepared.runBlocking(offset: Int64(start), count: Int64(count), at: Int64(start)))
      }
      #expect(reports.count == 74)
      TransferFixtures.expectSame(try TransferFixtures.readFile(directory.file("b")), content, "destination")
      #expect(reports.allSatisfy { $0.requestedStrategy == "automatic" && $0.fallbacks.isEmpty })
      // The choice a one-shot transfer makes for these endpoints and size (copy_file_range,
      // same filesystem), except where the filesystem copies in the kernel: a prepared
      // pair pays the fstatfs that finds it out once, and copies 4 KiB with read/write.
      let oneShot = try Transfer.runBlocking(TransferRequest(from: source, offset: 0, count: 4096, to: target, at: 0))
      #expect(oneShot.strategy == "copyFileRange", "\(oneShot)")
      let kernelCopy = try TransferPlan.fileSystemCopiesInKernel(target)
      #expect(reports[1].strategy == (kernelCopy ? "readWrite" : oneShot.strategy), "\(reports[1])")
      // File positions untouched (explicit offsets).
      #expect(lseek(source.rawValue, 0, SEEK_CUR) == 0)
    }

    @Test("the prepared facts decide: a destination prepared as O_APPEND gets read/write, without a new inspection")
    func preparedFactsAreUsed() throws {
      let directory = try TransferFixtures.Directory()
      defer { directory.remove() }
      // 64 KiB: above smallCopyMax and at most copyFileRangeMax (copy_file_range on any
      // filesystem), whatever profile the machine has... unless a calibration moved them.
      let size = 64 << 10
      let parameters = AutomaticStrategy().parameters
      try #require(parameters.smallCopyMax < size && parameters.copyFileRangeMax >= size, "\(parameters)")
      try TransferFixtures.writeFile(directory.file("a"), TransferFixtures.bytes(size))
      let source = try TransferFixtures.openFile(directory.file("a"), O_RDONLY)
      defer { try? source.close() }
      let target = try TransferFixtures.openFile(directory.file("b"), O_RDWR | O_CREAT | O_TRUNC)
      defer { try? target.close() }
      let inspected = try PreparedTransfer(from: source, to: target).endpoints
      // One-shot and prepared as inspected: same filesystem, 64 KiB → copy_file_range.
      let oneShot = try Transfer.runBlocking(TransferRequest(from: source, offset: 0, count: Int64(size), to: target, at: 0))
      #expect(oneShot.strategy == "copyFileRange", "\(oneShot)")
      let asInspected = try PreparedTransfer(inspected).runBlocking(offset: 0, count: Int64(size), at: 0)
      #expect(asInspected.strategy == "copyFileRange", "\(asInspected)")
      // The same descriptors described as append-only: the table's O_APPEND row.
      let d = inspected.destination
      let appendOnly = TransferEndpoint(
        descriptor: d.descriptor, kind: d.kind, size: d.size, device: d.device, inode: d.inode,
        permissions: d.permissions, isAppendOnly: true, isNonBlocking: d.isNonBlocking, path: d.path)
      let prepared = PreparedTransfer(EndpointPair(source: inspected.source, destination: appendOnly))
      let report = try prepared.runBlocking(offset: 0, count: Int64(size), at: 0)
      #expect(report.strategy == "readWrite", "\(report)")
      #expect(report.bytes == Int64(size))
      TransferFixtures.expectSame(
        try TransferFixtures.readFile(directory.file("b")), TransferFixtures.bytes(size), "destination")
    }

    @Test("a 4 KiB copy_file_range is one system call (no read-ahead probes below the threshold); 1 MiB on ext4 probes")
    func smallCopyFileRangeMakesNoProbes() throws {
      let directory = try TransferFixtures.Directory()
      defer { directory.remove() }
      try TransferFixtures.writeFile(directory.file("a"), TransferFixtures.bytes(1 << 20))
      let source = try TransferFixtures.openFile(directory.file("a"), O_RDONLY)
      defer { try? source.close() }
      let target = try TransferFixtures.openFile(directory.file("b"), O_RDWR | O_CREAT | O_TRUNC)
      defer { try? target.close() }
      let prepared = try PreparedTransfer(from: source, to: target)
      let options = TransferOptions(allowFallback: false)
      let small = try prepared.runBlocking(offset: 0, count: 4096, at: 0, strategy: .copyFileRange, options: options)
      #expect(small.bytes == 4096)
      #expect(small.syscalls == 1, "\(small)")
      // Above the threshold, on ext4 (which copies through the page cache), the source is
      // checked (and read) ahead: the probes are counted.
      if (try? source.fileSystemType()) == 0xEF53 {
        let large = try prepared.runBlocking(offset: 0, count: 1 << 20, at: 0, strategy: .copyFileRange, options: options)
        #expect(large.bytes == 1 << 20)
        #expect(large.syscalls > 1, "\(large)")
      }
    }

    @Test("without a count, the source's size is read again: a file that grew since preparing is sent whole")
    func untilTheEndReadsTheSizeAgain() throws {
      let directory = try TransferFixtures.Directory()
      defer { directory.remove() }
      try TransferFixtures.writeFile(directory.file("a"), TransferFixtures.bytes(1000))
      let source = try TransferFixtures.openFile(directory.file("a"), O_RDWR)
      defer { try? source.close() }
      let target = try TransferFixtures.openFile(directory.file("b"), O_RDWR | O_CREAT | O_TRUNC)
      defer { try? target.close() }
      let prepared = try PreparedTransfer(from: source, to: target)
      #expect(prepared.endpoints.source.size == 1000)
      let grown = TransferFixtures.bytes(50_000)
      try TransferFixtures.writeFile(directory.file("a"), grown)
      let report = try prepared.runBlocking(offset: 0, at: 0)
      #expect(report.bytes == 50_000, "\(report)")
      #expect(!report.sourceEndedEarly)
      TransferFixtures.expectSame(try TransferFixtures.readFile(directory.file("b")), grown, "destination")
      // With file positions: the source's position advances by what was sent.
      #expect(lseek(source.rawValue, 10, SEEK_SET) == 10)
      let tail = try TransferFixtures.openFile(directory.file("c"), O_RDWR | O_CREAT | O_TRUNC)
      defer { try? tail.close() }
      let report2 = try PreparedTransfer(from: source, to: tail).runBlocking()
      #expect(report2.bytes == 49_990)
      #expect(lseek(source.rawValue, 0, SEEK_CUR) == 50_000)
      #expect(lseek(tail.rawValue, 0, SEEK_CUR) == 49_990)
    }

    @Test("pseudo files are still recognised (procfs; sysfs where mounted); files of 0 and 4,096 bytes elsewhere are files")
    func pseudoFilesAreStillRecognised() throws {
      let status = try TransferFixtures.openFile("/proc/self/status", O_RDONLY)
      defer { try? status.close() }
      let proc = try TransferEndpoint.inspect(status)
      #expect(proc.kind == .pseudoFile)
      #expect(proc.size == nil)
      // A sysfs file reporting one page (present on most machines; checked when it is).
      let sysfsPath = "/sys/kernel/mm/transparent_hugepage/enabled"
      var st = stat()
      if stat(sysfsPath, &st) == 0 && st.st_size == 4096 {
        let sys = try TransferFixtures.openFile(sysfsPath, O_RDONLY)
        defer { try? sys.close() }
        #expect(try TransferEndpoint.inspect(sys).kind == .pseudoFile)
      }
      // Real files of exactly 0 and 4,096 bytes, on the temporary directory's filesystem
      // (ext4 on a block device here: no fstatfs) and on tmpfs (major 0: fstatfs says tmpfs).
      for parent in ["/tmp", "/dev/shm"] {
        let directory = try TransferFixtures.Directory(in: parent)
        defer { directory.remove() }
        for size in [0, 4096] {
          let name = directory.file("f\(size)")
          try TransferFixtures.writeFile(name, TransferFixtures.bytes(size))
          let fd = try TransferFixtures.openFile(name, O_RDONLY)
          defer { try? fd.close() }
          let endpoint = try TransferEndpoint.inspect(fd)
          #expect(endpoint.kind == .file, "\(name)")
          #expect(endpoint.size == Int64(size), "\(name)")
        }
      }
    }

    @Test("the async run moves the bytes on a worker thread; a cancelled task gets ECANCELED with 0 bytes")
    func asyncRunAndCancellation() async throws {
      let directory = try TransferFixtures.Directory()
      defer { directory.remove() }
      try TransferFixtures.writeFile(directory.file("a"), TransferFixtures.bytes(100_000))
      let source = try TransferFixtures.openFile(directory.file("a"), O_RDONLY)
      defer { try? source.close() }
      let target = try TransferFixtures.openFile(directory.file("b"), O_RDWR | O_CREAT | O_TRUNC)
      defer { try? target.close() }
      let prepared = try PreparedTransfer(from: source, to: target)
      let report = try await prepared.run(offset: 0, count: 100_000, at: 0, strategy: .readWrite)
      #expect(report.bytes == 100_000)
      #expect(report.strategy == "readWrite")
      TransferFixtures.expectSame(
        try TransferFixtures.readFile(directory.file("b")), TransferFixtures.bytes(100_000), "destination")
      let task = Task { () -> Result<TransferReport, ZeroCopyError> in
        withUnsafeCurrentTask { $0?.cancel() }
        do throws(ZeroCopyError) {
          return .success(try await prepared.run(offset: 0, count: 100_000, at: 0))
        } catch {
          return .failure(error)
        }
      }
      guard case .failure(let error) = await task.value else {
        Issue.record("a cancelled task's prepared run succeeded")
        return
      }
      #expect(error.errno == .canceled)
      #expect(error.bytesTransferred == 0)
    }

    @Test("preparing a closed descriptor fails with EBADF naming fstat")
    func closedDescriptor() throws {
      let (r, w) = try TransferFixtures.makePipe()
      try w.close()
      defer { try? r.close() }
      let error = #expect(throws: ZeroCopyError.self) { try PreparedTransfer(from: r, to: w) }
      #expect(error?.errno == .badFileDescriptor)
      #expect(error?.syscall == "fstat")
    }
  }
}
