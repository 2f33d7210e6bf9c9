// `.automatic`'s choice for one prepared pair, made once per size class and reused: the
// decision reads the endpoints' kinds and facts (fixed for a prepared pair), the table's
// parameters, one `fstatfs` of the destination when it changes the row (the filesystem of
// an open descriptor never changes; a cached plan pays it for a small copy too, which a
// one-shot plan does not), and the byte count only through its comparisons with the
// crossover parameters.

import LinuxIO
import Synchronization

/// The strategies `.automatic` tries for a ``PreparedTransfer``'s pair, computed once per
/// size class (``sizeClass(_:parameters:)``) and read without a lock afterwards.
///
/// Each class has a slot that is set once: the first transfer of that class computes the
/// plan (``AutomaticStrategy/plan(for:bytes:)``) and publishes it with a compare-and-swap
/// (a transfer racing it computes the same plan and drops its copy); every later one loads
/// it (an acquiring load). A slot remembers the parameters it was computed with: a run with
/// an `AutomaticStrategy` of other parameters (another profile) computes its plan without
/// the cache, so a decision is never taken from another profile's table. Fallbacks do not
/// change the cached plan: each run tries the candidates in order again (the kernel may
/// refuse a call for one range and not another), as an uncached run does.
internal final class AutomaticPlanCache: @unchecked Sendable {
  // @unchecked: `slots` is written only at init and deinit; between them every access is
  // through the atomics it points to.

  /// One published plan (immutable).
  private final class Entry: Sendable {
    let parameters: TransferPlan.Parameters
    let strategies: [any TransferStrategy]

    init(parameters: TransferPlan.Parameters, strategies: [any TransferStrategy]) {
      self.parameters = parameters
      self.strategies = strategies
    }
  }

  /// The parameters a row's size test may compare with.
  private static let crossovers = TransferPlan.Parameter.crossovers
  /// The number of size classes: one bit per crossover parameter.
  internal static let classCount = 1 << crossovers.count

  /// One slot per size class; each holds a retained ``Entry`` once set, released at deinit.
  private let slots: UnsafeMutablePointer<Atomic<Unmanaged<Entry>?>>
  /// How many plans were computed (for tests: a cached run computes none).
  private let computed = Atomic<Int>(0)

  internal init() {
    slots = .allocate(capacity: Self.classCount)
    for i in 0..<Self.classCount { (slots + i).initialize(to: Atomic(nil)) }
  }

  deinit {
    for i in 0..<Self.classCount { slots[i].load(ordering: .acquiring)?.release() }
    slots.deinitialize(count: Self.classCount)
    slots.deallocate()
  }

  /// How many plans this cache has computed.
  internal var computations: Int { computed.load(ordering: .relaxed) }

  /// The size class of a transfer of `bytes` (nil: unknown): bit *i* set when the size is
  /// known and at most crossover *i* (`TransferPlan.Parameter.crossovers`). The table's
  /// rows test the size only that way (`ZC_SIZE_AT_MOST`: known and ≤ the parameter;
  /// `ZC_SIZE_ABOVE`: unknown or >), so two sizes of one class get the same plan.
  internal static func sizeClass(_ bytes: Int64?, parameters: TransferPlan.Parameters) -> Int {
    guard let bytes else { return 0 }
    let size = Swift.max(0, bytes)
    var sizeClass = 0
    for (bit, crossover) in Self.crossovers.enumerated() where size <= parameters[crossover] { sizeClass |= 1 << bit }
    return sizeClass
  }

  /// `automatic`'s plan for `pair` and `bytes`: the cached one of this size class, or
  /// computed now (and cached, when the slot is free or holds the same parameters' plan).
  internal func strategies(
    _ automatic: AutomaticStrategy, for pair: EndpointPair, bytes: Int64?
  ) -> [any TransferStrategy] {
    let parameters = automatic.parameters
    let slot = Self.sizeClass(bytes, parameters: parameters)
    if let entry = slots[slot].load(ordering: .acquiring)?.takeUnretainedValue() {
      if entry.parameters == parameters { return entry.strategies }
      computed.add(1, ordering: .relaxed)
      // Made for this transfer only (not cached): as a one-shot transfer's plan.
      return automatic.plan(for: pair, bytes: bytes, reused: false)
    }
    computed.add(1, ordering: .relaxed)
    let strategies = automatic.plan(for: pair, bytes: bytes, reused: true)
    let entry = Unmanaged.passRetained(Entry(parameters: parameters, strategies: strategies))
    if !slots[slot].compareExchange(expected: nil, desired: entry, ordering: .acquiringAndReleasing).exchanged {
      entry.release()
    }
    return strategies
  }
}
