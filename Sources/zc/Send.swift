// zc send FILE --to HOST:PORT

import ArgumentParser
import Glibc
import SystemPackage
import ZeroCopy

struct Send: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Send a file to a TCP listener (HOST:PORT), with the chosen (or automatic) strategy.",
    discussion: """
      Connects, sends the whole file, shuts down the sending side and closes. Success \
      means every byte was accepted by the local TCP stack for the peer.
      """)

  @Argument(help: "The file to send.")
  var file: String

  @Option(name: .long, help: "Where to connect: HOST:PORT, [IPv6]:PORT.")
  var to: String

  @OptionGroup var flags: TransferFlags

  func validate() throws {
    _ = try parseEndpoint(to)
  }

  func run() async throws {
    let strategy = try flags.resolvedStrategy()
    let (host, port) = try parseEndpoint(to)
    let path = RawArguments.path(file)
    let input = path.withPlatformString { open($0, O_RDONLY | O_CLOEXEC) }
    guard input >= 0 else {
      printError(
        "zc send: open failed: \(String(cString: strerror(errno))) (\(Errno(rawValue: errno).symbolicName)); 0 bytes reached the destination; \(path.shellQuoted)"
      )
      throw ExitCode.failure
    }
    defer { _ = close(input) }
    let socket: CInt
    do {
      socket = try connectTCP(host: host, port: port)
    } catch let failure as ConnectFailure {
      printError("zc send: \(failure.syscall) failed for \(to): \(failure.explanation); 0 bytes reached the destination")
      throw ExitCode.failure
    }
    defer { _ = close(socket) }
    let monitor = TransferMonitor()
    // SIGINT/SIGTERM/SIGHUP: cancel (the transfer stops at its next chunk), then die of the
    // signal; a send blocked on a peer that does not read is ended by the grace period.
    Interruption.onInterrupt { monitor.cancel() }
    let report: TransferReport
    do {
      report = try await withProgressLine(monitor, label: "send", quiet: flags.quiet) {
        try await Transfer.send(
          file: FileDescriptor(rawValue: input), to: FileDescriptor(rawValue: socket), strategy: strategy,
          options: TransferOptions(allowFallback: !flags.noFallback, monitor: monitor))
      }
    } catch let error as ZeroCopyError {
      Interruption.exitIfInterrupted()
      var described = error
      described.paths = [path, FilePath(to)]
      printError(failureLine("send", described))
      throw ExitCode.failure
    }
    Interruption.exitIfInterrupted()
    _ = shutdown(socket, CInt(SHUT_WR))
    flags.printReport(report)
  }
}

/// A failed getaddrinfo/socket/connect.
struct ConnectFailure: Error {
  let syscall: String
  let explanation: String
}

/// Splits "HOST:PORT" or "[IPv6]:PORT".
func parseEndpoint(_ text: String) throws -> (host: String, port: UInt16) {
  var host: Substring
  var portText: Substring
  if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
    host = text[text.index(after: text.startIndex)..<close]
    let rest = text[text.index(after: close)...]
    guard rest.hasPrefix(":") else { throw ValidationError("expected [HOST]:PORT, got '\(text)'") }
    portText = rest.dropFirst()
  } else {
    guard let colon = text.lastIndex(of: ":") else { throw ValidationError("expected HOST:PORT, got '\(text)'") }
    host = text[..<colon]
    portText = text[text.index(after: colon)...]
  }
  guard !host.isEmpty, let port = UInt16(portText), port > 0 else {
    throw ValidationError("expected HOST:PORT with a port in 1...65535, got '\(text)'")
  }
  return (String(host), port)
}

/// Resolves `host` and connects a TCP socket (blocking, close-on-exec) to the first
/// address that accepts.
func connectTCP(host: String, port: UInt16) throws -> CInt {
  var hints = addrinfo()
  hints.ai_family = AF_UNSPEC
  hints.ai_socktype = CInt(SOCK_STREAM.rawValue)
  var list: UnsafeMutablePointer<addrinfo>? = nil
  let status = getaddrinfo(host, String(port), &hints, &list)
  guard status == 0, let first = list else {
    throw ConnectFailure(syscall: "getaddrinfo", explanation: String(cString: gai_strerror(status)))
  }
  defer { freeaddrinfo(list) }
  var lastErrno: CInt = ECONNREFUSED
  var syscall = "connect"
  var entry: UnsafeMutablePointer<addrinfo>? = first
  while let info = entry {
    entry = info.pointee.ai_next
    let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype | CInt(SOCK_CLOEXEC.rawValue), info.pointee.ai_protocol)
    if fd < 0 {
      lastErrno = errno
      syscall = "socket"
      continue
    }
    if connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return fd }
    lastErrno = errno
    syscall = "connect"
    _ = close(fd)
  }
  throw ConnectFailure(
    syscall: syscall,
    explanation: "\(String(cString: strerror(lastErrno))) (\(Errno(rawValue: lastErrno).symbolicName))")
}
