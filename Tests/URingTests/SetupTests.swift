// Ring setup, setup flags, capabilities and availability.

import Glibc
import SystemPackage
import Testing
import URing

@Suite("URing setup and capabilities", .requiresIOURing)
struct SetupTests {
  @Test func defaultRingReportsItsGeometryAndFeatures() throws {
    let ring = try IOURing(entries: 10)
    #expect(ring.submissionQueueCapacity == 16)  // rounded up to a power of two
    #expect(ring.completionQueueCapacity == 32)  // twice the SQ by default
    #expect(ring.features.contains([.noDrop, .submitStable, .readWriteCurrentPosition, .extendedArgument]))
    #expect(ring.setupFlags == [])
    #expect(ring.ringDescriptor.rawValue >= 0)
  }

  @Test func probeMatchesTheKernel() throws {
    let probe = IOURing.Probe.current
    #expect(probe.availability == .available)
    #expect(probe.setupErrno == nil)
    #expect(probe.registerErrno == nil)
    for op: IOURing.Opcode in [.nop, .read, .write, .readv, .splice, .tee, .send, .recv, .statx, .asyncCancel, .linkTimeout] {
      #expect(probe.supports(op), "\(op)")
    }
    let last = try #require(probe.lastOpcode)
    #expect(last >= .sendmsgZeroCopy)  // every kernel with the probe knows ≥ 48 here (6.x)
    #expect(!probe.supports(IOURing.Opcode(rawValue: 255)))
    #expect(probe.supportedOpcodes.count == Int(last.rawValue) + 1)
    #expect(probe.features.contains(.noDrop))
    // The sysctl as the kernel shows it.
    #expect(probe.sysctlDisabled == readProcInt("/proc/sys/kernel/io_uring_disabled"))
    // A fresh probe agrees with the cached one.
    #expect(IOURing.Probe.run() == probe)
    #expect(IOURing.availability == .available)
    #expect(IOURingAvailability.current.reason == nil)
    #expect(IOURing.Opcode.splice.description == "IORING_OP_SPLICE")
    #expect(IOURing.Opcode(rawValue: 62).name == "PIPE")
  }

  @Test func completionQueueSizeAndClamp() throws {
    let ring = try IOURing(entries: 4, completionQueueEntries: 100)
    #expect(ring.setupFlags.contains(.cqSize))
    #expect(ring.completionQueueCapacity == 128)
    let clamped = try IOURing(entries: 100_000, flags: .clamp)
    #expect(clamped.submissionQueueCapacity == 32768)
  }

  @Test func rejectedFlagIsNamed() throws {
    // DEFER_TASKRUN without SINGLE_ISSUER is EINVAL, and the error says which flag.
    let e1 = #expect(throws: IOURing.SetupError.self) { _ = try IOURing(entries: 4, flags: .deferTaskrun) }
    #expect(e1?.errno == .invalidArgument)
    #expect(e1?.rejectedFlag == .deferTaskrun)
    #expect(e1?.description.contains("IORING_SETUP_DEFER_TASKRUN") == true)

    // DEFER_TASKRUN with SQPOLL: the combination is refused; the flag added last is named.
    let e2 = #expect(throws: IOURing.SetupError.self) {
      _ = try IOURing(entries: 4, flags: [.sqPoll, .singleIssuer, .deferTaskrun])
    }
    #expect(e2?.rejectedFlag == .deferTaskrun)
    #expect(e2?.description.contains("IORING_SETUP_SQPOLL") == true)

    // TASKRUN_FLAG needs COOP_TASKRUN or DEFER_TASKRUN.
    let e3 = #expect(throws: IOURing.SetupError.self) { _ = try IOURing(entries: 4, flags: .taskrunFlag) }
    #expect(e3?.rejectedFlag == .taskrunFlag)

    // A bit the kernel does not know.
    let unknown = IOURing.SetupFlags(rawValue: 1 << 30)
    let e4 = #expect(throws: IOURing.SetupError.self) { _ = try IOURing(entries: 4, flags: unknown) }
    #expect(e4?.rejectedFlag == unknown)
    #expect(e4?.description.contains("0x40000000") == true)

