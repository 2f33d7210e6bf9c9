// The fallback engine: blocking system calls on a small thread pool.

import Glibc
import LinuxIO
import Synchronization
import SystemPackage

/// Runs operations as blocking system calls when io_uring cannot be used.
///
/// - **Workers** (`threadPoolSize` threads) run operations that finish in bounded time:
///   reads and writes of regular files and block devices, `fsync`, `open`, `connect`.
/// - **One poller thread** owns operations on descriptors that can wait for a peer
///   indefinitely (pipes, FIFOs, sockets, terminals). It waits for their readiness with
///   `poll(2)` together with a wake-up pipe, then performs them without blocking
///   (`MSG_DONTWAIT` on sockets; on pipes a read after `POLLIN`, and writes of at most
///   `PIPE_BUF` bytes while `POLLOUT` holds). So such operations never occupy a worker, can
///   always be cancelled, and a reader can never be starved by blocked writers.
///
/// Cancellation: an operation still queued or still waiting for readiness completes at once
/// with `ECANCELED`; one whose system call is running completes with that call's result.
internal final class PoolBackend: @unchecked Sendable {
  // @unchecked: every mutable field is guarded by `lock`, or confined to the poller thread.

  let configuration: IOEngine.Configuration
  private let lock = Lock()
  private let workAvailable = Condition()
  // Guarded by lock:
  private var queue: [Operation] = []
  private var queueHead = 0
  private var pollerInbox: [Operation] = []
  private var pollerWakePending = false
  private var stopping = false
  private var liveThreads = 0
  private var shutdownWaiters: [UnsafeContinuation<Void, Never>] = []
  private var finished = false
  private var completedCount = 0
  private var submittedCount = 0
  private var syscallCount = 0
  private var wakeUpCount = 0
  // The poller's wake-up pipe; nil when the process had no descriptor left for it at start
  // (EMFILE/ENFILE): the poller then sleeps on `pollerWork` while it watches nothing, and
  // polls with a `degradedPollMilliseconds` timeout while it does.
  private let wakeReadEnd: FileDescriptor?
  private let wakeWriteEnd: FileDescriptor?
  private let pollerWork = Condition()
  /// Why the poller has no wake-up pipe (nil when it has one).
  let wakePipeFailure: Errno?
  /// The poll timeout without a wake-up pipe: how late the poller may notice a new or
  /// cancelled operation while it already watches others.
  static let degradedPollMilliseconds: Int32 = 10

  private init(
    configuration: IOEngine.Configuration, wakeEnds: (readEnd: FileDescriptor, writeEnd: FileDescriptor)?, failure: Errno?
  ) {
    self.configuration = configuration
    self.wakeReadEnd = wakeEnds?.readEnd
    self.wakeWriteEnd = wakeEnds?.writeEnd
    self.wakePipeFailure = failure
  }

  /// Why ``start(_:)`` failed: the system call that failed, and its errno.
  struct StartFailure: Error {
    let syscall: String
    let errno: Errno
  }

  static func start(_ configuration: IOEngine.Configuration) -> Result<PoolBackend, StartFailure> {
    var ends: (readEnd: FileDescriptor, writeEnd: FileDescriptor)?
    var failure: Errno?
    do {
      ends = try Pipe(nonBlocking: true).releaseDescriptors()
    } catch  where error == .tooManyOpenFiles || error == .tooManyOpenFilesInSystem {
      // No descriptor left: start anyway, with a poller that needs none (see wakeReadEnd).
      failure = error
    } catch {
      return .failure(StartFailure(syscall: "pipe2", errno: error))
    }
    let pool = PoolBackend(configuration: configuration, wakeEnds: ends, failure: failure)
    let threads = configuration.threadPoolSize + 1
    pool.liveThreads = threads
    for i in 0..<threads {
      let name = i == 0 ? "\(configuration.name)-poll" : "\(configuration.name)-\(i)"
      let result = startThread(name: name, cpu: configuration.cpu) {
        if i == 0 { pool.pollerLoop() } else { pool.workerLoop() }
        pool.threadExited()
      }
      if case .failure(let errno) = result {
        // Stop the threads already started; they close the pipe when the last one exits.
        pool.lock.withLock {
          pool.liveThreads -= threads - i
          pool.stopping = true
          pool.workAvailable.broadcast()
          pool.wakePollerLocked()
        }
        if i == 0 {
          _ = try? ends?.readEnd.close()
          _ = try? ends?.writeEnd.close()
        }
        return .failure(StartFailure(syscall: "pthread_create", errno: errno))
      }
    }
    return .success(pool)
  }

