// A flake hunter, off unless asked for: with ZC_FORK_STORM_SECONDS=N in the environment,
// one test forks children as fast as it can for N seconds (up to 8 alive at once, each
// living 3 ms) while the other suites of the same process run beside it. A child holds a
// copy of every descriptor the process had when it was forked until it exits, so a test
// that closes one end of a pipe or socket and expects the peer gone at once (end of file,
// EPIPE, POLLHUP) without waiting for it — the defect CI met once (Docs/LinuxFacts.md,
// "A fork() child holds a copy…") — fails far more often than in a normal
// run: whenever a child was forked between the test's creating the pipe and its check.
// Probabilistic still (a fork of the test process takes milliseconds): run it several
// times. `make test-fork-storm` runs the suites so.

import Glibc
import LinuxIO
import Testing

@Suite("Fork storm (ZC_FORK_STORM_SECONDS)")
struct ForkStormTests {
  static let seconds = getenv("ZC_FORK_STORM_SECONDS").flatMap { Int(String(cString: $0)) } ?? 0

  @Test(
    "children forked without pause for ZC_FORK_STORM_SECONDS seconds (≤ 8 alive, 3 ms each); all exit 0",
    .enabled(if: seconds > 0, "set ZC_FORK_STORM_SECONDS to hunt tests that assume a closed peer is gone at once"))
  func storm() async throws {
    let deadline = ContinuousClock.now + .seconds(Self.seconds)
    // A thread of its own, so that the storm takes no thread of the cooperative pool.
    let forker = TestThread { () -> (forks: Int, failures: Int) in
      var forks = 0
      var failures = 0
      var alive: Set<pid_t> = []
      // Only its own children, by pid: `waitpid(-1)` would reap the processes other tests
      // spawn and wait for.
      func reap(blocking: Bool) {
        for pid in alive {
          var status: Int32 = 0
          var waited: pid_t
          repeat { waited = waitpid(pid, &status, blocking ? 0 : WNOHANG) } while waited < 0 && errno == EINTR
          guard waited == pid else {
            if waited < 0 { alive.remove(pid); failures += 1 }
            continue
          }
          alive.remove(pid)
          if status != 0 { failures += 1 }
        }
      }
      while ContinuousClock.now < deadline {
        reap(blocking: false)
        if alive.count >= 8 { usleep(500); continue }
        let pid = fork()
        if pid == 0 {
          // The child: nanosleep and _exit only (async-signal-safe).
          var pause = timespec(tv_sec: 0, tv_nsec: 3_000_000)
          _ = nanosleep(&pause, nil)
          _exit(0)
        }
        guard pid > 0 else {
          failures += 1
          usleep(1000)
          continue
        }
        forks += 1
        alive.insert(pid)
      }
      reap(blocking: true)
      return (forks, failures)
    }
    try await Task.sleep(for: .seconds(Self.seconds))
    let outcome = forker.join()
    print("fork storm: \(outcome.forks) children in \(Self.seconds) s")
    #expect(outcome.forks > 0)
    #expect(outcome.failures == 0, "\(outcome.failures) of \(outcome.forks) forks failed or exited non-zero")
  }
}
