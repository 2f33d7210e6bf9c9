// Telling a forked child from its parent without a system call.

import Glibc
import Synchronization

/// A number that changes in a child created by `fork(2)`: state tied to the process
/// (pooled pipes, io_uring rings, whose kernel objects a child would share with its parent)
/// records the generation it was made in and is dropped when the current one differs.
///
/// Reading it costs an atomic load, where `getpid()` — the usual check — is a system call
/// on glibc ≥ 2.25 (139 ns here: Docs/LinuxFacts.md, "Endpoint inspection and per-call
/// costs"). The value is kept by a `pthread_atfork` child handler registered on first use,
/// so it sees every child made by glibc's `fork` (and `vfork`/`posix_spawn` children, which
/// exec before touching any of this); a child made by a raw `clone` system call without
/// glibc is not seen — such a child cannot use glibc's locks either.
///
/// The corresponding C function is `pthread_atfork`.
public enum ForkGeneration {
  private static let counter = Atomic<UInt64>(0)
  private static let registered: Bool = {
    _ = pthread_atfork(nil, nil, { ForkGeneration.counter.add(1, ordering: .relaxed) })
    return true
  }()

  /// The generation of this process: 0 in a process that never forked from one using this
  /// library; one more in each child than in the process it was forked from.
  public static var current: UInt64 {
    _ = registered
    return counter.load(ordering: .relaxed)
  }
}
