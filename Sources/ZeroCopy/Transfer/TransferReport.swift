// What a transfer did: which strategy moved the bytes, how many, with how many syscalls,
// how long it took, and every fallback on the way.

public import SystemPackage

/// The account of a finished transfer.
///
/// ```swift
/// import ZeroCopy
///
/// let report = try await Transfer.copy(from: "big.log", to: "/dev/shm/big.log")
/// print(report)   // sendfile: 1073741824 bytes in 129 syscalls, 0.41 s (2.6 GB/s); fell back from copyFileRange (EXDEV)
/// ```
public struct TransferReport: Sendable, Hashable, CustomStringConvertible {
  /// A strategy that was tried and abandoned before it delivered any byte.
  public struct Fallback: Sendable, Hashable, CustomStringConvertible {
    /// The abandoned strategy's name.
    public var strategy: String
    /// The errno that made it give up; nil when it was skipped without a system call
    /// (it does not support the endpoint kinds) or moved 0 bytes from a non-empty source.
    public var errno: Errno?
    /// The system call that failed, if any.
    public var syscall: String?
    /// Why it was abandoned, in words.
    public var reason: String

    /// Creates a fallback record.
    public init(strategy: String, errno: Errno?, syscall: String?, reason: String) {
      self.strategy = strategy
      self.errno = errno
      self.syscall = syscall
      self.reason = reason
    }

    /// "strategy (syscall: errno): reason".
    public var description: String {
      var s = strategy
      if let errno { s += " (\(syscall.map { "\($0): " } ?? "")\(errno.symbolicName))" }
      return s + ": " + reason
    }
  }

  /// The name of the strategy that moved the bytes (after any fallback).
  public var strategy: String
  /// The name of the strategy the caller asked for (`automatic`, or the one named).
  public var requestedStrategy: String
  /// Bytes delivered to the destination.
  public var bytes: Int64
  /// The bytes asked for, or nil for "until the source ends".
  public var requestedBytes: Int64?
  /// Whether the source ended before `requestedBytes` (it is shorter than the range
  /// asked for, or was truncated meanwhile). Never true for "until the end".
  public var sourceEndedEarly: Bool
  /// Data-path system calls made, by every strategy tried (see ``TransferContext/syscalls``).
  public var syscalls: Int
  /// Wall time from the call to its return, including inspection and fallbacks.
  public var elapsed: Duration
  /// Every strategy abandoned before the bytes moved, in order, with its errno.
  public var fallbacks: [Fallback]
  /// Remarks by the strategy (for example SEND_ZC's copied-notification count).
  public var notes: [String]
  /// The source's kind.
  public var sourceKind: TransferEndpoint.Kind
  /// The destination's kind.
  public var destinationKind: TransferEndpoint.Kind
  /// For a file copy (``Transfer/copy(from:to:strategy:options:)``): whether the data was
  /// cloned, copied in the kernel, copied through user space or not copied, and why not a
  /// faster way (``DataPath``). Nil for other transfers.
  public var dataPath: DataPath?
  /// The profile `.automatic`'s table decided with — a profile file's path (`zc
  /// calibrate`), `built-in`, or `explicit parameters` — when the automatic choice ran
  /// (`.automatic`, or a named strategy that fell back to its candidates); nil otherwise.
  /// When a profile file was found but not used, ``notes`` says why.
  public var profile: String?

  /// Creates a report (the transfer API does this; public for custom front ends and tests).
  public init(
    strategy: String, requestedStrategy: String, bytes: Int64, requestedBytes: Int64?, sourceEndedEarly: Bool,
    syscalls: Int, elapsed: Duration, fallbacks: [Fallback], notes: [String],
    sourceKind: TransferEndpoint.Kind, destinationKind: TransferEndpoint.Kind, profile: String? = nil,
    dataPath: DataPath? = nil
  ) {
    self.strategy = strategy
    self.requestedStrategy = requestedStrategy
    self.bytes = bytes
    self.requestedBytes = requestedBytes
    self.sourceEndedEarly = sourceEndedEarly
    self.syscalls = syscalls
    self.elapsed = elapsed
    self.fallbacks = fallbacks
    self.notes = notes
    self.sourceKind = sourceKind
    self.destinationKind = destinationKind
    self.profile = profile
    self.dataPath = dataPath
  }

  /// Elapsed time in seconds.
  public var seconds: Double {
    let c = elapsed.components
    return Double(c.seconds) + Double(c.attoseconds) / 1e18
  }

  /// Throughput in bytes per second (0 when nothing took measurable time).
  public var bytesPerSecond: Double {
    seconds > 0 ? Double(bytes) / seconds : 0
  }