  // MARK: - Submission and cancellation

  func submit(_ op: Operation) {
    lock.lock()
    if stopping {
      lock.unlock()
      op.finish(result: .negated(.canceled))
      return
    }
    submittedCount += 1
    if PoolBackend.needsPolling(op) {
      op.poolState = .polling
      pollerInbox.append(op)
      wakePollerLocked()
    } else {
      op.poolState = .queued
      queue.append(op)
      workAvailable.signal()
    }
    lock.unlock()
  }

  func cancel(_ op: Operation) {
    lock.lock()
    switch op.poolState {
    case .queued:
      op.poolState = .done
      lock.unlock()
      op.finish(result: .negated(.canceled))
      return
    case .polling:
      wakePollerLocked()
    case .new, .running, .done:
      break
    }
    lock.unlock()
  }

  func cancelOperations(on owner: ManagedDescriptor) {
    var cancelled: [Operation] = []
    lock.lock()
    var i = queueHead
    while i < queue.count {
      let op = queue[i]
      if op.owner === owner && op.poolState == .queued {
        op.poolState = .done
        cancelled.append(op)
      }
      i += 1
    }
    wakePollerLocked()
    lock.unlock()
    for op in cancelled { op.finish(result: .negated(.canceled)) }
  }

  /// Operations on descriptors that may wait for a peer go to the poller.
  private static func needsPolling(_ op: Operation) -> Bool {
    guard let kind = op.owner?.kind, kind != .regular else { return false }
    return op.pollEvents != 0
  }

  private func wakePollerLocked() {
    if pollerWakePending { return }
    pollerWakePending = true
    wakeUpCount += 1
    guard let wakeWriteEnd else {
      pollerWork.signal()
      return
    }
    var byte: UInt8 = 1
    _ = withUnsafeBytes(of: &byte) { try? wakeWriteEnd.write($0) }
  }

  // MARK: - Workers

  private func workerLoop() {
    while true {
      lock.lock()
      while queueHead == queue.count && !stopping { lock.wait(workAvailable) }
      if queueHead == queue.count {
        lock.unlock()
        return
      }
      let op = queue[queueHead]
      queueHead += 1
      if queueHead == queue.count {
        queue.removeAll(keepingCapacity: true)
        queueHead = 0
      }
      guard op.poolState == .queued else {
        lock.unlock()
        continue  // cancelled while queued: already finished
      }
      if op.shouldSkip || stopping {
        op.poolState = .done
        lock.unlock()
        op.finish(result: .negated(.canceled))
        continue
      }
      op.poolState = .running
      syscallCount += 1
      lock.unlock()
      let result = op.perform(kind: op.owner?.kind ?? .regular, polled: false)
      lock.withLock {
        op.poolState = .done
        completedCount += 1
      }
      op.finish(result: result)
    }
  }

  // MARK: - Poller

