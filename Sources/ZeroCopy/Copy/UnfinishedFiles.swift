// Files a copy has created and not finished yet — an atomic copy's temporary file, a new
// file of a tree copy while its bytes are in flight — so that a process that must exit
// now (a signal, a deadline) can remove them instead of leaving partial copies behind.

import Glibc
import LinuxIO
import SystemPackage

/// Cleans up after copies that cannot finish: a program's signal path calls
/// ``removeUnfinishedFiles()`` when it must exit before its copies have returned.
///
/// ```swift
/// import Glibc
/// import ZeroCopy
///
/// // On a helper thread, after SIGINT arrived and cancelling did not end the copy in time:
/// CopyCleanup.removeUnfinishedFiles()
/// signal(SIGINT, SIG_DFL)
/// raise(SIGINT)
/// ```
///
/// Cancelling a copy (its task, or ``TransferMonitor/cancel()``) is the first resort: the
/// copy then removes its own temporary file and returns `ECANCELED`. This is for when the
/// copy cannot return in time — it is blocked in a system call that cancellation does not
/// interrupt (opening a FIFO that has no reader, a read from a pipe that stays empty).
public enum CopyCleanup {
  /// Removes every file that a copy in this process created and has not finished: the
  /// temporary file of each ``Transfer/copy(from:to:strategy:options:)`` with
  /// ``CopyOptions/atomic`` that has not been renamed over its destination yet, and each new
  /// file of a ``TreeCopy`` whose bytes are still being copied. Those copies then fail:
  /// an atomic copy never renames a removed temporary file over its destination (which
  /// stays as it was), and the tree copy reports `ECANCELED`.
  ///
  /// Not async-signal-safe (it takes a lock and calls `unlinkat`): call it from a thread,
  /// not from a signal handler. Safe to call from any thread at any time, any number of times.
  ///
  /// - Returns: How many files were removed.
  ///
  /// The corresponding C call is `unlinkat(dirfd, name, 0)` for each file.
  @discardableResult
  public static func removeUnfinishedFiles() -> Int {
    UnfinishedFiles.shared.removeAll()
  }
}

/// The registry behind ``CopyCleanup``: (directory descriptor, name) of every file a copy
/// created and has not finished. The registering copy keeps the directory descriptor open
/// until it calls ``finish(_:commit:)`` or ``forget(_:)``.
final class UnfinishedFiles: @unchecked Sendable {
  // @unchecked: every mutable field is guarded by `lock`.
  static let shared = UnfinishedFiles()

  /// A registered file.
  struct Token: Hashable, Sendable {
    fileprivate let id: UInt64
  }

  private let lock = Lock()
  private var entries: [UInt64: (directory: CInt, name: [CChar])] = [:]  // guarded by lock
  private var removed: Set<UInt64> = []  // guarded by lock
  private var nextID: UInt64 = 0  // guarded by lock

  /// Records that `name` in `directory` was just created and is not finished.
  func register(directory: CInt, name: [CChar]) -> Token {
    lock.withLock {
      nextID += 1
      entries[nextID] = (directory, name)
      return Token(id: nextID)
    }
  }

  /// The file is finished: runs `commit` (a rename, say) unless ``removeAll()`` removed the
  /// file first, and forgets it. Returns nil when it was removed (then `commit` did not run).
  func finish<T>(_ token: Token, commit: () -> T) -> T? {
    lock.withLock {
      if removed.remove(token.id) != nil { return nil }
      entries[token.id] = nil
      return commit()
    }
  }

  /// Forgets the file (its copy removed it, or kept it as it is). Returns false when
  /// ``removeAll()`` had removed it.
  @discardableResult
  func forget(_ token: Token) -> Bool {
    lock.withLock {
      if removed.remove(token.id) != nil { return false }
      entries[token.id] = nil
      return true
    }
  }

  /// Whether ``removeAll()`` removed the file.
  func wasRemoved(_ token: Token) -> Bool {
    lock.withLock { removed.contains(token.id) }
  }

  /// Unlinks every registered file.
  func removeAll() -> Int {
    lock.withLock {
      var count = 0
      for (id, entry) in entries {
        let name = entry.name.withUnsafeBufferPointer { FilePath(platformString: $0.baseAddress!) }
        if (try? FileDescriptor(rawValue: entry.directory).removeEntry(name)) != nil { count += 1 }
        removed.insert(id)
      }
      entries.removeAll()
      return count
    }
  }
}
