// Reads whose data is ready complete on the caller's thread
// (IOEngine.Configuration.completesReadyReadsInline): cached file reads with
// preadv2(RWF_NOWAIT), queued socket data with recv(MSG_DONTWAIT). What must hold: the same
// bytes and counts as through the engine, no engine operation for them, a yield one read
// in 64 (so that other tasks run), a short count still meaning the end of the file, and every refusal
// (closed file, cancelled task, engine shut down, O_DIRECT) as before.

import Glibc
import LinuxIO
import Synchronization
import SystemPackage
import Testing
import ZeroCopy

@Suite("Reads of ready data complete inline", .timeLimit(.hangGuard(minutes: 2)))
struct InlineReadTests {
  static var kinds: [EngineKind] { Support.ioUringAvailable ? [.threadPool, .ioUring] : [.threadPool] }

  /// 640 cached 4 KiB reads: exact bytes, and no engine operation instead of 640 — exactly
  /// 0 on the thread pool, whose counters are exact; at most 1 on the ring, whose counters
  /// are published by its thread and may lag. With the option off, every read is an engine
  /// operation.
  @Test(arguments: kinds)
  func cachedReadsSkipTheEngine(kind: EngineKind) async throws {
    let dir = try TemporaryDirectory()
    let data = Support.pattern(seed: 41, count: 1 << 20)
    let path = try dir.write("cached.bin", data)
    for inline in [true, false] {
      try await withEngine(kind, completesReadyReadsInline: inline) { engine in
        let file = try await AsyncFile.open(path, engine: engine)
        // Warm the cache and the file's counters.
        _ = try await file.read(into: try AlignedBuffer(count: 4096), at: 0).count
        let before = engine.statistics.operationsCompleted
        var buffer = try AlignedBuffer(count: 4096)
        var wrong = 0
        for i in 0..<640 {
          let offset = (i * 7 * 4096) % data.count
          let result = await file.read(into: buffer, at: Int64(offset))
          if (try? result.count) != 4096 { wrong += 1 }
          buffer = result.take()
          if Support.bytes(buffer) != Array(data[offset..<(offset + 4096)]) { wrong += 1 }
        }
        #expect(wrong == 0)
        let engineOps = engine.statistics.operationsCompleted - before
        if !inline {
          #expect(engineOps >= 640 || kind == .ioUring && engineOps > 10, "\(engine.statistics)")
        } else if kind == .threadPool {
          #expect(engineOps == 0, "\(engine.statistics)")
        } else {
          #expect(engineOps <= 1, "\(engine.statistics)")
        }
        try await file.close()
      }
    }
  }

