// Debug-only syscall mocking: inject errnos the kernel will not produce on demand.
//
// The pattern follows swift-system's `Internals/Mocking.swift`: every funnel in
// `Syscalls.swift` asks `SyscallMocking.forcedErrno(for:)` first, in debug builds only.
// The state is task-local, so a test that injects errors affects only itself and the
// code it calls synchronously, never tests running in parallel on other tasks.

#if DEBUG
  import Synchronization
  import SystemPackage

  /// Errnos to inject into the funnels, per funnel name (`"sendfile"`, `"splice"`,
  /// `"copy_file_range"`, `"sendfile_all"`, `"posix_memalign"`, ... — the C name without
  /// its `zc_` prefix). Each injected errno is used once, in order; a funnel whose queue
  /// is empty calls the real function.
  internal final class SyscallMocking: Sendable {
    private let queues: Mutex<[String: [Errno]]>
    private let calls: Mutex<[String]>

    internal init(_ forced: [String: [Errno]]) {
      self.queues = Mutex(forced)
      self.calls = Mutex([])
    }

    /// The mocking state of the current task, if a test installed one.
    @TaskLocal internal static var current: SyscallMocking?

    /// Runs `body` with `forced` errnos injected into the funnels it reaches.
    internal static func withForcedErrnos<R, E: Error>(
      _ forced: [String: [Errno]], _ body: (SyscallMocking) throws(E) -> R
    ) throws(E) -> R {
      let state = SyscallMocking(forced)
      let result: Result<R, E> = $current.withValue(state) {
        do throws(E) { return .success(try body(state)) } catch { return .failure(error) }
      }
      return try result.get()
    }

    /// Every funnel call made under this state, in order (names as in the queues).
    internal var recordedCalls: [String] { calls.withLock { $0 } }

    /// The next injected errno for `name`, as the negative value the funnel returns.
    fileprivate func next(_ name: String) -> Errno? {
      calls.withLock { $0.append(name) }
      return queues.withLock { queues -> Errno? in
        guard var queue = queues[name], !queue.isEmpty else { return nil }
        let errno = queue.removeFirst()
        queues[name] = queue
        return errno
      }
    }
  }

  /// The errno to inject into funnel `name`, if the current task asked for one.
  @inline(never)
  internal func mockedErrno(_ name: String) -> Errno? {
    guard let state = SyscallMocking.current else { return nil }
    return state.next(name)
  }
#endif