    // Bad entry counts are named too.
    let e5 = #expect(throws: IOURing.SetupError.self) { _ = try IOURing(entries: 0) }
    #expect(e5?.rejectedEntries == true)
    #expect(e5?.rejectedFlag == nil)
    let e6 = #expect(throws: IOURing.SetupError.self) { _ = try IOURing(entries: 8, completionQueueEntries: 4) }
    #expect(e6?.rejectedFlag == .cqSize)
  }

  @Test func singleIssuerWithDeferredTaskrun() throws {
    var ring = try IOURing(entries: 8, flags: [.singleIssuer, .deferTaskrun])
    #expect(ring.setupFlags.contains([.singleIssuer, .deferTaskrun]))
    for i in 0..<8 { try ring.prepare(.nop(userData: UInt64(i))) }
    try ring.submit()
    // Completions are posted only when the issuer waits.
    let cs = try ring.waitCompletions(8, timeout: .seconds(5))
    #expect(cs.map(\.userData) == (0..<8).map(UInt64.init))
  }

  @Test func cooperativeTaskrunWithTaskrunFlag() throws {
    var ring = try IOURing(entries: 8, flags: [.coopTaskrun, .taskrunFlag, .submitAll])
    let pipe = try TestPipe()
    var buf = [UInt8](repeating: 0, count: 4)
    try buf.withUnsafeMutableBytes { b in
      try ring.prepare(.unsafeRead(pipe.readEnd, into: b, userData: 1))
      try ring.submit()
      _ = try [UInt8]("coop").withUnsafeBytes { try pipe.writeEnd.write($0) }
      let c = try #require(try ring.waitCompletion(timeout: .seconds(5)))
      #expect(c.result == .success(4))
    }
    #expect(buf == [UInt8]("coop"))
  }

  @Test func sqPollWakesItsSleepingThread() throws {
    var ring = try IOURing(entries: 8, flags: .sqPoll, sqThreadIdle: .milliseconds(5))
    #expect(ring.setupFlags.contains(.sqPoll))
    #expect(try ring.perform(.nop(userData: 1)).result == .success(0))
    // Let the kernel thread go idle; it then asks for a wakeup.
    var slept = false
    for _ in 0..<200 where !slept {
      usleep(5_000)
      slept = ring.submissionThreadNeedsWakeup
    }
    #expect(slept)
    // submit() must wake it, or this would never complete.
    try ring.prepare(.nop(userData: 2))
    try ring.submit()
    let c = try #require(try ring.waitCompletion(timeout: .seconds(5)))
    #expect(c.userData == 2)
    // Fill past the SQ with SQPOLL: prepare flushes and waits for free slots.
    for i in 0..<100 { try ring.prepare(.nop(userData: UInt64(100 + i))) }
    try ring.submit()
    let rest = try ring.waitCompletions(100, timeout: .seconds(10))
    #expect(Set(rest.map(\.userData)) == Set((100..<200).map(UInt64.init)))
  }

  @Test func sqPollPinnedToACPU() throws {
    var ring = try IOURing(entries: 4, flags: .sqPoll, sqThreadIdle: .milliseconds(1), sqThreadCPU: 0)
    #expect(ring.setupFlags.contains([.sqPoll, .sqAffinity]))
    #expect(try ring.perform(.nop(userData: 1)).result == .success(0))
  }

  @Test func waitingSurvivesASignal() throws {
    // A handler without SA_RESTART makes io_uring_enter return EINTR; the ring retries.
    var action = sigaction()
    action.__sigaction_handler.sa_handler = { _ in }
    sigemptyset(&action.sa_mask)
    action.sa_flags = 0
    var old = sigaction()
    #expect(sigaction(SIGUSR2, &action, &old) == 0)
    defer { sigaction(SIGUSR2, &old, nil) }
    // Test-runner threads may block signals: unblock SIGUSR2 on this thread for the wait.
    var unblock = sigset_t(), previous = sigset_t()
    sigemptyset(&unblock)
    sigaddset(&unblock, SIGUSR2)
    #expect(pthread_sigmask(SIG_UNBLOCK, &unblock, &previous) == 0)
    defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }

    var ring = try makeRing()
    let target = UnsafeMutablePointer<pthread_t>.allocate(capacity: 1)
    defer { target.deallocate() }
    target.pointee = pthread_self()
    var signaller = pthread_t()
    let created = pthread_create(
      &signaller, nil,
      { arg in
        let t = arg!.assumingMemoryBound(to: pthread_t.self).pointee
        for _ in 0..<5 {
          usleep(10_000)
          pthread_kill(t, SIGUSR2)
        }
        return nil
      }, target)
    #expect(created == 0)
    let start = ContinuousClock.now
    let c = try ring.perform(.timeout(.milliseconds(100), userData: 3))
    #expect(c.result == .failure(.timeout))
    #expect(ContinuousClock.now - start >= .milliseconds(99))
    pthread_join(signaller, nil)
  }
}

/// Runs even when io_uring is unavailable: checks that the answer explains itself.
@Suite("URing availability")
struct AvailabilityTests {
  @Test(
    .enabled(
      if: getenv("ZEROCOPY_DISABLE_IO_URING").map { String(cString: $0) } == "1",
      "runs only with ZEROCOPY_DISABLE_IO_URING=1"))
  func environmentOverrideMakesIOURingUnavailable() throws {
    #expect(IOURingAvailability.current == .unavailable(.disabledByEnvironment))
    #expect(!IOURingAvailability.isAvailable)
    #expect(IOURing.Probe.current.features == [])
    #expect(IOURing.Probe.current.supportedOpcodes.isEmpty)
    #expect(IOURingAvailability.current.description.contains("ZEROCOPY_DISABLE_IO_URING=1"))
    let error = #expect(throws: IOURing.SetupError.self) { _ = try IOURing(entries: 4) }
    #expect(error?.unavailable == .disabledByEnvironment)
    #expect(error?.errno == .canceled)
  }
}
