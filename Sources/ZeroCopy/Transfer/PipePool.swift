// A bounded pool of sized pipes for splice's intermediate hop.

import Glibc
public import LinuxIO
import SystemPackage

/// A bounded pool of pipes, each sized with `F_SETPIPE_SZ` (1 MiB, or
/// `/proc/sys/fs/pipe-max-size` if smaller), for the `splice` strategies' hop between two
/// descriptors that are not pipes.
///
/// Creating a pipe per transfer costs two descriptors, a `pipe2` and an `fcntl`, and
/// thousands of concurrent transfers would each hold a 1 MiB pipe: past
/// `/proc/sys/fs/pipe-user-pages-soft` the kernel refuses to size them (`EPERM`) and
/// shrinks new ones to one page. The pool keeps at most ``maximumPipes`` pipes in
/// existence; a transfer that finds none free **waits** for one (transfers run on a bounded
/// set of worker threads, so with the default limit the async API never waits). A pipe
/// comes back empty — the splice helpers drain it on every path — and one that is not
/// empty after a failed transfer is closed instead of pooled.
///
/// Idle pipes stay open for reuse; ``closeIdlePipes()`` closes them (tests that count
/// descriptors call it).
public final class PipePool: @unchecked Sendable {
  // @unchecked: every mutable field is guarded by `lock`.

  /// The pool the built-in splice strategies use: 16 pipes of up to 1 MiB.
  ///
  /// Fork-safe: `pthread_atfork` handlers hold its lock across `fork(2)`, so a forked child
  /// never inherits it locked by a thread it does not have; in the child, the first use
  /// drops the inherited pipes (see `acquire`).
  public static let shared: PipePool = {
    let pool = PipePool(maximumPipes: 16, capacity: 1 << 20)
    _ = pthread_atfork(
      { PipePool.shared.lock.lock() },
      { PipePool.shared.lock.unlock() },
      { PipePool.shared.lock.unlock() })
    return pool
  }()

  /// The most pipes that exist at once (idle plus in use).
  public let maximumPipes: Int
  /// The capacity asked for each pipe: the requested capacity, capped at
  /// `/proc/sys/fs/pipe-max-size`.
  public let capacity: Int

  private let lock = Lock()
  private let returned = Condition()
  private var idle: [(readEnd: FileDescriptor, writeEnd: FileDescriptor)] = []  // guarded by lock
  private var inUse = 0  // guarded by lock
  /// The process the pooled pipes belong to (`ForkGeneration`: no `getpid` per transfer).
  private var ownerGeneration = ForkGeneration.current  // guarded by lock

  /// Creates a pool.
  ///
  /// - Parameters:
  ///   - maximumPipes: The most pipes in existence at once. - Precondition: > 0.
  ///   - capacity: The capacity to give each pipe (capped at `pipe-max-size`; if the
  ///     kernel refuses, the pipe keeps its default 64 KiB). - Precondition: > 0.
  public init(maximumPipes: Int, capacity: Int) {
    precondition(maximumPipes > 0, "PipePool: maximumPipes must be positive")
    precondition(capacity > 0, "PipePool: capacity must be positive")
    self.maximumPipes = maximumPipes
    let limit = (try? Pipe.maximumCapacity) ?? capacity
    self.capacity = Swift.min(capacity, limit)
  }

  /// Pipes waiting in the pool.
  public var idleCount: Int { lock.withLock { idle.count } }
  /// Pipes lent out right now.
  public var inUseCount: Int { lock.withLock { inUse } }

  /// Calls `body` with an empty pipe from the pool, waiting for one if ``maximumPipes``
  /// are in use, and takes it back afterwards (closing it if `body` left bytes in it).
  ///
  /// - Throws: What `body` throws, or a ``ZeroCopyError`` (operation `transfer`, syscall
  ///   `pipe2`) with `EMFILE`/`ENFILE` when no pipe can be created.
  ///
  /// The corresponding C functions are `pipe2` and `fcntl(F_SETPIPE_SZ)` (for a new pipe)
  /// and `ioctl(FIONREAD)` (to check that a returned pipe is empty).
  public func withPipe<R>(_ body: (borrowing Pipe) throws(ZeroCopyError) -> R) throws(ZeroCopyError) -> R {
    try withPipe(discardingOn: { _ in false }, body)
  }

