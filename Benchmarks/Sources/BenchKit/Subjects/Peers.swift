// Peers: what a Swift user might use instead — coreutils cp, Foundation's FileManager and
// FileHandle (in the toolchain, so they cost no build time).

import Foundation
import Glibc

/// `cp SRC DST` as a child process, per transfer.
public struct CpSubject: Subject {
  /// Path of cp.
  public let path: String
  /// Its description.
  public let info = SubjectInfo(
    id: "peer:cp", family: .peer, strategy: "cp",
    summary: "coreutils cp (copy_file_range when the filesystem allows)",
    note: "whole command: process start, open/create of a new destination, copy, close; CPU is the child's")

  /// Finds cp on PATH (nil when absent).
  public static func find() -> CpSubject? {
    for dir in ["/usr/bin", "/bin", "/usr/local/bin"] where access("\(dir)/cp", X_OK) == 0 {
      return CpSubject(path: "\(dir)/cp")
    }
    return nil
  }

  /// File destinations only.
  public func unsupportedReason(_ cell: Cell) -> String? {
    cell.destination.isFile ? nil : "cp writes files only"
  }

  /// Each iteration: unlink the fresh destination (untimed), run cp, checksum the copy.
  public func measure(_ run: SampleRun) async throws -> SampleMeasurement {
    let dst = run.workspace.destinationPath(for: run.cell, suffix: "-new")
    var m = SampleMeasurement(iterations: run.iterations)
    for i in 0..<(run.warmup + run.iterations) {
      unlink(dst)
      if run.cold { try PageCache.drop(run.source.path) }
      let t0 = monotonicNanoseconds()
      let child = try ChildProcess(
        path, [run.source.path, dst], stdout: .inherit,
        stderrPath: "\(run.workspace.scratch)/cp.err")
      let exit = try child.wait()
      let t1 = monotonicNanoseconds()
      guard exit.succeeded else { throw BenchError("cp failed: \(child.stderrText())") }
      let (size, sum) = try Workspace.checksum(path: dst)
      if let p = DestinationSession.compare(
        size: size, checksum: sum, expectedSize: run.cell.size, expected: run.source.checksum),
        m.failures.count < 3
      {
        m.failures.append("iteration \(i + 1): \(p)")
      }
      guard i >= run.warmup else { continue }
      m.nanoseconds += t1 - t0
      m.usage = m.usage + exit.usage
      m.bytes += Int64(size)
    }
    unlink(dst)
    return m
  }
}

/// `FileManager.default.copyItem(atPath:toPath:)`.
public struct FileManagerCopySubject: Subject {
  /// Its description.
  public let info = SubjectInfo(
    id: "peer:FileManager.copyItem", family: .peer, strategy: "FileManager.copyItem",
    summary: "Foundation FileManager.copyItem(atPath:toPath:)",
    note: "creates a new destination file each time (open/create/close included)")

  /// Creates the subject.
  public init() {}

  /// File destinations only.
  public func unsupportedReason(_ cell: Cell) -> String? {
    cell.destination.isFile ? nil : "copyItem writes files only"
  }

  /// Each iteration: remove the fresh destination (untimed), copyItem, checksum it.
  public func measure(_ run: SampleRun) async throws -> SampleMeasurement {
    let dst = run.workspace.destinationPath(for: run.cell, suffix: "-new")
    var m = SampleMeasurement(iterations: run.iterations)
    let fm = FileManager.default
    for i in 0..<(run.warmup + run.iterations) {
      unlink(dst)
      if run.cold { try PageCache.drop(run.source.path) }
      let u0 = Usage.current()
      let t0 = monotonicNanoseconds()
      try fm.copyItem(atPath: run.source.path, toPath: dst)
      let t1 = monotonicNanoseconds()
      let u1 = Usage.current()
      let (size, sum) = try Workspace.checksum(path: dst)
      if let p = DestinationSession.compare(
        size: size, checksum: sum, expectedSize: run.cell.size, expected: run.source.checksum),
        m.failures.count < 3
      {
        m.failures.append("iteration \(i + 1): \(p)")
      }
      guard i >= run.warmup else { continue }
      m.nanoseconds += t1 - t0
      m.usage = m.usage + (u1 - u0)
      m.bytes += Int64(size)
    }
    unlink(dst)
    return m
  }
}

/// `FileHandle.read(upToCount:)` + `FileHandle.write(contentsOf:)` in 128 KiB chunks.
public struct FileHandleSubject: Subject {
  /// Its description.
  public let info = SubjectInfo(
    id: "peer:FileHandle", family: .peer, strategy: "FileHandle",
    summary: "Foundation FileHandle read(upToCount: 128 KiB) + write(contentsOf:) loop")

  /// Creates the subject.
  public init() {}

  /// Any destination.
  public func unsupportedReason(_ cell: Cell) -> String? { nil }

  /// In-process harness; FileHandles wrap the harness's descriptors.
  public func measure(_ run: SampleRun) async throws -> SampleMeasurement {
    try await measureInProcess(run) { s, d in
      let src = FileHandle(fileDescriptor: s, closeOnDealloc: false)
      let dst = FileHandle(fileDescriptor: d, closeOnDealloc: false)
      var total: Int64 = 0
      while let data = try src.read(upToCount: 128 << 10), !data.isEmpty {
        try dst.write(contentsOf: data)
        total += Int64(data.count)
      }
      return SubjectOutcome(bytes: total, syscalls: nil)
    }
  }
}