  /// A read of which only the start is cached: the cached part inline, the rest through
  /// the engine, and the whole count — a short count must still mean the end of the file.
  /// The second half of a 4 MiB file is dropped from the cache (written, fsync'd, then
  /// `POSIX_FADV_DONTNEED`) before each of three (up to 20) 16 KiB reads across the
  /// boundary; on the thread pool at least one must have needed exactly one engine
  /// operation (a cached read needs none; the kernel may bring the pages back early by its
  /// own read-ahead). Reads past the end: the bytes up to it, then 0.
  @Test(arguments: kinds)
  func partlyCachedReadsAndTheEnd(kind: EngineKind) async throws {
    let dir = try TemporaryDirectory()
    let data = Support.pattern(seed: 42, count: 4 << 20)
    let path = dir.file("partly.bin")
    let fd = try FileDescriptor.open(path, .readWrite, options: [.create, .truncate], permissions: .ownerReadWrite)
    for start in stride(from: 0, to: data.count, by: 64 << 10) {
      _ = try fd.writeAll(data[start..<(start + (64 << 10))])
    }
    try fd.synchronize()
    try await withEngine(kind) { engine in
      let file = try await AsyncFile.open(path, engine: engine)
      var split = 0
      var buffer = try AlignedBuffer(count: 16 << 10)
      for attempt in 0..<20 {
        // Three reads, then more (up to 20) while none was split: the read-ahead that
        // preadv2(RWF_NOWAIT) starts for the missing page can complete before the kernel
        // looks again (likely on a loaded VM), and then the whole read is served inline.
        if attempt >= 3 && (kind != .threadPool || split >= 1) { break }
        #expect(posix_fadvise(fd.rawValue, 2 << 20, 2 << 20, POSIX_FADV_DONTNEED) == 0)
        let before = engine.statistics.operationsCompleted
        let result = await file.read(into: buffer, at: (2 << 20) - 8192)
        #expect(try result.count == 16 << 10)
        buffer = result.take()
        let same = Support.bytes(buffer) == Array(data[((2 << 20) - 8192)..<((2 << 20) + 8192)])
        #expect(same, "the bytes differ from the file's")
        if engine.statistics.operationsCompleted - before == 1 { split += 1 }
      }
      if kind == .threadPool { #expect(split >= 1, "no read was split between the cache and the engine") }
      // 16 KiB from 8 KiB before the end: 8 KiB, then 0 at the end and past it.
      let tail = await file.read(into: buffer, at: Int64(data.count - 8192))
      #expect(try tail.count == 8192)
      let again = await file.read(into: tail.take(), at: Int64(data.count))
      #expect(try again.count == 0)
      let past = await file.read(into: again.take(), at: 1 << 40)
      #expect(try past.count == 0)
      _ = past.take()
      try await file.close()
    }
    try fd.close()
  }

  /// Refusals are unchanged: after close() `EBADF`, from a cancelled task `ECANCELED`,
  /// after the engine's shutdown `ECANCELED` — all with the buffer back untouched, though
  /// the data is cached and a read on the caller's thread would succeed.
  @Test(arguments: kinds)
  func refusalsAreUnchanged(kind: EngineKind) async throws {
    let dir = try TemporaryDirectory()
    let data = Support.pattern(seed: 43, count: 64 << 10)
    let path = try dir.write("refusals.bin", data)
    let engine = try Support.engine(kind)
    let file = try await AsyncFile.open(path, engine: engine)
    _ = try await file.read(into: try AlignedBuffer(count: 4096), at: 0).count

    let cancelled = await Task {
      withUnsafeCurrentTask { $0?.cancel() }
      return Returned(await file.read(into: try! Support.filled(0xAA, count: 4096), at: 0))
    }.value
    #expect(cancelled.error?.errno == .canceled, "\(String(describing: cancelled.error))")
    do { let untouched = Support.isFilled(cancelled.buffer!, with: 0xAA); #expect(untouched) }

    let other = try await AsyncFile.open(path, engine: engine)
    try await other.close()
    let closed = Returned(await other.read(into: try Support.filled(0xAA, count: 4096), at: 0))
    #expect(closed.error?.errno == .badFileDescriptor)
    do { let untouched = Support.isFilled(closed.buffer!, with: 0xAA); #expect(untouched) }

    await engine.shutdown()
    let stopped = Returned(await file.read(into: try Support.filled(0xAA, count: 4096), at: 0))
    #expect(stopped.error?.errno == .canceled, "\(String(describing: stopped.error))")
    do { let untouched = Support.isFilled(stopped.buffer!, with: 0xAA); #expect(untouched) }
    try? await file.close()
  }

  /// A file opened with O_DIRECT (through the engine, or taken over) never reads inline:
  /// an `RWF_NOWAIT` direct read still waits for the device.
  @Test func directFilesUseTheEngine() async throws {
    let dir = try TemporaryDirectory()
    let data = Support.pattern(seed: 44, count: 64 << 10)
    let path = try dir.write("direct.bin", data)
    // The test directory is on ext4 here; a filesystem that refuses O_DIRECT fails the
    // test rather than skipping what it checks.
    let raw = try FileDescriptor.open(path, .readOnly, options: [.direct, .closeOnExec])
    let engine = try Support.engine(.threadPool)
    let file = AsyncFile(takingOwnershipOf: raw, path: path, engine: engine)
    let before = engine.statistics.operationsCompleted
    for i in 0..<8 {
      let r = await file.read(into: try AlignedBuffer(count: 4096), at: Int64(i * 4096))
      #expect(try r.count == 4096)
      let same = Support.bytes(r.take()) == Array(data[(i * 4096)..<((i + 1) * 4096)])
      #expect(same, "the bytes differ from the file's")
    }
    #expect(engine.statistics.operationsCompleted - before == 8, "every O_DIRECT read through the engine")
    try await file.close()
    await engine.shutdown()
  }

  /// Queued socket data is received inline (exact bytes, no engine operation on the thread
  /// pool); with nothing queued, the receive waits in the engine and gets the data
  /// sent later; end of stream is 0.
  @Test(arguments: kinds)
  func queuedSocketData(kind: EngineKind) async throws {
    try await withEngine(kind) { engine in
      let listener = try AsyncSocket.listen(on: .loopback(), engine: engine)
      let address = try listener.localAddress()
      let acceptTask = Task { try await listener.accept() }
      let client = try await AsyncSocket.connect(to: address, engine: engine)
      let server = try await acceptTask.value
      let data = Support.pattern(seed: 45, count: 128 * 100)
      #expect(try await client.sendAll(from: try Support.buffer(data)).count == data.count)
      // Every byte in the receive queue before the inline receives (loopback delivers
      // them soon, but not at a known moment on a loaded machine).
      let queued = await eventually(within: .seconds(5)) { queuedBytes(server.descriptor) == data.count }
      try #require(queued, "\(queuedBytes(server.descriptor)) of \(data.count) bytes queued after 5 s")
      let before = engine.statistics.operationsCompleted
      var got: [UInt8] = []
      var buffer = try AlignedBuffer(count: 100)
      for _ in 0..<128 {
        let r = await server.receive(into: buffer)
        let n = try r.count
        buffer = r.take()
        got += Support.bytes(buffer, count: n)
      }
      let same = got == data
      #expect(same, "received \(got.count) bytes that differ from the \(data.count) sent")
      if kind == .threadPool {
        #expect(engine.statistics.operationsCompleted - before == 0, "\(engine.statistics)")
      }
      // Nothing queued: the receive waits (in the engine) for data sent later.
      let waiting = Task { Returned(await server.receive(into: try! AlignedBuffer(count: 16))) }
      await pause(microseconds: 20_000)
      #expect(try await client.send(from: try Support.buffer([1, 2, 3])).count == 3)
      let late = await waiting.value
      #expect(late.count == 3)
      try client.shutdown(.write)
      let eof = await server.receive(into: try AlignedBuffer(count: 16))
      #expect(try eof.count == 0)
      _ = eof.take()
      try await server.close()
      try await client.close()
      try await listener.close()
    }
  }

  /// A task that keeps finding its data cached still lets other tasks run on its thread:
  /// on the io_uring engine's executor (one thread), a task ticking a counter between its
  /// own yields advances while another reads 640 cached pages — because one read in 64
  /// yields. Without the yields the reader would never suspend and the ticks would stand still.
  @Test(.enabled(if: Support.ioUringAvailable, Support.ioUringSkipComment))
  func inlineReadsYieldNowAndThen() async throws {
    let dir = try TemporaryDirectory()
    let data = Support.pattern(seed: 46, count: 1 << 20)
    let path = try dir.write("yield.bin", data)
    try await withEngine(.ioUring) { engine in
      let file = try await AsyncFile.open(path, engine: engine)
      _ = try await file.read(into: try AlignedBuffer(count: 4096), at: 0).count
      let shared = Ticks()
      let ticker = Task(executorPreference: engine.preferredTaskExecutor) {
        while !shared.stop.load(ordering: .relaxed) {
          shared.count.add(1, ordering: .relaxed)
          await Task.yield()
        }
      }
      let (during, wrong) = await Task(executorPreference: engine.preferredTaskExecutor) { () -> (Int, Int) in
        #expect(engine.isCurrentThread)
        var buffer = try! AlignedBuffer(count: 4096)
        var wrong = 0
        let start = shared.count.load(ordering: .relaxed)
        for i in 0..<640 {
          let r = await file.read(into: buffer, at: Int64((i * 4096) % data.count))
          if (try? r.count) != 4096 { wrong += 1 }
          buffer = r.take()
        }
        return (shared.count.load(ordering: .relaxed) - start, wrong)
      }.value
      shared.stop.store(true, ordering: .relaxed)
      await ticker.value
      #expect(wrong == 0)
      #expect(during >= 5, "the other task ran \(during) times during 640 reads (10 yields)")
      try await file.close()
    }
  }
}

/// A counter and a stop flag shared by two tasks.
private final class Ticks: Sendable {
  let count = Atomic<Int>(0)
  let stop = Atomic<Bool>(false)
}
