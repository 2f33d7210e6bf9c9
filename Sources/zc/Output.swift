// Standard output, written directly and checked: `zc copy --json`, `--report` and `-v`
// print there, and a write that fails (a full disk, `>/dev/full`, EIO) must make the command
// fail as cp's does ("write error") instead of being lost in a buffer nobody flushes.

import Glibc
import SystemPackage
import ZeroCopy

enum StandardOutput {
  /// Writes `text` and a newline to descriptor 1 (all of it, retrying after EINTR; one
  /// writer at a time, so lines from several threads do not mix).
  static func line(_ text: String) {
    var bytes = Array(text.utf8)
    bytes.append(0x0A)
    lock.withLock { state in
      guard state.failure == nil else { return }
      var offset = 0
      while offset < bytes.count {
        let n = bytes.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress! + offset, $0.count - offset) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 {
          state.failure = n < 0 ? Errno(rawValue: errno) : .noSpace
          return
        }
        offset += n
      }
    }
  }

  /// The first write error, if any.
  static var failure: Errno? { lock.withLock { $0.failure } }

  /// "zc copy: write error: No space left on device (ENOSPC, errno 28)" when a write failed.
  static func failureLine(_ command: String) -> String? {
    guard let failure else { return nil }
    let explanation = String(cString: strerror(failure.rawValue))
    return "zc \(command): write error on standard output: \(explanation) (\(failure.symbolicName), errno \(failure.rawValue))"
  }

  private struct State {
    var failure: Errno?
  }

  private static let lock = Guarded(State())
}

/// A value behind a pthread mutex (ThreadSanitizer, which `make sanitize` runs zc under,
/// sees those; it does not see `Synchronization.Mutex`).
final class Guarded<Value>: @unchecked Sendable {
  // @unchecked: `value` is only touched with `mutex` held.
  private let mutex: UnsafeMutablePointer<pthread_mutex_t> = {
    let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    m.initialize(to: pthread_mutex_t())
    pthread_mutex_init(m, nil)
    return m
  }()
  private var value: Value

  init(_ value: Value) { self.value = value }

  func withLock<R>(_ body: (inout Value) -> R) -> R {
    pthread_mutex_lock(mutex)
    defer { pthread_mutex_unlock(mutex) }
    return body(&value)
  }
}
