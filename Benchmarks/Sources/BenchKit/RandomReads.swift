// Random 4 KiB reads of a page-cached file: pread against io_uring at several queue depths,
// in Swift (swift-system, the URing layer, the async engine) and in C (uring_ops).

import Foundation
import Glibc
import SystemPackage
import URing

/// The offsets generator shared with Benchmarks/c/uring_ops.c (xorshift64*).
public struct OffsetGenerator: Sendable {
  private var state: UInt64 = 0x9E37_79B9_7F4A_7C15
  /// Blocks of 4 KiB in the file.
  public let blocks: UInt64
  /// Creates a generator over a file of `fileSize` bytes; `stream` > 0 gives an
  /// independent sequence (for concurrent readers). The same `seed` and `stream` give the
  /// same offsets: fine for page-cached reads, but a benchmark of reads that must reach the
  /// device passes a fresh `seed` per sample (`randomSeed()`), or its later samples re-read
  /// blocks that a cache below the guest (the VM host's page cache) still holds.
  public init(fileSize: Int, stream: Int = 0, seed: UInt64 = 0) {
    blocks = UInt64(max(1, fileSize / 4096))
    state ^= UInt64(stream) &* 0xD6E8_FEB8_6659_FD93
    state ^= seed &* 0xA076_1D64_78BD_642F
    if state == 0 { state = 1 }
  }

  /// A seed from the system's random source, for one sample's generators.
  public static func randomSeed() -> UInt64 {
    var rng = SystemRandomNumberGenerator()
    return rng.next()
  }
  /// The next 4 KiB-aligned offset.
  @inline(__always)
  public mutating func next() -> UInt64 {
    state ^= state >> 12
    state ^= state << 25
    state ^= state >> 27
    return ((state &* 0x2545_F491_4F6C_DD1D) % blocks) * 4096
  }
}

/// One random-read sample.
public struct ReadSample: Sendable {
  /// Nanoseconds per read.
  public var nanosecondsPerRead: Double
  /// CPU microseconds per read (in-process subjects).
  public var cpuMicrosPerRead: Double?
  /// Syscalls per read, when counted.
  public var syscallsPerRead: Double?

  /// Creates a sample.
  public init(nanosecondsPerRead: Double, cpuMicrosPerRead: Double?, syscallsPerRead: Double?) {
    self.nanosecondsPerRead = nanosecondsPerRead
    self.cpuMicrosPerRead = cpuMicrosPerRead
    self.syscallsPerRead = syscallsPerRead
  }
}

/// A random-read subject.
public protocol ReadSubject: Sendable {
  /// Id ("swift:uring.qd32").
  var id: String { get }
  /// Family.
  var family: Family { get }
  /// Twin key ("ring.qd32").
  var variant: String { get }
  /// What it does.
  var summary: String { get }
  /// Runs `operations` reads at random offsets of `path`; verifies every count and the
  /// content of the last buffer.
  func sample(path: String, fileSize: Int, operations: Int) async throws -> ReadSample
}

/// Checks that `buffer` holds the file's bytes at `offset` (spot check after a sample).
func spotCheck(fd: CInt, buffer: UnsafeRawBufferPointer, offset: UInt64) throws {
  var expected = [UInt8](repeating: 0, count: 4096)
  let n = expected.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 4096, off_t(offset)) }
  try check(n, "pread (spot check)")
  guard n == 4096, expected.withUnsafeBytes({ memcmp($0.baseAddress!, buffer.baseAddress!, 4096) == 0 }) else {
    throw BenchError("the last buffer read does not hold the file's bytes at offset \(offset)")
  }
}

/// `FileDescriptor.read(fromAbsoluteOffset:into:)` (swift-system), one at a time.
public struct PreadSubject: ReadSubject {
  public let id = "swift:pread"
  public let family = Family.swift
  public let variant = "pread"
  public let summary = "swift-system FileDescriptor.read(fromAbsoluteOffset:into:)"
  /// Creates the subject.
  public init() {}

  public func sample(path: String, fileSize: Int, operations: Int) async throws -> ReadSample {
    let fd = try FileDescriptor.open(path, .readOnly, options: [.closeOnExec])
    defer { try? fd.close() }
    let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 4096)
    defer { buf.deallocate() }
    buf.initializeMemory(as: UInt8.self, repeating: 0)
    var gen = OffsetGenerator(fileSize: fileSize)
    var last: UInt64 = 0
    let u0 = Usage.current()
    let t0 = monotonicNanoseconds()
    for _ in 0..<operations {
      last = gen.next()
      let n = try fd.read(fromAbsoluteOffset: Int64(last), into: buf)
      if n != 4096 { throw BenchError("pread returned \(n) bytes") }
    }
    let t1 = monotonicNanoseconds()
    let u = Usage.current() - u0
    try spotCheck(fd: fd.rawValue, buffer: UnsafeRawBufferPointer(buf), offset: last)
    return ReadSample(
      nanosecondsPerRead: Double(t1 - t0) / Double(operations),
      cpuMicrosPerRead: Double(u.userMicros + u.systemMicros) / Double(operations),
      syscallsPerRead: 1)
  }
}

