// Surviving SIGPIPE and SIGXFSZ at their default disposition, without touching it.

import CZeroCopy
public import SystemPackage

/// Runs `body` with SIGPIPE and SIGXFSZ blocked in the calling thread, so that a write
/// to a closed socket or pipe fails with `Errno.brokenPipe`, and a write past
/// RLIMIT_FSIZE with `Errno.fileTooLarge`, instead of killing the process.
///
/// The process-wide signal disposition is not changed (it belongs to the application).
/// When `body` returns or throws, a SIGPIPE/SIGXFSZ that `body` raised is consumed and
/// the thread's previous signal mask is restored; a signal that was already pending
/// before, or that the thread had already blocked, is left alone.
///
/// Use it around the single calls (`sendfile`, `splice`, `vmsplice`, `write`...) when the
/// destination's peer may close. The "all" transfers already guard themselves.
/// `body` must not suspend (it is synchronous) and runs on the calling thread.
///
/// ```swift
/// import Glibc
/// import LinuxIO
/// import SystemPackage
///
/// let file = try FileDescriptor.open("/etc/hostname", .readOnly)
/// var ends: [Int32] = [0, 0]
/// _ = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &ends)
/// let socket = FileDescriptor(rawValue: ends[0])
/// let sent = try withSignalGuard { () throws(Errno) in
///   try file.sendfile(to: socket, count: 65536)
/// }
/// ```
///
/// - Parameter body: The work to run with the signals blocked.
/// - Returns: What `body` returns.
/// - Throws: What `body` throws. Blocking and restoring signals cannot fail with valid
///   arguments, so a failure of the guard itself is a precondition failure.
///
/// The corresponding C functions are `zc_sigguard_begin` and `zc_sigguard_end`
/// (system calls `rt_sigprocmask`, `rt_sigpending`, `rt_sigtimedwait`).
public func withSignalGuard<R: ~Copyable, E: Error>(
  _ body: () throws(E) -> R
) throws(E) -> R {
  var state = zc_sigguard()
  do {
    _ = try valueOrErrno { system_sigguard_begin(&state) }
  } catch {
    preconditionFailure("withSignalGuard: zc_sigguard_begin failed: \(error)")
  }
  defer {
    do {
      _ = try valueOrErrno { system_sigguard_end(&state) }
    } catch {
      preconditionFailure("withSignalGuard: zc_sigguard_end failed: \(error)")
    }
  }
  return try body()
}

/// Blocks `SIGPIPE` and `SIGXFSZ` on the calling thread for good, for a thread that only
/// does I/O (a worker pool's): a write to a closed peer then fails with `EPIPE` and one
/// past `RLIMIT_FSIZE` with `EFBIG` without any guard, and every later
/// ``withSignalGuard(_:)`` — and the guard inside every LinuxIO "all" call — on this
/// thread skips its two `rt_sigprocmask` calls. The signals stay pending on the thread,
/// never delivered. Do not unblock them on this thread afterwards (the guards would no
/// longer protect it).
///
/// - Throws: `pthread_sigmask`'s errno (not expected: the arguments are valid).
///
/// The corresponding C function is `zc_sigguard_block_thread` (system call
/// `rt_sigprocmask`, once).
public func blockPipeAndFileSizeSignalsOnThisThread() throws(Errno) {
  _ = try valueOrErrno { system_sigguard_block_thread() }
}
