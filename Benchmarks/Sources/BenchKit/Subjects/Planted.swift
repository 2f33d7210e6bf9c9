// A deliberately wrong strategy for the harness's own tests: it moves every byte but one.
// Enabled only by ZEROCOPY_BENCH_PLANT_CORRUPTING=1; verification must catch it.

import Glibc

/// Copies the source with pread/write but flips one byte in the middle. Test-only.
public struct CorruptingSubject: Subject {
  /// Its description.
  public let info = SubjectInfo(
    id: "swift:corrupting", family: .swift, strategy: "corrupting",
    summary: "TEST ONLY: moves every byte but flips one in the middle (ZEROCOPY_BENCH_PLANT_CORRUPTING=1)")

  /// Creates the subject.
  public init() {}

  /// Whether the environment asks for it.
  public static var enabled: Bool { getenv("ZEROCOPY_BENCH_PLANT_CORRUPTING").map { String(cString: $0) == "1" } ?? false }

  /// Any destination.
  public func unsupportedReason(_ cell: Cell) -> String? { nil }

  /// Runs the wrong copy in process.
  public func measure(_ run: SampleRun) async throws -> SampleMeasurement {
    try await measureInProcess(run) { s, d in
      let chunk = 1 << 20
      let buf = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 4096)
      defer { buf.deallocate() }
      let size = run.cell.size
      var off = 0
      var calls = 0
      while off < size {
        let n = pread(s, buf, min(chunk, size - off), off_t(off))
        calls += 1
        try check(n, "pread")
        if n == 0 { break }
        if off <= size / 2 && size / 2 < off + n {
          let p = buf.advanced(by: size / 2 - off).assumingMemoryBound(to: UInt8.self)
          p.pointee ^= 0xFF
        }
        var done = 0
        while done < n {
          let w = write(d, buf + done, n - done)
          calls += 1
          try check(w, "write")
          done += w
        }
        off += n
      }
      return SubjectOutcome(bytes: Int64(off), syscalls: calls)
    }
  }
}
