// A small, fixed pool of threads that runs blocking transfer work off Swift's
// cooperative pool.

import Glibc
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
