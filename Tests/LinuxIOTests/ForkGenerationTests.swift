// ForkGeneration: unchanged in the process, one more in a fork(2)ed child.

import Glibc
import LinuxIO
import Testing

@Suite("ForkGeneration")
struct ForkGenerationTests {
  @Test(
    "a forked child sees the parent's generation plus one; the parent's is unchanged",
    .disabled(
      if: dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__tsan_init") != nil,
      "under ThreadSanitizer a fork of a multi-threaded process makes the TSan runtime exit the child with status 66"))
  func childSeesANewGeneration() throws {
    let before = ForkGeneration.current
    #expect(ForkGeneration.current == before)
    let pid = fork()
    if pid == 0 {
      // The child: an atomic load and _exit only (async-signal-safe).
      let seen = ForkGeneration.current
      _exit(seen == before + 1 ? 0 : (seen == before ? 2 : 3))
    }
    #expect(pid > 0)
    var status: Int32 = 0
    var waited: pid_t
    repeat { waited = waitpid(pid, &status, 0) } while waited < 0 && errno == EINTR
    #expect(waited == pid)
    // WIFEXITED and WEXITSTATUS: exited normally with 0 (2: the child saw no change).
    #expect(status & 0x7f == 0, "the child died of signal \(status & 0x7f)")
    #expect((status >> 8) & 0xff == 0, "child exit status \((status >> 8) & 0xff)")
    #expect(ForkGeneration.current == before)
  }
}
