// A small, fixed pool of threads that runs blocking transfer work off Swift's
// cooperative pool.

import Glibc
import Synchronization
import SystemPackage

/// Runs blocking jobs (a whole synchronous transfer each) on a fixed number of threads
/// with a FIFO queue, and resumes the awaiting task with the result.
///
/// A transfer blocks in `sendfile`, `splice`, `read`, `io_uring_enter`… for as long as
/// its destination's reader makes it wait; doing that on the cooperative pool (two
/// threads on this machine) would stall every other task. These threads are started on
/// first use, block `SIGPIPE`/`SIGXFSZ` (a closed peer gives `EPIPE`, never a dead
/// process), and live as long as the process.
///
/// The pool is bounded on purpose: at most ``threadCount`` transfers run at once, so at
/// most that many pipes, rings and buffers are in use however many transfers are started;
/// the rest wait in the queue. (A transfer whose destination is only drained by another
/// *queued* transfer would wait for it: keep such producer/consumer pairs below
/// ``threadCount``.)
internal final class BlockingWorkers: @unchecked Sendable {
  // @unchecked: every mutable field is guarded by `lock`.

  /// The process-wide pool: `max(4, CPUs)` threads.
  static let shared = BlockingWorkers(threadCount: Swift.max(4, onlineCPUCount))

  /// The number of worker threads.
  let threadCount: Int

  private let lock = Lock()
  private let workAvailable = Condition()
  private var jobs: [@Sendable () -> Void] = []  // guarded by lock
  private var head = 0  // guarded by lock
  private var startedThreads = 0  // guarded by lock
  private var attemptedStart = false  // guarded by lock

  init(threadCount: Int) {
    precondition(threadCount > 0, "BlockingWorkers: threadCount must be positive")
    self.threadCount = threadCount
  }

  /// Runs `body` on a worker thread and returns its result to the awaiting task.
  func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withUnsafeContinuation { (continuation: UnsafeContinuation<T, Never>) in
      submit { continuation.resume(returning: body()) }
    }
  }

  /// Runs `body` on a worker thread; cancelling the task calls `onCancel` (which makes a
  /// running `body` stop), and a job still waiting in the queue — every worker busy — is
  /// withdrawn at once: the task gets `withdrawn()` without waiting for a worker.
  ///
  /// `onCancel` may return a value to hand the task at once although `body` is still
  /// running (an abandoned wait, see ``TransferMonitor``): `body`'s own result is then
  /// dropped when it ends.
  func run<T: Sendable>(
    _ body: @escaping @Sendable () -> T, onCancel: @escaping @Sendable () -> T?,
    withdrawn: @escaping @Sendable () -> T
  ) async -> T {
    let job = CancellableJob<T>()
    return await withTaskCancellationHandler {
      await withUnsafeContinuation { (continuation: UnsafeContinuation<T, Never>) in
        job.continuation = continuation
        if !job.state.compareExchange(
          expected: CancellableJob<T>.new, desired: CancellableJob<T>.queued, ordering: .acquiringAndReleasing
        ).exchanged {
          continuation.resume(returning: withdrawn())  // cancelled before it was queued
          return
        }
        submit {
          guard
            job.state.compareExchange(
              expected: CancellableJob<T>.queued, desired: CancellableJob<T>.started, ordering: .acquiring
            ).exchanged
          else { return }  // withdrawn while queued: already resumed
          let value = body()
          if job.state.compareExchange(
            expected: CancellableJob<T>.started, desired: CancellableJob<T>.finished, ordering: .acquiringAndReleasing
          ).exchanged {
            continuation.resume(returning: value)
          }  // else: abandoned, the task already has its result
        }
      }
    } onCancel: {
      if let early = onCancel() {
        if job.state.compareExchange(
          expected: CancellableJob<T>.started, desired: CancellableJob<T>.abandoned, ordering: .acquiringAndReleasing
        ).exchanged {
          job.continuation!.resume(returning: early)
          return
        }
      }
      while true {
        let state = job.state.load(ordering: .acquiring)
        if state == CancellableJob<T>.new {
          if job.state.compareExchange(expected: state, desired: CancellableJob<T>.withdrawn, ordering: .acquiringAndReleasing)
            .exchanged
          {
            return  // the operation sees it and resumes the task itself
          }
        } else if state == CancellableJob<T>.queued {
          if job.state.compareExchange(expected: state, desired: CancellableJob<T>.withdrawn, ordering: .acquiringAndReleasing)
            .exchanged
          {
            job.continuation!.resume(returning: withdrawn())
            return
          }
        } else {
          return  // started (it stops through onCancel) or already withdrawn
        }
      }
    }
  }

  /// Queues `job`. Starts the threads on first use; if no thread can be started at all
  /// (`pthread_create` fails), runs `job` on the calling thread instead.
  func submit(_ job: @escaping @Sendable () -> Void) {
    lock.lock()
    if !attemptedStart {
      // Started under the lock: a new thread's first act is to take the lock, so it
      // simply waits until this submission is queued.
      attemptedStart = true
      for index in 0..<threadCount {
        let result = startThread(name: "zc-transfer-\(index)", cpu: nil) { [self] in workerLoop() }
        if case .success = result { startedThreads += 1 }
      }
    }
    if startedThreads == 0 {
      lock.unlock()
      job()
      return
    }
    jobs.append(job)
    workAvailable.signal()
    lock.unlock()
  }

  private func workerLoop() -> Never {
    while true {
      lock.lock()
      while head == jobs.count { lock.wait(workAvailable) }
      let job = jobs[head]
      head += 1
      if head == jobs.count {
        jobs.removeAll(keepingCapacity: true)
        head = 0
      } else if head >= 1024 {
        jobs.removeFirst(head)
        head = 0
      }
      lock.unlock()
      job()
    }
  }
}

/// The hand-off of one job of ``BlockingWorkers/run(_:onCancel:withdrawn:)``: exactly one of
/// the worker (`queued → started → finished`) and the cancellation handler (`new`/`queued →
/// withdrawn`, `started → abandoned`) resumes the task, exactly once.
private final class CancellableJob<T: Sendable>: @unchecked Sendable {
  // @unchecked: `continuation` is written before the release of `new → queued` and read
  // only after acquiring `queued → …`.
  static var new: UInt8 { 0 }
  static var queued: UInt8 { 1 }
  static var started: UInt8 { 2 }
  static var withdrawn: UInt8 { 3 }
  static var finished: UInt8 { 4 }
  static var abandoned: UInt8 { 5 }
  let state = Atomic<UInt8>(0)
  var continuation: UnsafeContinuation<T, Never>?
}