  private func pollerLoop() {
    var watched: [Operation] = []
    var fds = PollSet()
    var drain = [UInt8](repeating: 0, count: 64)
    while true {
      lock.lock()
      if wakeReadEnd == nil {
        // Nothing to poll and no pipe to wake poll(2): sleep until there is work.
        while pollerInbox.isEmpty && watched.isEmpty && !stopping { lock.wait(pollerWork) }
      }
      if !pollerInbox.isEmpty {
        watched.append(contentsOf: pollerInbox)
        pollerInbox.removeAll(keepingCapacity: true)
      }
      pollerWakePending = false
      let stop = stopping
      lock.unlock()

      // Complete cancelled operations (task cancelled, descriptor closing, engine stopping).
      var i = 0
      while i < watched.count {
        if stop || watched[i].shouldSkip {
          let op = watched.remove(at: i)
          finishPolled(op, result: .negated(.canceled), ranSyscall: false)
        } else {
          i += 1
        }
      }
      if stop { return }

      fds.removeAll(keepingCapacity: true)
      // Without a wake-up pipe, poll(2) ignores the negative descriptor and times out.
      fds.append(wakeReadEnd ?? FileDescriptor(rawValue: -1), events: .readable)
      for op in watched {
        fds.append(op.descriptor!, events: PollEvents(rawValue: op.pollEvents))
      }
      do throws(Errno) {
        // EINTR is retried inside (the wake-up pipe, not a signal, says when to stop).
        try fds.wait(timeoutMilliseconds: wakeReadEnd == nil ? PoolBackend.degradedPollMilliseconds : -1)
      } catch {
        fatalError("swift-zerocopy IOEngine (thread pool): poll failed: \(error)")
      }
      if !fds.returnedEvents(at: 0).isEmpty, let wakeReadEnd {
        _ = drain.withUnsafeMutableBytes { try? wakeReadEnd.read(into: $0) }
      }
      // Perform the ready operations without blocking; keep those that would block.
      var kept: [Operation] = []
      kept.reserveCapacity(watched.count)
      for (index, op) in watched.enumerated() {
        if fds.returnedEvents(at: index + 1).isEmpty || op.shouldSkip {
          kept.append(op)
          continue
        }
        // Ready at poll time — but an earlier operation in this round (on the same pipe or
        // listener) may have consumed the readiness: re-check right before the call, which
        // may otherwise block this thread.
        let descriptor = op.descriptor!
        if !PoolBackend.isReady(descriptor, op.pollEvents) {
          kept.append(op)
          continue
        }
        let result = op.perform(kind: op.owner?.kind ?? .stream, polled: true)
        if result == .negated(.resourceTemporarilyUnavailable) {
          kept.append(op)
        } else {
          finishPolled(op, result: result, ranSyscall: true)
        }
      }
      watched = kept
    }
  }

  /// Whether `descriptor` is ready for `events` now (`poll` with a zero timeout); errors
  /// and hang-ups count as ready (the call then reports them).
  private static func isReady(_ descriptor: FileDescriptor, _ events: Int16) -> Bool {
    var one = PollSet()
    one.append(descriptor, events: PollEvents(rawValue: events))
    return (try? one.wait(timeoutMilliseconds: 0)) != 0
  }

  private func finishPolled(_ op: Operation, result: Int32, ranSyscall: Bool) {
    lock.withLock {
      op.poolState = .done
      completedCount += 1
      if ranSyscall { syscallCount += 1 }
    }
    op.finish(result: result)
  }

  // MARK: - Shutdown

  func shutdown() async {
    await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
      requestShutdown(notifying: continuation)
    }
  }

  /// Stops the threads (without waiting, when `waiter` is nil: `IOEngine.deinit`): queued
  /// operations complete as cancelled, running ones finish, the poller drops its watch list.
  func requestShutdown(notifying waiter: UnsafeContinuation<Void, Never>?) {
    var queued: [Operation] = []
    lock.lock()
    if finished {
      lock.unlock()
      waiter?.resume()
      return
    }
    if let waiter { shutdownWaiters.append(waiter) }
    if !stopping {
      stopping = true
      while queueHead < queue.count {
        let op = queue[queueHead]
        queueHead += 1
        if op.poolState == .queued {
          op.poolState = .done
          queued.append(op)
        }
      }
      queue.removeAll()
      queueHead = 0
      workAvailable.broadcast()
      wakePollerLocked()
    }
    lock.unlock()
    for op in queued { op.finish(result: .negated(.canceled)) }
  }

  private func threadExited() {
    lock.lock()
    liveThreads -= 1
    guard liveThreads == 0 else {
      lock.unlock()
      return
    }
    finished = true
    let waiters = shutdownWaiters
    shutdownWaiters = []
    lock.unlock()
    _ = try? wakeReadEnd?.close()
    _ = try? wakeWriteEnd?.close()
    for w in waiters { w.resume() }
  }

  var statistics: IOEngine.Statistics {
    lock.withLock {
      IOEngine.Statistics(
        operationsCompleted: completedCount, systemCalls: syscallCount, wakeUps: wakeUpCount,
        remoteSubmissions: submittedCount, jobsRun: 0)
    }
  }
}
