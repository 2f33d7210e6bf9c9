// LinuxIO's view of the shared decision table (CShims/src/plan.c): the rows, the
// parameters' round trip to C, and the fallback errnos.

import CZeroCopy
import Glibc
import LinuxIO
import SystemPackage
import Testing

@Suite("TransferPlan (the decision table shared with C)")
struct TransferPlanTests {
  /// The parameters the row tests decide with: explicit, so that rederiving the built-in
  /// table (make builtin-profile) changes no expectation here.
  static let fixture = TransferPlan.Parameters(
    smallCopyMax: 16 << 10, readWriteBufferSize: 128 << 10, copyFileRangeMax: 256 << 10,
    pipeSendfileMax: TransferPlan.Parameters.unlimited, socketSendfileMax: 256 << 10)

  @Test("Docs/Transfer.md's rows, one pair each")
  func rows() {
    func plan(_ s: TransferPlan.EndpointKind, _ d: TransferPlan.EndpointKind, _ f: TransferPlan.PairFacts = [], _ bytes: Int64?)
      -> String
    {
      TransferPlan.methods(source: s, destination: d, facts: f, bytes: bytes, parameters: Self.fixture).map(\.description)
        .joined(separator: ",")
    }
    #expect(plan(.file, .file, .sameFileSystem, 4096) == "copyFileRange,sendfile,readWrite")
    #expect(plan(.file, .file, .sameFileSystem, 1 << 30) == "copyFileRange,sendfile,readWrite")
    #expect(plan(.file, .file, [.sameFileSystem, .kernelCopy], 256 << 10) == "copyFileRange,sendfile,readWrite")
    #expect(plan(.file, .file, [.sameFileSystem, .kernelCopy], (256 << 10) + 1) == "splice,copyFileRange,sendfile,readWrite")
    #expect(plan(.file, .file, [.sameFileSystem, .kernelCopy], 4096) == "readWrite")
    #expect(plan(.file, .file, [.sameFileSystem, .kernelCopy], 16 << 10) == "readWrite")
    #expect(plan(.file, .file, [.sameFileSystem, .kernelCopy], (16 << 10) + 1) == "copyFileRange,sendfile,readWrite")
    #expect(plan(.file, .file, [], 4096) == "readWrite")
    #expect(plan(.file, .file, [], 16 << 10) == "readWrite")
    #expect(plan(.file, .file, [], (16 << 10) + 1) == "sendfile,readWrite")
    #expect(plan(.file, .file, [], nil) == "sendfile,readWrite")
    #expect(plan(.file, .pipe, [], 1) == "sendfile,splice,readWrite")
    #expect(plan(.file, .pipe, [], nil) == "splice,sendfile,readWrite")
    #expect(plan(.file, .tcpSocket, [], 4096) == "sendfile,splice,readWrite")
    #expect(plan(.file, .tcpSocket, [], nil) == "splice,sendfile,readWrite")
    #expect(plan(.blockDevice, .characterDevice, [], nil) == "sendfile,readWrite")
    #expect(plan(.unixSocket, .file, [], nil) == "splice,readWrite")
    #expect(plan(.pseudoFile, .file, .sameFileSystem, nil) == "readWrite")
    #expect(plan(.file, .file, [.sameFileSystem, .appendOnlyDestination], nil) == "readWrite")
  }

