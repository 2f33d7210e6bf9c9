// blockPipeAndFileSizeSignalsOnThisThread: a worker thread that blocks SIGPIPE/SIGXFSZ for
// good gets EPIPE from a write to a closed pipe, keeps both blocked through later guards,
// and the signal stays pending there (never delivered: the process is alive to check).

import Glibc
import LinuxIO
import SystemPackage
import Testing

@Suite("Signals blocked for a thread's life")
struct SignalGuardThreadTests {
  @Test("a blocked thread writes to a closed pipe: EPIPE, signals still blocked after a guard, SIGPIPE pending")
  func blockedThread() throws {
    let outcome = TestThread { () -> [String] in
      var problems: [String] = []
      func blocked(_ signal: Int32) -> Bool {
        var mask = sigset_t()
        pthread_sigmask(SIG_SETMASK, nil, &mask)
        return sigismember(&mask, signal) == 1
      }
      if blocked(SIGPIPE) { problems.append("SIGPIPE blocked before") }
      do {
        try blockPipeAndFileSizeSignalsOnThisThread()
      } catch {
        return ["blockPipeAndFileSizeSignalsOnThisThread threw \(error)"]
      }
      if !blocked(SIGPIPE) || !blocked(SIGXFSZ) { problems.append("not blocked after the call") }
      guard let pipe = try? Pipe() else { return ["no pipe"] }
      let (readEnd, writeEnd) = pipe.releaseDescriptors()
      try? readEnd.close()
      if !peerGone(writeEnd) { problems.append("the read end still has a reader after 10 s") }
      let byte: [UInt8] = [0x78]
      let written = byte.withUnsafeBytes { raw -> Result<TransferResult, TransferFailure> in
        do throws(TransferFailure) { return .success(try writeEnd.writeAll(raw, at: nil)) } catch { return .failure(error) }
      }
      switch written {
      case .success: problems.append("the write to a pipe without a reader succeeded")
      case .failure(let failure):
        if failure.errno != .brokenPipe { problems.append("expected EPIPE, got \(failure.errno)") }
      }
      try? writeEnd.close()
      // A guard on this thread leaves the mask as it is (nothing to restore).
      withSignalGuard {}
      if !blocked(SIGPIPE) || !blocked(SIGXFSZ) { problems.append("a guard unblocked the signals") }
      var pending = sigset_t()
      sigpending(&pending)
      if sigismember(&pending, SIGPIPE) != 1 { problems.append("SIGPIPE is not pending on the thread") }
      return problems
    }.join()
    #expect(outcome.isEmpty, "\(outcome)")
  }
}