  /// ``withPipe(_:)`` for a `body` that moves bytes through the pipe only with LinuxIO's
  /// splice helpers (`zc_splice_all`), which deliver every byte they pull into it when they
  /// succeed: the pipe is checked for bytes left behind (`ioctl(FIONREAD)`) only after a
  /// failure. (`zc_splice_all` also refuses a pipe that is not empty, with `EBUSY`.)
  internal func withSplicedPipe<R>(_ body: (borrowing Pipe) throws(ZeroCopyError) -> R) throws(ZeroCopyError) -> R {
    try withPipe(discardingOn: { _ in false }, checksEmptyAfterSuccess: false, body)
  }

  /// ``withPipe(_:)``, closing the pipe instead of pooling it when `body` throws an error
  /// for which `discard` is true (an io_uring ring that failed with a splice into the
  /// pipe possibly still in flight).
  internal func withPipe<R>(
    discardingOn discard: (ZeroCopyError) -> Bool, checksEmptyAfterSuccess: Bool = true,
    _ body: (borrowing Pipe) throws(ZeroCopyError) -> R
  ) throws(ZeroCopyError) -> R {
    let pipe = try acquire()
    let result: Result<R, ZeroCopyError>
    do {
      result = .success(try body(pipe))
    } catch {
      result = .failure(error)
    }
    if case .failure(let error) = result, discard(error) {
      pipe.closeQuietly()
      lock.withLock {
        inUse -= 1
        returned.signal()
      }
    } else {
      release(pipe, checkEmpty: checksEmptyAfterSuccess || result.isFailure)
    }
    return try result.get()
  }

  /// Closes every idle pipe (pipes in use are not affected and return to the pool later).
  ///
  /// The corresponding C function is `close`.
  public func closeIdlePipes() {
    let taken = lock.withLock {
      let list = idle
      idle.removeAll()
      returned.broadcast()
      return list
    }
    for ends in taken { Pipe(takingOwnershipOf: ends.readEnd, ends.writeEnd).closeQuietly() }
  }

  private func acquire() throws(ZeroCopyError) -> Pipe {
    lock.lock()
    // After fork(2) the child inherits the parent's pooled pipes: the same kernel pipes,
    // shared with the parent, so two processes splicing through one pipe would mix their
    // bytes. The child forgets them (closing its copies) and starts an empty pool; pipes
    // the parent's other threads were using at fork time belong to threads the child
    // does not have, so they are not counted either.
    let generation = ForkGeneration.current
    if generation != ownerGeneration {
      ownerGeneration = generation
      for ends in idle {
        try? ends.readEnd.close()
        try? ends.writeEnd.close()
      }
      idle.removeAll()
      inUse = 0
    }
    while idle.isEmpty && inUse >= maximumPipes { lock.wait(returned) }
    inUse += 1
    if let ends = idle.popLast() {
      lock.unlock()
      return Pipe(takingOwnershipOf: ends.readEnd, ends.writeEnd)
    }
    lock.unlock()
    do {
      let pipe = try Pipe()
      _ = try? pipe.setCapacity(capacity)  // EPERM past the per-user limit: keep 64 KiB
      return pipe
    } catch {
      lock.withLock {
        inUse -= 1
        returned.signal()
      }
      throw ZeroCopyError(.transfer, syscall: "pipe2", errno: error, message: "cannot create a pipe for splice")
    }
  }

  private func release(_ pipe: consuming Pipe, checkEmpty: Bool) {
    // A body that may skip the check promises an empty pipe after a success: debug builds
    // (every test run) hold it to that.
    assert(checkEmpty || (try? pipe.readableBytes) == 0, "PipePool: a pipe returned after a success is not empty")
    let empty = !checkEmpty || (try? pipe.readableBytes) == 0
    if !empty {
      pipe.closeQuietly()
      lock.withLock {
        inUse -= 1
        returned.signal()
      }
      return
    }
    let ends = pipe.releaseDescriptors()
    lock.withLock {
      inUse -= 1
      idle.append(ends)
      returned.signal()
    }
  }
}

extension Result {
  fileprivate var isFailure: Bool {
    if case .failure = self { return true }
    return false
  }
}

extension Pipe {
  /// Closes both ends, ignoring errors (nothing can be done about a failed close).
  internal consuming func closeQuietly() {
    do { try close() } catch {}
  }
}
