// The wrappers that took ZeroCopy's last raw calls: CurrentProcess (RLIMIT_MEMLOCK,
// /proc/self/status fields), blockDeviceSize (BLKGETSIZE64), cloneRange (FICLONERANGE),
// adviseDontNeed (POSIX_FADV_DONTNEED). Each is checked against the C call's own answer.

import Glibc
import LinuxIO
import SystemPackage
import Testing

@Suite("CurrentProcess, blockDeviceSize, cloneRange, adviseDontNeed")
struct ProcessAndDeviceTests {
  @Test("lockedMemoryLimit is getrlimit's soft RLIMIT_MEMLOCK (nil when unlimited)")
  func lockedMemory() throws {
    var limit = rlimit()
    #expect(getrlimit(__rlimit_resource_t(__RLIMIT_MEMLOCK.rawValue), &limit) == 0)
    let expected: Int? = limit.rlim_cur == rlim_t.max ? nil : Int(limit.rlim_cur)
    #expect(try CurrentProcess.lockedMemoryLimit() == expected)
  }

  @Test("fileCreationMask reads the umask without changing it; statusField finds fields, not prefixes")
  func umaskAndFields() async throws {
    // Setting the umask in a child process: this process's mask is shared with every suite
    // running beside this one.
    // Fails the child (exit 1) when the mask is misread or reading it changed it.
    await #expect(processExitsWith: .success) {
      umask(0o027)
      guard CurrentProcess.fileCreationMask()?.rawValue == 0o027, CurrentProcess.statusField("Umask") == "0027",
        umask(0o027) == 0o027
      else { exit(1) }
    }
    #expect(CurrentProcess.statusField("Pid") == Substring(String(getpid())))
    #expect(CurrentProcess.statusField("Umas") == nil)
    #expect(CurrentProcess.statusField("NoSuchField") == nil)
  }

  @Test("effectiveCapabilities: CapEff; as root it holds CAP_IPC_LOCK (bit 14)")
  func capabilities() throws {
    let caps = try #require(CurrentProcess.effectiveCapabilities())
    if geteuid() == 0 {
      #expect(caps & (1 << 14) != 0, "CapEff \(String(caps, radix: 16))")
    }
    #expect(UInt64(try #require(CurrentProcess.statusField("CapEff")), radix: 16) == caps)
  }

  @Test("blockDeviceSize: ENOTTY on a regular file; a loop device over a 3 MiB file: 3 MiB")
  func blockDevice() throws {
    let file = try temporaryFile(pattern(4096))
    defer { try? file.close() }
    var refusal: Errno?
    do { _ = try file.blockDeviceSize() } catch { refusal = error }
    #expect(refusal == .inappropriateIOCTLForDevice)
    // A loop device backed by a 3 MiB file (root: /dev/loop-control). Where none can be
    // made (not root, no loop driver) only the refusal above is checked.
    let backing = try temporaryFile(pattern(3 << 20))
    defer { try? backing.close() }
    guard geteuid() == 0, let loop = LoopDevice(backing: backing) else { return }
    defer { loop.detach() }
    #expect(try loop.descriptor.blockDeviceSize() == 3 << 20)
    #expect(try loop.descriptor.status().rawValue.st_size == 0, "a device node's st_size is 0: why the ioctl is needed")
  }

  @Test("cloneRange on ext4: EOPNOTSUPP; across filesystems: EXDEV; the destination untouched")
  func cloneRangeRefused() throws {
    let source = try temporaryFile(pattern(8192), in: diskDirectory)
    defer { try? source.close() }
    for (directory, expected) in [(diskDirectory, Errno.notSupported), (memoryDirectory, Errno.improperLink)] {
      let destination = try temporaryFile([], in: directory)
      var refusal: Errno?
      do { try destination.cloneRange(from: source, sourceOffset: 0, length: 4096, at: 0) } catch { refusal = error }
      #expect(refusal == expected, "\(directory)")
      #expect(try destination.status().rawValue.st_size == 0)
      try destination.close()
    }
  }

  @Test("adviseDontNeed drops clean pages: mincore then finds the first page missing")
  func dontNeed() throws {
    let file = try temporaryFile(pattern(4 << 20), in: diskDirectory)
    defer { try? file.close() }
    try file.synchronize()
    #expect(isResident(file, at: 0), "written just now, the first page is cached")
    // POSIX_FADV_DONTNEED skips pages that something references at that instant (for
    // example a folio in another CPU's LRU batch, or under a scan such as DAMON's kdamond,
    // which runs on this machine): the first page stayed cached once in a `make test` run
    // (cause not traced). Advised again, a clean page goes; 20 tries bound it. mincore,
    // not readIfCached, looks: a preadv2(RWF_NOWAIT) of a missing page starts its read and
    // may return it when that read is quick (ReadIfCachedTests.uncached), which also puts
    // the page back.
    var stillCached = true
    for _ in 0..<20 where stillCached {
      try file.adviseDontNeed(offset: 0, length: 0)
      stillCached = isResident(file, at: 0)
      if stillCached { usleep(10_000) }
    }
    #expect(!stillCached, "the first page stayed cached after 20 POSIX_FADV_DONTNEED")
    var pipeEnds: [CInt] = [0, 0]
    #expect(pipe(&pipeEnds) == 0)
    defer {
      close(pipeEnds[0])
      close(pipeEnds[1])
    }
    var refusal: Errno?
    do { try FileDescriptor(rawValue: pipeEnds[0]).adviseDontNeed(offset: 0, length: 0) } catch { refusal = error }
    #expect(refusal == .illegalSeek)
  }
}

/// A loop device attached to an open file with the loop driver's ioctls
/// (`LOOP_CTL_GET_FREE`, `LOOP_SET_FD`, `LOOP_CLR_FD`), detached by ``detach()``.
private struct LoopDevice {
  let descriptor: FileDescriptor

  init?(backing: FileDescriptor) {
    let control = open("/dev/loop-control", O_RDWR | O_CLOEXEC)
    guard control >= 0 else { return nil }
    defer { close(control) }
    // Another test (CancellationTests' losetup -f) may take the same free device between
    // the two calls: EBUSY, then ask for another.
    for _ in 0..<8 {
      let number = ioctl(control, 0x4C82)  // LOOP_CTL_GET_FREE
      guard number >= 0 else { return nil }
      let fd = open("/dev/loop\(number)", O_RDONLY | O_CLOEXEC)
      guard fd >= 0 else { return nil }
      if ioctl(fd, 0x4C00, backing.rawValue) == 0 {  // LOOP_SET_FD
        descriptor = FileDescriptor(rawValue: fd)
        return
      }
      let failure = errno
      close(fd)
      guard failure == EBUSY else { return nil }
    }
    return nil
  }

  func detach() {
    _ = ioctl(descriptor.rawValue, 0x4C01)  // LOOP_CLR_FD
    try? descriptor.close()
  }
}