/// Deprecated: ``IOURingReadSubject``.
@available(*, deprecated, renamed: "IOURingReadSubject")
public typealias URingReadSubject = IOURingReadSubject

/// The URing layer (synchronous): batches of `depth` reads, submit-and-wait for all of
/// them, reap — the same loop as uring_ops.
public struct IOURingReadSubject: ReadSubject {
  /// Reads per batch.
  public let depth: Int
  /// Use registered buffers (`READ_FIXED`).
  public let fixed: Bool
  public var id: String { "swift:\(variant)" }
  public let family = Family.swift
  public var variant: String { "ring.qd\(depth)" + (fixed ? ".fixed" : "") }
  public var summary: String {
    "URing IOURing, \(depth) per submit\(fixed ? ", registered buffers (READ_FIXED)" : "")"
  }
  /// Creates the subject.
  public init(depth: Int, fixed: Bool) {
    self.depth = depth
    self.fixed = fixed
  }

  public func sample(path: String, fileSize: Int, operations: Int) async throws -> ReadSample {
    let fd = try FileDescriptor.open(path, .readOnly, options: [.closeOnExec])
    defer { try? fd.close() }
    var ring = try IOURing(entries: UInt32(max(depth * 2, 8)))
    // The ring owns the buffers (registered either way; plain READs ignore the table), so
    // they outlive every read, also when a throw leaves reads in flight: the ring's end
    // cancels and waits for them before freeing the memory.
    let registered = try ring.registerBuffers(count: depth, size: 4096)
    let slices = registered.map(\.bytes)
    var gen = OffsetGenerator(fileSize: fileSize)
    let batches = max(1, operations / depth)
    var lastOffset: UInt64 = 0
    var syscalls = 0
    var bad: String?
    let u0 = Usage.current()
    let t0 = monotonicNanoseconds()
    for _ in 0..<batches {
      for k in 0..<depth {
        let off = gen.next()
        lastOffset = off
        if fixed {
          try ring.prepare(.readFixed(fd, into: registered[k], at: off, userData: UInt64(k)))
        } else {
          try ring.prepare(.unsafeRead(fd, into: slices[k], at: off, userData: UInt64(k)))
        }
      }
      try ring.submit(waitingFor: depth)
      syscalls += 1
      var seen = 0
      while seen < depth {
        seen += ring.forEachCompletion { c in
          if case .success(let n) = c.result, n == 4096 { return }
          if bad == nil { bad = "read completed with \(c.result)" }
        }
        if seen < depth {
          let c = try ring.waitCompletion()
          if case .success(let n) = c.result, n == 4096 {} else if bad == nil { bad = "read completed with \(c.result)" }
          seen += 1
          syscalls += 1
        }
      }
    }
    let t1 = monotonicNanoseconds()
    let u = Usage.current() - u0
    if let bad { throw BenchError(bad) }
    try spotCheck(fd: fd.rawValue, buffer: UnsafeRawBufferPointer(slices[depth - 1]), offset: lastOffset)
    let ops = Double(batches * depth)
    return ReadSample(
      nanosecondsPerRead: Double(t1 - t0) / ops,
      cpuMicrosPerRead: Double(u.userMicros + u.systemMicros) / ops,
      syscallsPerRead: Double(syscalls) / ops)
  }
}

/// uring_ops (C): one process per round measures pread, ring QD1/8/32 and QD32 fixed.
public struct CReadGroup: Sendable {
  /// The variants it prints, with summaries.
  public static let variants: [(String, String)] = [
    ("pread", "C pread loop"),
    ("ring.qd1", "C liburing, 1 per submit"),
    ("ring.qd8", "C liburing, 8 per submit"),
    ("ring.qd32", "C liburing, 32 per submit"),
    ("ring.qd32.fixed", "C liburing, 32 per submit, registered buffers"),
  ]

  /// Runs one round: variant → ns per read.
  public static func sample(tools: Tools, scratch: String, path: String, operations: Int) throws -> [String: Double] {
    let child = try ChildProcess(
      tools.path("uring_ops"), ["read", path, String(operations), "1"], stdout: .pipe,
      stderrPath: "\(scratch)/uring_ops.err")
    var out: [String: Double] = [:]
    while let line = try child.readLine() {
      let parts = line.split(separator: " ")
      guard parts.count == 2, parts[0].hasPrefix("c.read4k.") else { continue }
      let variant = String(parts[0].dropFirst("c.read4k.".count))
      if let v = parseFields(String(parts[1]))["ns_per_op"].flatMap({ Double($0) }) { out[variant] = v }
    }
    let exit = try child.wait()
    guard exit.succeeded else { throw BenchError("uring_ops failed: \(child.stderrText())") }
    return out
  }
}
