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
    return op.spec.pollEvents != 0
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
      let result = PoolBackend.perform(op.spec, kind: op.owner?.kind ?? .regular, polled: false)
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
    var fds: [pollfd] = []
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
      fds.append(pollfd(fd: wakeReadEnd?.rawValue ?? -1, events: Int16(POLLIN), revents: 0))
      for op in watched {
        fds.append(pollfd(fd: op.spec.descriptor!.rawValue, events: op.spec.pollEvents, revents: 0))
      }
      let n = poll(&fds, nfds_t(fds.count), wakeReadEnd == nil ? PoolBackend.degradedPollMilliseconds : -1)
      if n < 0 {
        if errno == EINTR { continue }
        fatalError("swift-zerocopy IOEngine (thread pool): poll failed: \(Errno(rawValue: errno))")
      }
      if fds[0].revents != 0, let wakeReadEnd {
        _ = drain.withUnsafeMutableBytes { try? wakeReadEnd.read(into: $0) }
      }
      // Perform the ready operations without blocking; keep those that would block.
      var kept: [Operation] = []
      kept.reserveCapacity(watched.count)
      for (index, op) in watched.enumerated() {
        if fds[index + 1].revents == 0 || op.shouldSkip {
          kept.append(op)
          continue
        }
        // Ready at poll time — but an earlier operation in this round (on the same pipe or
        // listener) may have consumed the readiness: re-check right before the call, which
        // may otherwise block this thread.
        let descriptor = op.spec.descriptor!
        if !PoolBackend.isReady(descriptor, op.spec.pollEvents) {
          kept.append(op)
          continue
        }
        let result = PoolBackend.perform(op.spec, kind: op.owner?.kind ?? .stream, polled: true)
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
    var p = pollfd(fd: descriptor.rawValue, events: events, revents: 0)
    while true {
      let n = poll(&p, 1, 0)
      if n < 0 && errno == EINTR { continue }
      return n != 0
    }
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

  // MARK: - The blocking calls

  /// Runs `spec` as a system call and returns its result or `-errno` (retrying `EINTR`).
  /// With `polled`, the descriptor was reported ready and the call must not block:
  /// sockets use `MSG_DONTWAIT` (`-EAGAIN` means "wait again"), pipe writes go in
  /// `PIPE_BUF` pieces while the pipe stays writable.
  static func perform(_ spec: OpSpec, kind: ManagedDescriptor.Kind, polled: Bool) -> Int32 {
    switch spec {
    case .nop:
      return 0
    case .read(let fd, let buffer, let offset):
      return retrying {
        if let offset { return pread(fd.rawValue, buffer.baseAddress, buffer.count, off_t(offset)) }
        return read(fd.rawValue, buffer.baseAddress, buffer.count)
      }
    case .readFixed(let fd, let buffer, _, let offset):
      return retrying { pread(fd.rawValue, buffer.baseAddress, buffer.count, off_t(offset)) }
    case .writeFixed(let fd, let buffer, _, let offset):
      return retrying { pwrite(fd.rawValue, buffer.baseAddress, buffer.count, off_t(offset)) }
    case .write(let fd, let buffer, let offset):
      if polled && kind == .stream {
        return writeWhileWritable(fd, [UnsafeRawBufferPointer(buffer)])
      }
      if kind == .socket {
        return retrying { send(fd.rawValue, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
      }
      return retrying {
        if let offset { return pwrite(fd.rawValue, buffer.baseAddress, buffer.count, off_t(offset)) }
        return write(fd.rawValue, buffer.baseAddress, buffer.count)
      }
    case .readv(let fd, let iovecs, let offset):
      return retrying {
        if let offset { return preadv(fd.rawValue, iovecs.baseAddress, Int32(iovecs.count), off_t(offset)) }
        return readv(fd.rawValue, iovecs.baseAddress, Int32(iovecs.count))
      }
    case .writev(let fd, let iovecs, let offset):
      if polled && kind != .regular {
        return writeWhileWritable(fd, iovecs.map { UnsafeRawBufferPointer(start: $0.iov_base, count: $0.iov_len) })
      }
      return retrying {
        if let offset { return pwritev(fd.rawValue, iovecs.baseAddress, Int32(iovecs.count), off_t(offset)) }
        return writev(fd.rawValue, iovecs.baseAddress, Int32(iovecs.count))
      }
    case .fsync(let fd, let dataOnly):
      return retrying { Int(dataOnly ? fdatasync(fd.rawValue) : fsync(fd.rawValue)) }
    case .open(let path, let mode, let options, let permissions):
      do {
        let fd = try FileDescriptor.open(
          path, mode, options: options.union(.closeOnExec), permissions: permissions, retryOnInterrupt: true)
        return fd.rawValue
      } catch let error as Errno {
        return .negated(error)
      } catch {
        return .negated(.ioError)
      }
    case .send(let fd, let buffer, _):
      let flags = Int32(MSG_NOSIGNAL) | (polled ? Int32(MSG_DONTWAIT) : 0)
      return retrying { send(fd.rawValue, buffer.baseAddress, buffer.count, flags) }
    case .recv(let fd, let buffer):
      let flags = polled ? Int32(MSG_DONTWAIT) : 0
      return retrying { recv(fd.rawValue, buffer.baseAddress, buffer.count, flags) }
    case .accept(let fd):
      let result = retrying { Int(accept(fd.rawValue, nil, nil)) }
      if result >= 0 {
        _ = fcntl(result, F_SETFD, FD_CLOEXEC)  // accept4 is hidden by Glibc's module
      }
      return result
    case .connect(let fd, let address, let length):
      let result = retrying {
        Int(connect(fd.rawValue, address.assumingMemoryBound(to: sockaddr.self), socklen_t(length)))
      }
      return result
    }
  }

  @inline(__always)
  private static func retrying(_ call: () -> Int) -> Int32 {
    while true {
      let r = call()
      if r >= 0 { return Int32(truncatingIfNeeded: r) }
      let e = errno
      if e == EINTR { continue }
      return -e
    }
  }

  /// Writes `pieces` to a pipe-like descriptor that `poll` reported writable, in pieces of
  /// at most `PIPE_BUF` bytes (each fits in the free slot `POLLOUT` promises, so none
  /// blocks), re-checking writability between pieces. Returns the bytes written, or
  /// `-errno` if none were.
  private static func writeWhileWritable(_ fd: FileDescriptor, _ pieces: [UnsafeRawBufferPointer]) -> Int32 {
    let pipeBuf = 4096
    var total = 0
    for piece in pieces {
      var done = 0
      while done < piece.count {
        let n = min(piece.count - done, pipeBuf)
        let r = write(fd.rawValue, piece.baseAddress! + done, n)
        if r < 0 {
          let e = errno
          if e == EINTR { continue }
          return total > 0 ? Int32(total) : -e
        }
        done += r
        total += r
        if total >= Int(Int32.max) - pipeBuf { return Int32(total) }
        var p = pollfd(fd: fd.rawValue, events: Int16(POLLOUT), revents: 0)
        if poll(&p, 1, 0) <= 0 || p.revents & Int16(POLLOUT) == 0 { return Int32(total) }
      }
    }
    return Int32(total)
  }
}
