// Swift on the LinuxIO layer (layer 1): the same loops as the C twins, through the typed
// Swift API, so "Swift vs C" can be split into "the Swift binding" and "the Transfer layer".

import Glibc
import LinuxIO
import SystemPackage

/// One LinuxIO "all" helper as a subject.
public struct LinuxIOSubject: Subject {
  /// The twin key.
  public let strategy: String
  /// Its description.
  public let info: SubjectInfo

  /// The LinuxIO strategies (io_uring lives in higher layers).
  public static func all() -> [LinuxIOSubject] {
    [
      ("readWrite", "FileDescriptor.readWriteCopy, 128 KiB buffer"),
      ("mmapWrite", "MappedRegion + FileDescriptor.writeAll(fromMapping:)"),
      ("sendfile", "FileDescriptor.sendfileAll"),
      ("splice", "FileDescriptor.spliceAll through a 1 MiB Pipe"),
      ("copyFileRange", "FileDescriptor.copyFileRangeAll"),
    ].map { LinuxIOSubject(strategy: $0.0, summary: $0.1) }
  }

  init(strategy: String, summary: String) {
    self.strategy = strategy
    self.info = SubjectInfo(
      id: "linuxio:\(strategy)", family: .swiftLinuxIO, strategy: strategy,
      summary: "Swift LinuxIO: " + summary)
  }

  /// As the C twin.
  public func unsupportedReason(_ cell: Cell) -> String? {
    if strategy == "copyFileRange" {
      if cell.destination == .tmpfs { return "copy_file_range: EXDEV across filesystems" }
      if !cell.destination.isFile { return "copy_file_range needs a regular file destination" }
    }
    return nil
  }

  /// Runs the sample in process.
  public func measure(_ run: SampleRun) async throws -> SampleMeasurement {
    let count = TransferCount.bytes(run.cell.size)
    switch strategy {
    case "readWrite":
      let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 128 << 10, alignment: 4096)
      defer { buffer.deallocate() }
      buffer.initializeMemory(as: UInt8.self, repeating: 0)
      return try await measureInProcess(run) { s, d in
        let r = try FileDescriptor(rawValue: s).readWriteCopy(
          to: FileDescriptor(rawValue: d), sourceOffset: 0, count: count, buffer: buffer)
        return SubjectOutcome(bytes: r.bytes, syscalls: r.progress.syscalls)
      }
    case "mmapWrite":
      return try await measureInProcess(run) { s, d in
        let region = try MappedRegion(file: FileDescriptor(rawValue: s), range: 0..<Int64(run.cell.size))
        let r = try FileDescriptor(rawValue: d).writeAll(fromMapping: region, at: nil)
        try region.unmap()
        return SubjectOutcome(bytes: r.bytes, syscalls: r.progress.syscalls + 2)
      }
    case "sendfile":
      return try await measureInProcess(run) { s, d in
        let r = try FileDescriptor(rawValue: s).sendfileAll(
          to: FileDescriptor(rawValue: d), sourceOffset: 0, count: count)
        return SubjectOutcome(bytes: r.bytes, syscalls: r.progress.syscalls)
      }
    case "splice":
      let pipe = try Pipe()
      _ = try? pipe.setCapacity(max(Pipe.maximumCapacity, 1 << 16))
      let direct = run.cell.destination == .pipe
      return try await measureInProcess(run) { s, d in
        let src = FileDescriptor(rawValue: s)
        let dst = FileDescriptor(rawValue: d)
        let r: TransferResult
        if direct {
          r = try src.spliceAll(to: dst, sourceOffset: 0, count: count)
        } else {
          r = try src.spliceAll(to: dst, sourceOffset: 0, count: count, through: pipe)
        }
        return SubjectOutcome(bytes: r.bytes, syscalls: r.progress.syscalls)
      }
    case "copyFileRange":
      return try await measureInProcess(run) { s, d in
        let r = try FileDescriptor(rawValue: s).copyFileRangeAll(
          to: FileDescriptor(rawValue: d), sourceOffset: 0, count: count)
        return SubjectOutcome(bytes: r.bytes, syscalls: r.progress.syscalls)
      }
    default:
      throw BenchError("unknown LinuxIO strategy \(strategy)")
    }
  }
}
