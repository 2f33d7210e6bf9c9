// zerocopy-bench-nio: SwiftNIO's NIOFileSystem as a peer, with xfer_ref's interface and
// output lines so zerocopy-bench measures it like the C twins.
//
//   zerocopy-bench-nio copyItem   SRC new:PATH ITERATIONS
//       FileSystem.copyItem(at:to:) into PATH, removed (untimed) before each iteration;
//       prints `size= checksum=` of the copy after each iteration (untimed).
//   zerocopy-bench-nio readChunks SRC DEST ITERATIONS
//       readChunks (1 MiB chunks) and a plain write() of each chunk to DEST, which is
//       file:PATH | overwrite:PATH | tcpstream:HOST:PORT | fd:N, as for xfer_ref.
//
// Each iteration prints `ns= bytes= syscalls=0 utime_us= stime_us= nvcsw= nivcsw= minflt=`
// (syscalls are not counted: NIO does not report them).

import BenchKit
import Glibc
import NIOCore
import NIOFileSystem

@main
struct NIOPeer {
  static func main() async {
    let args = CommandLine.arguments
    guard args.count == 5, let iterations = Int(args[4]) else {
      printError("usage: zerocopy-bench-nio copyItem|readChunks SRC DEST ITERATIONS")
      exit(2)
    }
    do {
      try await run(op: args[1], source: args[2], dest: args[3], iterations: iterations)
    } catch {
      printError("zerocopy-bench-nio: \(error)")
      exit(1)
    }
  }

  static func run(op: String, source: String, dest: String, iterations: Int) async throws {
    let fs = FileSystem.shared
    var st = stat()
    guard stat(source, &st) == 0 else { throw BenchError("stat \(source) failed") }
    let size = Int(st.st_size)
    var out: CInt = -1
    var overwrite: String?
    if dest.hasPrefix("overwrite:") {
      overwrite = String(dest.dropFirst(10))
      out = open(overwrite!, O_RDWR | O_CLOEXEC)
    } else if dest.hasPrefix("file:") {
      out = open(String(dest.dropFirst(5)), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    } else if dest.hasPrefix("fd:") {
      out = CInt(dest.dropFirst(3)) ?? -1
    } else if dest.hasPrefix("tcpstream:") {
      out = try connectTCP(String(dest.dropFirst(10)))
    } else if !dest.hasPrefix("new:") {
      throw BenchError("bad destination \(dest)")
    }
    for _ in 0..<iterations {
      if op == "copyItem" {
        let path = String(dest.dropFirst(4))
        unlink(path)
        let u0 = Usage.current()
        let t0 = monotonicNanoseconds()
        try await fs.copyItem(at: FilePath(source), to: FilePath(path))
        let t1 = monotonicNanoseconds()
        let u = Usage.current() - u0
        let (n, sum) = try Workspace.checksum(path: path)
        line(ns: t1 - t0, bytes: n, u: u, extra: " size=\(n) checksum=\(ZC64.hex(sum))")
      } else if op == "readChunks" {
        if let overwrite {
          try Workspace.scribble(fd: out, size: size, path: overwrite)
          lseek(out, 0, SEEK_SET)
        }
        let u0 = Usage.current()
        let t0 = monotonicNanoseconds()
        var total = 0
        try await fs.withFileHandle(forReadingAt: FilePath(source)) { handle in
          for try await chunk in handle.readChunks(chunkLength: .mebibytes(1)) {
            try chunk.withUnsafeReadableBytes { raw in
              var done = 0
              while done < raw.count {
                let w = write(out, raw.baseAddress! + done, raw.count - done)
                if w < 0 { throw BenchError("write: \(String(cString: strerror(errno)))") }
                done += w
              }
            }
            total += chunk.readableBytes
          }
        }
        let t1 = monotonicNanoseconds()
        let u = Usage.current() - u0
        var extra = ""
        if let overwrite {
          let (n, sum) = try Workspace.checksum(fd: out, path: overwrite)
          extra = " size=\(n) checksum=\(ZC64.hex(sum))"
        }
        line(ns: t1 - t0, bytes: total, u: u, extra: extra)
      } else {
        throw BenchError("unknown operation \(op)")
      }
    }
    if out >= 0 && !dest.hasPrefix("fd:") { close(out) }
  }

  static func line(ns: UInt64, bytes: Int, u: Usage, extra: String) {
    let text = "ns=\(ns) bytes=\(bytes) syscalls=0 utime_us=\(u.userMicros) stime_us=\(u.systemMicros) nvcsw=\(u.voluntarySwitches) nivcsw=\(u.involuntarySwitches) minflt=\(u.minorFaults)\(extra)\n"
    writeAll(1, text)
  }

  static func printError(_ text: String) { writeAll(2, text + "\n") }

  static func writeAll(_ fd: CInt, _ text: String) {
    var bytes = Array(text.utf8)
    var done = 0
    while done < bytes.count {
      let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + done, $0.count - done) }
      if n <= 0 { return }
      done += n
    }
  }

  static func connectTCP(_ hostPort: String) throws -> CInt {
    guard let colon = hostPort.lastIndex(of: ":"), let port = UInt16(hostPort[hostPort.index(after: colon)...]) else {
      throw BenchError("bad tcp destination \(hostPort)")
    }
    let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var sa = sockaddr_in()
    sa.sin_family = sa_family_t(AF_INET)
    sa.sin_port = port.bigEndian
    sa.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    let rc = withUnsafePointer(to: &sa) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    if rc != 0 { throw BenchError("connect \(hostPort) failed") }
    return s
  }
}
