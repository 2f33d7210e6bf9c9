// What is measured: destination kinds, sizes, cells, and the plan of a run.

import Foundation

/// Where a transfer's bytes go.
public enum Destination: String, Codable, CaseIterable, Sendable, Comparable {
  /// A file on the source's filesystem (the temporary directory; ext4 here).
  case file = "file"
  /// A file on a tmpfs mount (/dev/shm), when one is available.
  case tmpfs = "tmpfs"
  /// A TCP loopback socket to a receiver process that checksums every byte (read loop).
  case tcpRead = "tcp-read"
  /// A TCP loopback socket to a receiver process that splices to /dev/null (counts only).
  case tcpSplice = "tcp-splice"
  /// A pipe to a reader process that checksums every byte.
  case pipe = "pipe"
  /// /dev/null: overhead only.
  case devNull = "devnull"

  /// A short title for tables.
  public var title: String {
    switch self {
    case .file: return "file → file (same filesystem)"
    case .tmpfs: return "file → tmpfs file"
    case .tcpRead: return "file → TCP loopback (read receiver)"
    case .tcpSplice: return "file → TCP loopback (splice receiver)"
    case .pipe: return "file → pipe"
    case .devNull: return "file → /dev/null (overhead only)"
    }
  }

  /// How a run to this destination is verified.
  public var verification: Verification {
    switch self {
    case .file, .tmpfs, .tcpRead, .pipe: return .checksum
    case .tcpSplice, .devNull: return .byteCount
    }
  }

  /// Whether the destination is a regular file.
  public var isFile: Bool { self == .file || self == .tmpfs }
  /// Whether the destination is a socket.
  public var isSocket: Bool { self == .tcpRead || self == .tcpSplice }
  /// Whether a receiver process reads what the subject sends (TCP and pipes).
  public var hasReceiver: Bool { isSocket || self == .pipe }

  private var order: Int { Destination.allCases.firstIndex(of: self)! }
  /// Declaration order.
  public static func < (a: Destination, b: Destination) -> Bool { a.order < b.order }
}

/// How a run's output was checked.
public enum Verification: String, Codable, Sendable {
  /// Every byte: the destination's zc64 checksum equals the source's.
  case checksum
  /// Only the byte count (the sink never looks at the data): "unverifiable" content.
  case byteCount = "byte-count"
}

/// One cell of the matrix: a destination and a transfer size.
public struct Cell: Hashable, Codable, Sendable, Comparable, CustomStringConvertible {
  /// Where the bytes go.
  public var destination: Destination
  /// Bytes per transfer.
  public var size: Int

  /// Creates a cell.
  public init(_ destination: Destination, _ size: Int) {
    self.destination = destination
    self.size = size
  }

  /// "file 64 KiB".
  public var description: String { "\(destination.rawValue) \(formatSize(size))" }

  /// Destination order, then size.
  public static func < (a: Cell, b: Cell) -> Bool {
    (a.destination, a.size) < (b.destination, b.size)
  }
}

/// Run modes.
public enum Mode: String, Codable, Sendable, CaseIterable {
  /// A seconds-long subset for tests (`--smoke`).
  case smoke
  /// About a minute (`--quick`).
  case quick
  /// The default run (`make bench`), at most about five minutes.
  case standard = "default"
  /// Everything, including 1 GiB to every destination.
  case full
}

/// The random 4 KiB read workload's plan.
public struct ReadPlan: Codable, Sendable, Hashable {
  /// Size of the page-cached file read at random offsets.
  public var fileSize: Int
  /// Reads per sample.
  public var operations: Int
  /// Queue depths for io_uring.
  public var queueDepths: [Int]
}

/// What one run measures.
public struct Plan: Codable, Sendable {
  /// The mode the plan was made for.
  public var mode: Mode
  /// Rounds: every subject is measured once per round, in rotated order.
  public var rounds: Int
  /// The transfer matrix, in run order.
  public var cells: [Cell]
  /// The random-read workload, if any.
  public var reads: ReadPlan?
  /// The many-connections workload, if any (nil in older results).
  public var concurrent: ConcurrentPlan?
  /// Drop the source's pages before every transfer (posix_fadvise DONTNEED).
  public var cold: Bool
  /// The minimum timed duration of one sample; small transfers repeat until they reach it.
  public var targetSampleNanoseconds: UInt64
  /// The largest size the LinuxIO-layer subjects run at (nil: every size). The default
  /// mode stops them below 1 GiB to stay within five minutes: at that size they run the
  /// same syscall loops as the C twins.
  public var linuxIOMaxSize: Int?
  /// The CPUs of the TCP and pipe cells' senders and receivers (``CPUPlacement``); nil when
  /// the scheduler placed them (`--unpinned`, one CPU, and every run before the evening of 2026-12-07).
  public var receiverPlacement: CPUPlacement?