  /// One line: "strategy: N bytes in S syscalls, T s (R); fell back from …; notes; profile P".
  public var description: String {
    var s = "\(strategy): \(bytes) bytes in \(syscalls) syscalls, \(formatSeconds(seconds)) (\(formatRate(bytesPerSecond)))"
    if sourceEndedEarly, let requested = requestedBytes { s += "; the source ended before \(requested) bytes" }
    if !fallbacks.isEmpty { s += "; fell back from " + fallbacks.map(\.description).joined(separator: ", ") }
    if let dataPath { s += "; \(dataPath)" }
    if !notes.isEmpty { s += "; " + notes.joined(separator: "; ") }
    if let profile { s += "; profile \(profile)" }
    return s
  }

  /// The report as one JSON object on one line (what `zc copy --json` prints):
  /// `{"strategy":"sendfile","requestedStrategy":"automatic","bytes":…,"requestedBytes":…|null,
  /// "sourceEndedEarly":false,"syscalls":…,"elapsedSeconds":…,"bytesPerSecond":…,
  /// "sourceKind":"file","destinationKind":"file","fallbacks":[{"strategy":…,"errno":18|null,
  /// "errnoName":"EXDEV"|null,"syscall":…|null,"reason":…}],"notes":[…],"profile":"built-in"|…|null}`,
  /// and for a file copy `"dataPath":{"kind":"cloned"|"partlyCloned"|"kernel"|"userSpace"|"notCopied","reason":…|null}`.
  public var json: String {
    var fields: [String] = []
    fields.append("\"strategy\":\(jsonString(strategy))")
    fields.append("\"requestedStrategy\":\(jsonString(requestedStrategy))")
    fields.append("\"bytes\":\(bytes)")
    fields.append("\"requestedBytes\":\(requestedBytes.map { "\($0)" } ?? "null")")
    fields.append("\"sourceEndedEarly\":\(sourceEndedEarly)")
    fields.append("\"syscalls\":\(syscalls)")
    fields.append("\"elapsedSeconds\":\(jsonNumber(seconds))")
    fields.append("\"bytesPerSecond\":\(jsonNumber(bytesPerSecond))")
    fields.append("\"sourceKind\":\(jsonString(sourceKind.description))")
    fields.append("\"destinationKind\":\(jsonString(destinationKind.description))")
    let fallbackObjects = fallbacks.map { f in
      "{\"strategy\":\(jsonString(f.strategy)),\"errno\":\(f.errno.map { "\($0.rawValue)" } ?? "null"),"
        + "\"errnoName\":\(f.errno.map { jsonString($0.symbolicName) } ?? "null"),"
        + "\"syscall\":\(f.syscall.map(jsonString) ?? "null"),\"reason\":\(jsonString(f.reason))}"
    }
    fields.append("\"fallbacks\":[\(fallbackObjects.joined(separator: ","))]")
    fields.append("\"notes\":[\(notes.map(jsonString).joined(separator: ","))]")
    fields.append("\"profile\":\(profile.map(jsonString) ?? "null")")
    if let dataPath {
      fields.append(
        "\"dataPath\":{\"kind\":\(jsonString(dataPath.kind.rawValue)),\"reason\":\(dataPath.reason.map(jsonString) ?? "null")}")
    }
    return "{" + fields.joined(separator: ",") + "}"
  }
}

// MARK: - Formatting helpers (shared with zc through the public API's descriptions)

internal func formatSeconds(_ s: Double) -> String {
  if s < 0.001 { return "\(Int((s * 1_000_000).rounded())) µs" }
  if s < 1 { return "\(roundTo(s * 1000, 2)) ms" }
  return "\(roundTo(s, 2)) s"
}

internal func formatRate(_ bytesPerSecond: Double) -> String {
  if bytesPerSecond >= 1e9 { return "\(roundTo(bytesPerSecond / 1e9, 2)) GB/s" }
  if bytesPerSecond >= 1e6 { return "\(roundTo(bytesPerSecond / 1e6, 1)) MB/s" }
  if bytesPerSecond >= 1e3 { return "\(roundTo(bytesPerSecond / 1e3, 1)) kB/s" }
  return "\(Int(bytesPerSecond)) B/s"
}

private func roundTo(_ value: Double, _ digits: Int) -> Double {
  var scale = 1.0
  for _ in 0..<digits { scale *= 10 }
  return (value * scale).rounded() / scale
}

private func jsonNumber(_ value: Double) -> String {
  value.isFinite ? "\(value)" : "0"
}

internal func jsonString(_ value: String) -> String {
  var out = "\""
  for scalar in value.unicodeScalars {
    switch scalar {
    case "\"": out += "\\\""
    case "\\": out += "\\\\"
    case "\n": out += "\\n"
    case "\r": out += "\\r"
    case "\t": out += "\\t"
    default:
      if scalar.value < 0x20 {
        let hex = String(scalar.value, radix: 16)
        out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
      } else {
        out.unicodeScalars.append(scalar)
      }
    }
  }
  return out + "\""
}
