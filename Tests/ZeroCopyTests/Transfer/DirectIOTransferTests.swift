// The directIO strategy: byte-exact for awkward sizes and offsets, no page-cache
// pollution (mincore), a filesystem that refuses O_DIRECT falls back, a source truncated
// during the copy ends early at exactly its new size.

import Glibc
import LinuxIO
import SystemPackage
import Testing
import URing

@testable import ZeroCopy

#if DEBUG
  @testable import LinuxIO
#endif

/// Pages of `path` resident in the page cache (`mincore` over a shared read-only mapping,
/// which does not fault anything in). nil for an empty file.
func residentPages(_ path: String) throws -> (resident: Int, total: Int)? {
  let fd = open(path, O_RDONLY | O_CLOEXEC)
  guard fd >= 0 else { throw Errno(rawValue: errno) }
  defer { close(fd) }
  var st = stat()
  guard fstat(fd, &st) == 0 else { throw Errno(rawValue: errno) }
  let size = Int(st.st_size)
  if size == 0 { return nil }
  guard let map = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), map != MAP_FAILED else { throw Errno(rawValue: errno) }
  defer { munmap(map, size) }
  let page = Int(sysconf(Int32(_SC_PAGESIZE)))
  let pages = (size + page - 1) / page
  var vector = [UInt8](repeating: 0, count: pages)
  guard mincore(map, size, &vector) == 0 else { throw Errno(rawValue: errno) }
  return (vector.reduce(0) { $0 + Int($1 & 1) }, pages)
}

/// Mounts a ramfs (no O_DIRECT support) on a new directory under /tmp; nil when the
/// process may not mount. Unmount with `TransferFixtures.unmount`.
func mountRamfs() -> TransferFixtures.Directory? {
  guard let directory = try? TransferFixtures.Directory(in: "/tmp") else { return nil }
  guard mount("ramfs", directory.path, "ramfs", 0, "mode=0755") == 0 else {
    directory.remove()
    return nil
  }
  return directory
}

/// Writes `path` back and drops its pages from the page cache.
func dropFromCache(_ path: String) throws {
  let fd = open(path, O_RDONLY | O_CLOEXEC)
  guard fd >= 0 else { throw Errno(rawValue: errno) }
  defer { close(fd) }
  guard fsync(fd) == 0, posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0 else { throw Errno(rawValue: errno) }
}

extension TransferTests {
  @Suite("Transfer directIO (O_DIRECT)")
  struct DirectIOTransfer {
    /// Whether /tmp's filesystem enforces O_DIRECT alignment (so it really bypasses the cache).
    static let diskHasDirectIO: Bool = {
      let path = "/tmp/zc-dio-probe-\(getpid())"
      let fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | FileDescriptor.OpenOptions.direct.rawValue, 0o600)
      defer { unlink(path) }
      guard fd >= 0 else { return false }
      defer { close(fd) }
      guard let buffer = try? AlignedBuffer(count: 8192) else { return false }
      return pwrite(fd, buffer.unsafeBaseAddress + 1, 4096, 0) < 0 && errno == EINVAL
    }()

    @Test(
      "byte-exact for 0, 1, 4095, 4096, 4097 and 5 MiB + 4099 bytes, whole files and odd ranges",
      .enabled(if: diskHasDirectIO, "/tmp does not enforce O_DIRECT here"))
    func sizes() async throws {
      let disk = try TransferFixtures.Directory()
      defer { disk.remove() }
      for size in [0, 1, 4095, 4096, 4097, (5 << 20) + 4099] {
        try TransferFixtures.writeFile(disk.file("src"), TransferFixtures.bytes(size + 9000))
        // Whole file (the first `size` bytes: a count is given, the rest is ignored).
        for (sourceOffset, destinationOffset) in [(0, 0), (7, 5), (4096, 8192), (4095, 1)] {
          let label = "\(size) bytes, \(sourceOffset) → \(destinationOffset)"
          let source = try TransferFixtures.openFile(disk.file("src"), O_RDONLY)
          defer { try? source.close() }
          let target = try TransferFixtures.openFile(disk.file("dst"), O_RDWR | O_CREAT | O_TRUNC)
          defer { try? target.close() }
          let report = try await Transfer.run(
            TransferRequest(
              from: source, offset: Int64(sourceOffset), count: Int64(size), to: target, at: Int64(destinationOffset)),
            strategy: .directIO)
          #expect(report.strategy == "directIO", "\(label): \(report)")
          #expect(report.fallbacks.isEmpty, "\(label): \(report)")
          #expect(report.bytes == Int64(size), "\(label)")
          #expect(!report.sourceEndedEarly, "\(label)")
          let written = try TransferFixtures.readFile(disk.file("dst"))
          #expect(written.count == (size == 0 ? 0 : destinationOffset + size), "\(label)")
          if size > 0 {
            TransferFixtures.expectSame(
              Array(written.prefix(destinationOffset)), [UInt8](repeating: 0, count: destinationOffset), "\(label): head")
            TransferFixtures.expectSame(
              Array(written.dropFirst(destinationOffset)), TransferFixtures.bytes(size, from: sourceOffset), label)
          }
        }
        // By path, until the end of the source: exactly its size.
        try TransferFixtures.writeFile(disk.file("src"), TransferFixtures.bytes(size))
        let report = try await Transfer.copy(
          from: FilePath(disk.file("src")), to: FilePath(disk.file("copy")), strategy: .directIO)
        #expect(report.strategy == "directIO" && report.bytes == Int64(size), "\(size): \(report)")
        TransferFixtures.expectSame(
          try TransferFixtures.readFile(disk.file("copy")), TransferFixtures.bytes(size), "copy of \(size)")
      }
    }