  /// The plan for `mode`, restricted to destinations that exist here.
  public static func make(
    mode: Mode, cold: Bool, tmpfsAvailable: Bool, destinations: [Destination]? = nil,
    sizes: [Int]? = nil, rounds: Int? = nil, reads: Bool = true, concurrent: Bool = true
  ) -> Plan {
    let KiB = 1 << 10, MiB = 1 << 20, GiB = 1 << 30
    var cells: [Cell] = []
    var dests: [Destination] = Destination.allCases
    if !tmpfsAvailable { dests.removeAll { $0 == .tmpfs } }
    let baseSizes: [Int]
    let bigCells: Set<Destination>
    var readPlan: ReadPlan?
    var concurrentPlan: ConcurrentPlan?
    var defaultRounds: Int
    switch mode {
    case .smoke:
      baseSizes = [4 * KiB, 1 * MiB]
      dests = dests.filter { [.file, .tcpRead, .pipe, .devNull].contains($0) }
      bigCells = []
      readPlan = ReadPlan(fileSize: 16 * MiB, operations: 4000, queueDepths: [1, 32])
      concurrentPlan = ConcurrentPlan(connections: 32, size: 64 * KiB, iterations: 1)
      defaultRounds = 3
    case .quick:
      baseSizes = [4 * KiB, 64 * KiB, 1 * MiB, 64 * MiB]
      bigCells = []
      readPlan = ReadPlan(fileSize: 64 * MiB, operations: 10_000, queueDepths: [1, 8, 32])
      concurrentPlan = ConcurrentPlan(connections: 256, size: 64 * KiB, iterations: 2)
      defaultRounds = 3
    case .standard:
      baseSizes = [4 * KiB, 64 * KiB, 1 * MiB, 64 * MiB]
      bigCells = [.file]
      readPlan = ReadPlan(fileSize: 1 * GiB, operations: 20_000, queueDepths: [1, 8, 32])
      concurrentPlan = ConcurrentPlan(connections: 256, size: 64 * KiB, iterations: 4)
      defaultRounds = 5
    case .full:
      baseSizes = [4 * KiB, 64 * KiB, 1 * MiB, 64 * MiB]
      bigCells = Set(Destination.allCases)
      readPlan = ReadPlan(fileSize: 1 * GiB, operations: 50_000, queueDepths: [1, 8, 32])
      concurrentPlan = ConcurrentPlan(connections: 256, size: 64 * KiB, iterations: 8)
      defaultRounds = 7
    }
    if let destinations { dests = dests.filter { destinations.contains($0) } }
    for d in dests {
      var s = baseSizes
      if bigCells.contains(d) { s.append(1 * GiB) }
      if let sizes { s = sizes }
      for size in s { cells.append(Cell(d, size)) }
    }
    if !reads { readPlan = nil }
    if !concurrent { concurrentPlan = nil }
    // Quick modes aim at 10 ms of timed transfers per sample, the others at 20 ms.
    let target: UInt64 = mode == .quick || mode == .smoke ? 10_000_000 : 20_000_000
    return Plan(
      mode: mode, rounds: rounds ?? defaultRounds, cells: cells, reads: readPlan, concurrent: concurrentPlan, cold: cold,
      targetSampleNanoseconds: target, linuxIOMaxSize: mode == .full || sizes != nil ? nil : 64 * MiB)
  }
}

/// "4 KiB", "64 MiB", "1 GiB", or "N B".
public func formatSize(_ bytes: Int) -> String {
  let units = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")]
  for (u, name) in units where bytes >= u && bytes % u == 0 { return "\(bytes / u) \(name)" }
  return "\(bytes) B"
}

/// Parses "4k", "64KiB", "1m", "1g", "4096".
public func parseSize(_ text: String) -> Int? {
  let t = text.lowercased().replacingOccurrences(of: " ", with: "")
  let units: [(String, Int)] = [
    ("kib", 1 << 10), ("mib", 1 << 20), ("gib", 1 << 30), ("k", 1 << 10), ("m", 1 << 20),
    ("g", 1 << 30), ("b", 1),
  ]
  for (suffix, mult) in units where t.hasSuffix(suffix) {
    guard let n = Int(t.dropLast(suffix.count)) else { return nil }
    return n * mult
  }
  return Int(t)
}