  @Test("Parameters: the defaults come from C, and a calibration moves each crossover")
  func parameters() {
    // The defaults are the built-in profile's, as C reads them.
    #expect(TransferPlan.Parameters.default == TransferPlan.Profile.builtIn.parameters)
    let d = Self.fixture
    #expect(
      d.description
        == "smallCopyMax=16384 readWriteBuffer=131072 copyFileRangeMax=262144 pipeSendfileMax=max socketSendfileMax=262144")
    let big = TransferPlan.Parameters(smallCopyMax: 1 << 20, readWriteBufferSize: 64 << 10)
    #expect(big.copyFileRangeMax == TransferPlan.Parameters.default.copyFileRangeMax)
    #expect(big.socketSendfileMax == TransferPlan.Parameters.default.socketSendfileMax)
    #expect(TransferPlan.methods(source: .file, destination: .file, bytes: 64 << 10, parameters: big) == [.readWrite])
    #expect(
      TransferPlan.methods(source: .file, destination: .file, bytes: (1 << 20) + 1, parameters: big) == [.sendfile, .readWrite])
    #expect(TransferPlan.methods(source: .file, destination: .file, bytes: 64 << 10, parameters: d) == [.sendfile, .readWrite])
    var p = d
    p[.pipeSendfileMax] = 0
    p[.socketSendfileMax] = TransferPlan.Parameters.unlimited
    p[.copyFileRangeMax] = 0
    #expect(TransferPlan.methods(source: .file, destination: .pipe, bytes: 1, parameters: p) == [.splice, .sendfile, .readWrite])
    #expect(
      TransferPlan.methods(source: .file, destination: .tcpSocket, bytes: 1 << 40, parameters: p) == [
        .sendfile, .splice, .readWrite,
      ])
    #expect(
      TransferPlan.methods(source: .file, destination: .file, facts: [.sameFileSystem, .kernelCopy], bytes: 1, parameters: p)
        == [.splice, .copyFileRange, .sendfile, .readWrite])
    // Round trip through C, "max" included.
    #expect(
      TransferPlan.Parameters(
        smallCopyMax: 1, readWriteBufferSize: 4096, copyFileRangeMax: 2, pipeSendfileMax: 3, socketSendfileMax: .max)[
          .socketSendfileMax] == .max)
  }

  @Test("facts: the kernel-copy fact costs an fstatfs only when it changes the row")
  func lazyFacts() throws {
    let d = Self.fixture
    let bad = FileDescriptor(rawValue: -1)  // any fstatfs on it fails: a used one would drop the fact
    #expect(
      TransferPlan.facts(
        .sameFileSystem, source: .file, destination: .file, bytes: 4096, parameters: d, destinationDescriptor: bad)
        == .sameFileSystem)
    #expect(
      TransferPlan.facts([], source: .file, destination: .file, bytes: 1 << 30, parameters: d, destinationDescriptor: bad) == [])
    #expect(
      TransferPlan.facts(
        .sameFileSystem, source: .file, destination: .file, bytes: 1 << 30, parameters: d, destinationDescriptor: bad)
        == .sameFileSystem)
    let path = "/tmp/zc-facts-\(getpid())"
    let fd = try FileDescriptor.open(FilePath(path), .readWrite, options: [.create, .truncate], permissions: .ownerReadWrite)
    defer {
      try? fd.close()
      unlink(path)
    }
    // The classification itself (f_type ext2/3/4 or tmpfs) is checked in C (test_transfer.c).
    let kernelCopy = zc_fs_copies_in_kernel(fd.rawValue) == 1
    let found: TransferPlan.PairFacts = kernelCopy ? [.sameFileSystem, .kernelCopy] : .sameFileSystem
    let got = TransferPlan.facts(
      .sameFileSystem, source: .file, destination: .file, bytes: 1 << 30, parameters: d, destinationDescriptor: fd)
    #expect(got == found)
    // A small copy: no fstatfs for one transfer; a reused plan pays it (and a failed one
    // leaves the fact out).
    for bytes: Int64 in [0, 4096, 16 << 10] {
      #expect(
        TransferPlan.facts(
          .sameFileSystem, source: .file, destination: .file, bytes: bytes, parameters: d, destinationDescriptor: fd)
          == .sameFileSystem)
      #expect(
        TransferPlan.facts(
          .sameFileSystem, source: .file, destination: .file, bytes: bytes, parameters: d, destinationDescriptor: fd,
          reused: true) == found)
      #expect(
        TransferPlan.facts(
          .sameFileSystem, source: .file, destination: .file, bytes: bytes, parameters: d, destinationDescriptor: bad,
          reused: true) == .sameFileSystem)
    }
    // Between the two crossovers the fact changes nothing: no fstatfs even when reused.
    #expect(
      TransferPlan.facts(
        .sameFileSystem, source: .file, destination: .file, bytes: 64 << 10, parameters: d, destinationDescriptor: bad,
        reused: true) == .sameFileSystem)
  }

  @Test("The table as data: every row ends with readWrite, the last matches every pair")
  func table() throws {
    let table = TransferPlan.table
    try #require(table.count >= 2)
    for row in table {
      #expect(row.methods.last == .readWrite)
      #expect(!row.why.isEmpty)
    }
    let last = try #require(table.last)
    #expect(last.sources == Set(TransferPlan.EndpointKind.allCases))
    #expect(last.destinations == Set(TransferPlan.EndpointKind.allCases))
    #expect(last.required == [] && last.size == .any)
    // Each crossover parameter splits one route into a pair of rows.
    for p in TransferPlan.Parameter.crossovers {
      #expect(table.contains { $0.size == .above(p) }, "\(p)")
    }
    #expect(table.contains { $0.size == .atMost(.smallCopyMax) })
    #expect(table.contains { $0.size == .atMost(.pipeSendfileMax) })
    #expect(table.contains { $0.size == .atMost(.socketSendfileMax) })
    #expect(!table.contains { $0.size == .atMost(.readWriteBuffer) || $0.size == .above(.readWriteBuffer) })
    #expect(table.first?.required == .appendOnlyDestination)
  }

  @Test("Fallback errnos: exactly EXDEV, EINVAL, ENOSYS, EOPNOTSUPP, EPERM, ENODEV")
  func fallbacks() {
    let all = (1..<200).map { Errno(rawValue: $0) }.filter(TransferPlan.isFallback)
    #expect(Set(all) == Set([EXDEV, EINVAL, ENOSYS, EOPNOTSUPP, EPERM, ENODEV].map { Errno(rawValue: $0) }))
  }

  @Test("inspect: the kind and facts C's zc_endpoint_inspect reads, for every kind it can make here")
  func inspect() throws {
    let named = try NamedFile(pattern(5000))
    defer { named.remove() }
    let file = try FileDescriptor.open(FilePath(named.path), .writeOnly, options: [.append, .closeOnExec])
    defer { try? file.close() }
    #expect(fchmod(file.rawValue, 0o4751) == 0)
    var st = stat()
    #expect(fstat(file.rawValue, &st) == 0)
    let e = try TransferPlan.inspect(file)
    #expect(
      e
        == TransferPlan.Endpoint(
          kind: .file, size: 5000, device: UInt64(st.st_dev), inode: UInt64(st.st_ino), permissions: 0o4751,
          isAppendOnly: true, isNonBlocking: false))

    let proc = try FileDescriptor.open("/proc/self/status", .readOnly)
    defer { try? proc.close() }
    let p = try TransferPlan.inspect(proc)
    #expect(p.kind == .pseudoFile)
    #expect(p.size == nil)

    let (pipeRead, pipeWrite) = try Pipe().releaseDescriptors()
    let fds = [pipeRead.rawValue, pipeWrite.rawValue]
    defer { close(fds[0]); close(fds[1]) }
    #expect(fcntl(fds[1], F_SETFL, O_NONBLOCK) == 0)
    let w = try TransferPlan.inspect(FileDescriptor(rawValue: fds[1]))
    #expect(w.kind == .pipe && w.isNonBlocking && w.size == nil)

    var sv: [Int32] = [0, 0]
    #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &sv) == 0)
    defer { close(sv[0]); close(sv[1]) }
    #expect(try TransferPlan.inspect(FileDescriptor(rawValue: sv[0])).kind == .unixSocket)
    let udp = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    #expect(udp >= 0)
    defer { close(udp) }
    #expect(try TransferPlan.inspect(FileDescriptor(rawValue: udp)).kind == .otherSocket)
    let tcp = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    #expect(tcp >= 0)
    defer { close(tcp) }
    #expect(try TransferPlan.inspect(FileDescriptor(rawValue: tcp)).kind == .tcpSocket)
    let null = try FileDescriptor.open("/dev/null", .writeOnly)
    defer { try? null.close() }
    #expect(try TransferPlan.inspect(null).kind == .characterDevice)
    let directory = try FileDescriptor.open("/tmp", .readOnly, options: .directory)
    defer { try? directory.close() }
    #expect(try TransferPlan.inspect(directory).kind == .directory)

    #expect(throws: Errno.badFileDescriptor) { try TransferPlan.inspect(FileDescriptor(rawValue: -1)) }
    #expect(
      TransferPlan.EndpointKind.allCases.map(\.description) == [
        "file", "pseudoFile", "blockDevice", "characterDevice", "pipe", "tcpSocket", "unixSocket", "otherSocket",
        "directory", "other",
      ])
  }
}