    @Test(
      "no page-cache pollution: neither file has resident pages after the copy (read/write leaves them)",
      .enabled(if: diskHasDirectIO, "/tmp does not enforce O_DIRECT here"))
    func noCachePollution() async throws {
      let disk = try TransferFixtures.Directory()
      defer { disk.remove() }
      let size = (4 << 20) + 123  // an unaligned tail, written through the cache and dropped
      try TransferFixtures.writeFile(disk.file("src"), TransferFixtures.bytes(size))
      try dropFromCache(disk.file("src"))
      let before = try #require(try residentPages(disk.file("src")))
      try #require(
        before.resident == 0, "the source could not be dropped from the page cache (\(before.resident) pages resident)")

      let report = try await Transfer.copy(from: FilePath(disk.file("src")), to: FilePath(disk.file("dst")), strategy: .directIO)
      #expect(report.strategy == "directIO" && report.bytes == Int64(size), "\(report)")
      let source = try #require(try residentPages(disk.file("src")))
      let destination = try #require(try residentPages(disk.file("dst")))
      #expect(source.resident == 0, "source: \(source.resident) of \(source.total) pages resident after a directIO copy")
      #expect(
        destination.resident == 0,
        "destination: \(destination.resident) of \(destination.total) pages resident after a directIO copy")

      // The check can fail: the same copy with read/write leaves both files cached.
      let control = try await Transfer.copy(
        from: FilePath(disk.file("src")), to: FilePath(disk.file("dst2")), strategy: .readWrite)
      #expect(control.strategy == "readWrite")
      let cached = try #require(try residentPages(disk.file("dst2")))
      #expect(cached.resident == cached.total, "read/write: \(cached.resident) of \(cached.total) destination pages resident")
      TransferFixtures.expectSame(try TransferFixtures.readFile(disk.file("dst")), TransferFixtures.bytes(size), "directIO copy")
    }

    @Test("a filesystem that refuses O_DIRECT (ramfs): directIO is abandoned with EINVAL and the copy falls back")
    func refusedFallsBack() async throws {
      guard let ram = mountRamfs() else {
        try Test.cancel("cannot mount a ramfs here (needs root / CAP_SYS_ADMIN)")
      }
      defer { TransferFixtures.unmount(ram) }
      let disk = try TransferFixtures.Directory()
      defer { disk.remove() }
      try TransferFixtures.writeFile(disk.file("src"), TransferFixtures.bytes(70000))
      let report = try await Transfer.copy(from: FilePath(disk.file("src")), to: FilePath(ram.file("dst")), strategy: .directIO)
      #expect(report.bytes == 70000)
      #expect(report.strategy == "sendfile", "\(report)")
      #expect(report.fallbacks.first?.strategy == "directIO", "\(report)")
      #expect(report.fallbacks.first?.errno == .invalidArgument, "\(report)")
      #expect(report.fallbacks.first?.syscall == "open(O_DIRECT)", "\(report)")
      TransferFixtures.expectSame(try TransferFixtures.readFile(ram.file("dst")), TransferFixtures.bytes(70000), "fallback copy")
      // Without fallback, the refusal is the error.
      let error = await #expect(throws: ZeroCopyError.self) {
        try await Transfer.copy(
          from: FilePath(disk.file("src")), to: FilePath(ram.file("dst2")), strategy: .directIO,
          options: CopyOptions(transfer: TransferOptions(allowFallback: false)))
      }
      #expect(error?.errno == .invalidArgument, "\(String(describing: error))")
      #expect(error?.bytesTransferred == 0)
    }

    @Test(
      "a source truncated during the copy ends early at exactly its new size; a source that grew is copied to the count",
      .enabled(if: diskHasDirectIO, "/tmp does not enforce O_DIRECT here"))
    func truncatedAndGrowing() async throws {
      let disk = try TransferFixtures.Directory()
      defer { disk.remove() }
      let size = 64 << 20
      var data = [UInt8]()
      data.reserveCapacity(size)
      while data.count < size { data += TransferFixtures.pattern.prefix(size - data.count) }
      // Without the ring (the default) and through it.
      for depth in [1, 4] {
        // The truncation races the copy: on a loaded machine the watcher thread can run
        // too late, after the reads passed the new end. A round counts only when the bytes
        // delivered right after the ftruncate were still more than the copy's read-ahead
        // (8 chunks of 1 MiB, plus 1 MiB) short of the new size; otherwise it is run again.
        var checked = false
        for attempt in 1...6 where !checked {
          try TransferFixtures.writeFile(disk.file("src"), data)
          let source = try TransferFixtures.openFile(disk.file("src"), O_RDWR)
          defer { try? source.close() }
          let target = try TransferFixtures.openFile(disk.file("dst"), O_RDWR | O_CREAT | O_TRUNC)
          defer { try? target.close() }
          let monitor = TransferMonitor()
          // A thread truncates the source 24 MiB + 123 bytes past the progress it first sees
          // beyond 1 MiB: the copy's reads run at most 8 chunks of 1 MiB (twice the ring's 4
          // slots) past the bytes it has delivered in order, so none has reached there yet.
          let truncatedTo = TransferFixtures.Box<Int64>(-1)
          let inTime = TransferFixtures.Box<Bool>(false)
          let watcher = TransferFixtures.Worker {
            let deadline = ContinuousClock.now + .seconds(60)
            while monitor.bytesTransferred < (1 << 20) {
              if ContinuousClock.now > deadline { return }
              sched_yield()
            }
            let newSize = monitor.bytesTransferred + (24 << 20) + 123
            precondition(ftruncate(source.rawValue, off_t(newSize)) == 0)
            truncatedTo.value = newSize
            inTime.value = monitor.bytesTransferred + (9 << 20) < newSize
          }
          let report = try await Transfer.run(
            TransferRequest(from: source, offset: 0, count: Int64(size), to: target, at: 0),
            strategy: .directIO(bufferSize: 1 << 20, depth: depth), options: TransferOptions(monitor: monitor))
          watcher.join()
          let newSize = truncatedTo.value
          #expect(report.strategy == "directIO")
          guard inTime.value else {
            print(
              "directIO depth \(depth): the truncation came too late (attempt \(attempt), \(report.bytes) bytes copied); again")
            continue
          }
          checked = true
          #expect(report.sourceEndedEarly, "depth \(depth): \(report)")
          #expect(report.bytes == newSize, "depth \(depth): \(report) vs truncated size \(newSize)")
          TransferFixtures.expectSame(
            try TransferFixtures.readFile(disk.file("dst")), Array(data.prefix(Int(newSize))), "depth \(depth): truncated copy")
          if depth == 4 && IOURingAvailability.isAvailable {
            #expect(
              report.notes.contains { $0.contains("through io_uring") && $0.hasSuffix("; the rest one chunk at a time") },
              "\(report.notes)")
          }
        }
        #expect(checked, "depth \(depth): the truncation never landed ahead of the copy's reads in 6 attempts")
      }
      let newSize = Int64(TransferFixtures.status(disk.file("src"))?.size ?? -1)
      let source = try TransferFixtures.openFile(disk.file("src"), O_RDWR)
      defer { try? source.close() }

      // Grown after the count was fixed: exactly the count.
      #expect(lseek(source.rawValue, 0, SEEK_END) == off_t(newSize))
      try TransferFixtures.writeAll(source.rawValue, [1, 2, 3])  // the source grows
      let target2 = try TransferFixtures.openFile(disk.file("dst2"), O_RDWR | O_CREAT | O_TRUNC)
      defer { try? target2.close() }
      let second = try await Transfer.run(
        TransferRequest(from: source, offset: 0, count: 3 << 20, to: target2, at: 0), strategy: .directIO)
      #expect(second.bytes == 3 << 20 && !second.sourceEndedEarly, "\(second)")
      TransferFixtures.expectSame(try TransferFixtures.readFile(disk.file("dst2")), Array(data.prefix(3 << 20)), "counted copy")
    }

    @Test(
      "the aligned middle overlaps through io_uring: byte-exact with slots reused many times, reported in the notes; depth 1 does not",
      .enabled(if: diskHasDirectIO, "/tmp does not enforce O_DIRECT here"))
    func overlappedThroughTheRing() async throws {
      let disk = try TransferFixtures.Directory()
      defer { disk.remove() }
      // 96 chunks of 64 KiB and one of 4 KiB through 4 slots, then a 3-byte tail.
      let size = (6 << 20) + 4099
      try TransferFixtures.writeFile(disk.file("src"), TransferFixtures.bytes(size))
      let ringAvailable = IOURingAvailability.isAvailable
      for depth in [4, 1] {
        let report = try await Transfer.copy(
          from: FilePath(disk.file("src")), to: FilePath(disk.file("dst\(depth)")),
          strategy: .directIO(bufferSize: 64 << 10, depth: depth))
        #expect(report.strategy == "directIO" && report.bytes == Int64(size), "depth \(depth): \(report)")
        TransferFixtures.expectSame(
          try TransferFixtures.readFile(disk.file("dst\(depth)")), TransferFixtures.bytes(size), "depth \(depth)")
        let ringNotes = report.notes.filter { $0.contains("io_uring") }
        if depth == 1 {
          #expect(ringNotes.isEmpty, "depth 1 uses no ring: \(report.notes)")
        } else if ringAvailable {
          // Unprivileged with a small RLIMIT_MEMLOCK the buffers are not registered, and
          // the note says so.
          #expect(ringNotes.count == 1, "\(report.notes)")
          #expect(
            ringNotes.first == "directIO: \((6 << 20) + 4096) bytes through io_uring, up to 4 chunks of 64 KiB in flight"
              || ringNotes.first
                == "directIO: \((6 << 20) + 4096) bytes through io_uring, up to 4 chunks of 64 KiB in flight (buffers not registered: RLIMIT_MEMLOCK)",
            "\(report.notes)")
        } else {
          #expect(ringNotes.count == 1 && ringNotes[0].hasPrefix("directIO: no io_uring ("), "\(report.notes)")
        }
      }
      // Odd but congruent offsets: a head through the cache, then the ring from the
      // aligned offset, then a tail; the 3 whole MiB after the head go through the ring.
      try TransferFixtures.writeFile(disk.file("src"), TransferFixtures.bytes(4 << 20))
      let source = try TransferFixtures.openFile(disk.file("src"), O_RDONLY)
      defer { try? source.close() }
      let target = try TransferFixtures.openFile(disk.file("odd"), O_RDWR | O_CREAT | O_TRUNC)
      defer { try? target.close() }
      let count = (3 << 20) + 100
      let report = try await Transfer.run(
        TransferRequest(from: source, offset: 4000, count: Int64(count), to: target, at: 8096),
        strategy: .directIO(bufferSize: 1 << 20, depth: 4))
      #expect(report.bytes == Int64(count), "\(report)")
      if ringAvailable {
        #expect(report.notes.contains { $0.hasPrefix("directIO: \(3 << 20) bytes through io_uring") }, "\(report.notes)")
      }
      let written = try TransferFixtures.readFile(disk.file("odd"))
      #expect(written.count == 8096 + count)
      TransferFixtures.expectSame(Array(written.dropFirst(8096)), TransferFixtures.bytes(count, from: 4000), "odd offsets")
    }

    @Test(
      "a disk that fills up during the ring: ENOSPC with the exact count, and the destination holds exactly those bytes",
      .enabled(if: diskHasDirectIO, "/tmp does not enforce O_DIRECT here"))
    func fullDiskDuringTheRing() async throws {
      guard let small = TransferFixtures.mountTmpfs(size: "3m") else {
        try Test.cancel("cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN)")
      }
      defer { TransferFixtures.unmount(small) }
      let disk = try TransferFixtures.Directory()
      defer { disk.remove() }
      let size = 8 << 20
      try TransferFixtures.writeFile(disk.file("src"), TransferFixtures.bytes(size))
      // This tmpfs takes O_DIRECT, and 1 MiB goes through the ring (when there is one).
      try TransferFixtures.writeFile(disk.file("src1"), TransferFixtures.bytes(1 << 20))
      let fits = try await Transfer.copy(
        from: FilePath(disk.file("src1")), to: FilePath(small.file("fits")), strategy: .directIO(bufferSize: 256 << 10, depth: 4),
        options: CopyOptions(transfer: TransferOptions(allowFallback: false)))
      #expect(fits.bytes == 1 << 20, "\(fits)")
      if IOURingAvailability.isAvailable {
        #expect(
          fits.notes.contains {
            $0.hasPrefix("directIO: \(1 << 20) bytes through io_uring, up to 4 chunks of 256 KiB in flight")
          },
          "\(fits.notes)")
      }
      _ = unlink(small.file("fits"))
      let error = await #expect(throws: ZeroCopyError.self) {
        try await Transfer.copy(
          from: FilePath(disk.file("src")), to: FilePath(small.file("dst")), strategy: .directIO(bufferSize: 256 << 10, depth: 4),
          options: CopyOptions(transfer: TransferOptions(allowFallback: false)))
      }
      #expect(error?.errno == .noSpace, "\(String(describing: error))")
      let delivered = error?.bytesTransferred ?? -1
      let onDisk = TransferFixtures.status(small.file("dst"))?.size ?? -2
      #expect(delivered > 0 && delivered < Int64(size), "\(delivered)")
      #expect(delivered == onDisk, "reported \(delivered) bytes, the file has \(onDisk)")
      let written = try TransferFixtures.readFile(small.file("dst"))
      TransferFixtures.expectSame(written, TransferFixtures.bytes(written.count), "the bytes that fit")
    }

    #if DEBUG
      @Test(
        "a ring write that fails after the kernel wrote it: redone one chunk at a time; if the redo fails too, the destination is cut back to the bytes reported",
        .enabled(if: diskHasDirectIO, "/tmp does not enforce O_DIRECT here"))
      func failedRingWrite() throws {
        guard IOURingAvailability.isAvailable else {
          try Test.cancel("io_uring is unavailable here: \(IOURingAvailability.current)")
        }
        let disk = try TransferFixtures.Directory()
        defer { disk.remove() }
        let size = 8 << 20
        let chunk = 256 << 10
        try TransferFixtures.writeFile(disk.file("src"), TransferFixtures.bytes(size))
        let strategy = DirectIOStrategy(bufferSize: chunk, depth: 4)

        // Chunk 3's write "fails": the ring stops after chunks 0-2, the loop redoes the rest.
        let report = try DirectIORingFaults.$failedWrites.withValue([3]) {
          try Transfer.copyBlocking(from: FilePath(disk.file("src")), to: FilePath(disk.file("redone")), strategy: strategy)
        }
        #expect(report.bytes == Int64(size), "\(report)")
        #expect(
          report.notes.contains {
            $0.hasPrefix("directIO: \(3 * chunk) bytes through io_uring, up to 4 chunks of 256 KiB in flight")
              && $0.hasSuffix("; the rest one chunk at a time")
          },
          "\(report.notes)")
        TransferFixtures.expectSame(
          try TransferFixtures.readFile(disk.file("redone")), TransferFixtures.bytes(size), "redone copy")

        // The redo fails too (EIO from the next pwrite): the error reports 3 chunks, and the
        // destination — which the kernel had extended with chunk 3 — holds exactly those.
        let error = #expect(throws: ZeroCopyError.self) {
          try DirectIORingFaults.$failedWrites.withValue([3]) {
            try SyscallMocking.withForcedErrnos(["pwrite": [.ioError]]) { _ in
              try Transfer.copyBlocking(
                from: FilePath(disk.file("src")), to: FilePath(disk.file("failed")), strategy: strategy,
                options: CopyOptions(transfer: TransferOptions(allowFallback: false)))
            }
          }
        }
        #expect(error?.errno == .ioError, "\(String(describing: error))")
        #expect(error?.syscall == "pwrite(O_DIRECT)", "\(String(describing: error))")
        #expect(error?.bytesTransferred == Int64(3 * chunk), "\(String(describing: error))")
        #expect(
          TransferFixtures.status(disk.file("failed"))?.size == Int64(3 * chunk),
          "the destination is cut back to the bytes reported")
        TransferFixtures.expectSame(
          try TransferFixtures.readFile(disk.file("failed")), TransferFixtures.bytes(3 * chunk), "the bytes delivered")
      }
    #endif

  }
}
