// The one registry of strategies: built-ins plus whatever the program registered.

/// Every strategy this process knows, by name: the built-ins, then registered ones.
///
/// `zc copy --strategy NAME` looks names up here, `zc strategies` lists ``all``, and the
/// benchmark CLI measures every entry of ``all`` — so a registered strategy is usable and
/// measured with no other change:
///
/// ```swift
/// import ZeroCopy
///
/// /// Any strategy: here one that delegates to read/write under another name.
/// struct PreadPwrite: TransferStrategy {
///   let name = "preadPwrite", summary = "read/write under another name"
///   func support(for pair: EndpointPair) -> StrategySupport { ReadWriteStrategy().support(for: pair) }
///   func transfer(_ context: inout TransferContext) throws(ZeroCopyError) -> StrategyOutcome {
///     try ReadWriteStrategy().transfer(&context)
///   }
/// }
///
/// TransferStrategies.register(PreadPwrite())
/// let report = try await Transfer.copy(from: "a", to: "b", strategy: TransferStrategies.named("preadPwrite")!)
/// ```
public enum TransferStrategies {
  /// The built-in strategies with their default settings, `automatic` first.
  public static var builtIn: [any TransferStrategy] {
    [
      AutomaticStrategy(), ReadWriteStrategy(), MmapWriteStrategy(), SendfileStrategy(), SpliceStrategy(),
      CopyFileRangeStrategy(), ReflinkStrategy(), DirectIOStrategy(), IOURingStrategy(), IOURingSpliceStrategy(),
      SendZeroCopyStrategy(),
    ]
  }

  /// The built-ins followed by the registered strategies, in registration order.
  public static var all: [any TransferStrategy] { builtIn + registry.registered }

  /// The strategies registered with ``register(_:)``, in registration order.
  public static var registered: [any TransferStrategy] { registry.registered }

  /// Adds `strategy` to ``all`` under its ``TransferStrategy/name``, replacing a
  /// registered strategy of the same name.
  ///
  /// - Precondition: The name is not empty, contains no whitespace, and is not a
  ///   built-in's name (`automatic`, `readWrite`, …).
  public static func register(_ strategy: some TransferStrategy) {
    let name = strategy.name
    precondition(
      !name.isEmpty && !name.contains(where: \.isWhitespace),
      "TransferStrategies.register: a strategy name must be non-empty without whitespace (got '\(name)')")
    precondition(
      !builtInNames.contains(name.lowercased()),
      "TransferStrategies.register: '\(name)' is a built-in strategy's name")
    registry.add(strategy)
  }

  /// Removes the registered strategy called `name`.
  ///
  /// - Returns: Whether one was registered.
  @discardableResult
  public static func unregister(named name: String) -> Bool {
    registry.remove(name)
  }

  /// The strategy called `name` — exact match first, then ignoring case — or nil.
  public static func named(_ name: String) -> (any TransferStrategy)? {
    let candidates = all
    if let exact = candidates.first(where: { $0.name == name }) { return exact }
    let lowered = name.lowercased()
    return candidates.first { $0.name.lowercased() == lowered }
  }

  private static let builtInNames: Set<String> = Set(builtIn.map { $0.name.lowercased() })
  private static let registry = StrategyRegistry()
}

/// The registered strategies, guarded by a lock.
private final class StrategyRegistry: @unchecked Sendable {
  // @unchecked: `strategies` is guarded by `lock`.
  private let lock = Lock()
  private var strategies: [any TransferStrategy] = []

  var registered: [any TransferStrategy] { lock.withLock { strategies } }

  func add(_ strategy: some TransferStrategy) {
    lock.withLock {
      if let index = strategies.firstIndex(where: { $0.name == strategy.name }) {
        strategies[index] = strategy
      } else {
        strategies.append(strategy)
      }
    }
  }

  func remove(_ name: String) -> Bool {
    lock.withLock {
      guard let index = strategies.firstIndex(where: { $0.name == name }) else { return false }
      strategies.remove(at: index)
      return true
    }
  }
}

// MARK: - Built-ins by name: `strategy: .sendfile`

extension TransferStrategy where Self == AutomaticStrategy {
  /// Chooses by endpoint kinds and size, with fallbacks (``AutomaticStrategy``).
  public static var automatic: AutomaticStrategy { AutomaticStrategy() }
}

extension TransferStrategy where Self == ReadWriteStrategy {
  /// `read`/`write` through a 128 KiB buffer (``ReadWriteStrategy``).
  public static var readWrite: ReadWriteStrategy { ReadWriteStrategy() }
  /// `read`/`write` through a `bufferSize`-byte buffer (``ReadWriteStrategy``).
  public static func readWrite(bufferSize: Int) -> ReadWriteStrategy { ReadWriteStrategy(bufferSize: bufferSize) }
}

extension TransferStrategy where Self == MmapWriteStrategy {
  /// `mmap` + `write` (``MmapWriteStrategy``).
  public static var mmapWrite: MmapWriteStrategy { MmapWriteStrategy() }
}

extension TransferStrategy where Self == SendfileStrategy {
  /// `sendfile` (``SendfileStrategy``).
  public static var sendfile: SendfileStrategy { SendfileStrategy() }
}

extension TransferStrategy where Self == SpliceStrategy {
  /// `splice` through a pooled pipe (``SpliceStrategy``).
  public static var splice: SpliceStrategy { SpliceStrategy() }
}

extension TransferStrategy where Self == CopyFileRangeStrategy {
  /// `copy_file_range` (``CopyFileRangeStrategy``).
  public static var copyFileRange: CopyFileRangeStrategy { CopyFileRangeStrategy() }
}

extension TransferStrategy where Self == ReflinkStrategy {
  /// `ioctl(FICLONERANGE)` (``ReflinkStrategy``).
  public static var reflink: ReflinkStrategy { ReflinkStrategy() }
}

extension TransferStrategy where Self == IOURingStrategy {
  /// io_uring linked read/write pairs (``IOURingStrategy``).
  public static var ioUring: IOURingStrategy { IOURingStrategy() }
}

extension TransferStrategy where Self == IOURingSpliceStrategy {
  /// io_uring linked splice pairs (``IOURingSpliceStrategy``).
  public static var ioUringSplice: IOURingSpliceStrategy { IOURingSpliceStrategy() }
}

extension TransferStrategy where Self == SendZeroCopyStrategy {
  /// io_uring `SEND_ZC` (``SendZeroCopyStrategy``).
  public static var sendZeroCopy: SendZeroCopyStrategy { SendZeroCopyStrategy() }
}
