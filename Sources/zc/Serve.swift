// zc serve: a static file server (module FileServer) on the Transfer strategies.

import ArgumentParser
import FileServer
import Glibc
import Logging
import SystemPackage
import ZeroCopy

struct Serve: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Serve a directory over HTTP/1.1, bodies sent by a Transfer strategy.",
    discussion: """
      GET and HEAD, keep-alive, pipelining, ranges, conditional requests, index.html for \
      directories; paths never leave DIR (openat2 RESOLVE_BENEATH). SIGTERM or SIGINT stops \
      accepting, lets responses in progress finish (up to --shutdown-grace seconds) and \
      exits 0; a second signal exits at once. Each response is logged on standard output \
      unless --quiet. Docs/Serve.md describes the behaviour and its differences from nginx.
      """)

  @Argument(help: "The directory to serve.")
  var directory: String

  @Option(name: .long, help: "The TCP port (0: any free port, printed at start).")
  var port: UInt16 = 8080

  @Option(name: .long, help: "The address to listen on: an IPv4 or IPv6 literal, or localhost.")
  var host: String = "127.0.0.1"

  @Option(name: .long, help: "The strategy for bodies, as `zc strategies` lists it.")
  var strategy: String = "automatic"

  @Flag(name: .long, help: "Fail a transfer instead of falling back when the strategy cannot work.")
  var noFallback = false

  @Option(name: .long, help: "The most connections open at once.")
  var maxConnections: Int = 4096

  @Option(name: .long, help: "The largest request head in bytes (431 beyond).")
  var maxHeaderBytes: Int = 16384

  @Option(name: .long, help: "Seconds a client has to send a request head (408 and close after).")
  var headerTimeout: Double = 20

  @Option(name: .long, help: "Seconds a keep-alive connection may wait for its next request.")
  var idleTimeout: Double = 75

  @Option(name: .long, help: "Seconds a response may make no progress before the connection is closed.")
  var sendTimeout: Double = 60

  @Option(name: .long, help: "The most requests on one connection.")
  var maxRequests: Int = 1000

  @Option(name: .long, help: "Seconds responses in progress may take to finish after SIGTERM/SIGINT.")
  var shutdownGrace: Double = 10

  @Option(name: .long, help: "How paths are kept inside DIR: automatic, openat2, componentWalk.")
  var paths: String = "automatic"

  @Option(
    name: .long,
    help: "Body pieces up to this many bytes are sent on the connection's thread (0: all through Transfer.run's workers).")
  var inlineTransferLimit: Int = 64 << 10

  @Flag(name: .long, help: "No access log.")
  var quiet = false

  func validate() throws {
    guard TransferStrategies.named(strategy) != nil else {
      let names = TransferStrategies.all.map(\.name).joined(separator: ", ")
      throw ValidationError("unknown strategy '\(strategy)'; known strategies: \(names)")
    }
    guard PathResolution(rawValue: paths) != nil else {
      throw ValidationError("unknown --paths '\(paths)'; use automatic, openat2 or componentWalk")
    }
    for (name, value) in [("--header-timeout", headerTimeout), ("--idle-timeout", idleTimeout), ("--send-timeout", sendTimeout)]
    where !(value > 0 && value < 1e9) {
      throw ValidationError("\(name) must be a positive number of seconds")
    }
    guard shutdownGrace >= 0 && shutdownGrace < 1e9 else { throw ValidationError("--shutdown-grace must be 0 or more seconds") }
    guard maxConnections > 0, maxRequests > 0 else {
      throw ValidationError("--max-connections and --max-requests must be positive")
    }
    guard maxHeaderBytes >= 256 else { throw ValidationError("--max-header-bytes must be at least 256") }
    guard inlineTransferLimit >= 0 else { throw ValidationError("--inline-transfer-limit must not be negative") }
  }

  func run() async throws {
    raiseDescriptorLimit()
    var config = FileServer.Configuration(
      host: host, port: port, strategy: TransferStrategies.named(strategy)!, allowFallback: !noFallback,
      maxConnections: maxConnections, maxRequestLineBytes: min(8192, maxHeaderBytes), maxHeadBytes: maxHeaderBytes,
      headerTimeout: .seconds(headerTimeout), idleTimeout: .seconds(idleTimeout), sendTimeout: .seconds(sendTimeout),
      maxRequestsPerConnection: maxRequests, pathResolution: PathResolution(rawValue: paths)!,
      inlineTransferLimit: inlineTransferLimit)
    if !quiet {
      config.accessLog = Logger(label: "zc.serve") { StreamLogHandler.standardOutput(label: $0) }
    }
    config.errorLog = Logger(label: "zc.serve") { StreamLogHandler.standardError(label: $0) }
    let server: FileServer
    do {
      server = try FileServer(root: FilePath(directory), configuration: config)
    } catch {
      printError(
        "zc serve: \(error.syscall) failed: \(String(cString: strerror(error.errno.rawValue))) (\(errnoName(error.errno)), errno \(error.errno.rawValue)); \(error.message)"
      )
      throw ExitCode(1)
    }
    let stop = try SignalPipe.install()
    printError(
      "zc serve: serving \(directory) on http://\(host.contains(":") ? "[\(host)]" : host):\(server.port)/ "
        + "(strategy \(strategy), \(config.engine.kind == .ioUring ? "io_uring" : "thread-pool") engine, paths by \(server.pathResolution), "
        + "at most \(server.configuration.maxConnections) connections)")
    let grace = Duration.seconds(shutdownGrace)
    let stopper = Task {
      // Wait for SIGTERM/SIGINT without a thread: readiness on the signal pipe.
      while (try? await Readiness.wait(for: .readable, on: stop)) == nil {
        if Task.isCancelled { return }
      }
      printError("zc serve: stopping (responses in progress get up to \(shutdownGrace) s)")
      await server.shutdown(gracePeriod: grace)
    }
    await server.run()
    stopper.cancel()
    printError("zc serve: stopped; \(server.statistics)")
  }

  /// Raises the soft descriptor limit to the hard one (a server needs one per connection).
  private func raiseDescriptorLimit() {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
    limit.rlim_cur = limit.rlim_max
    _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
  }
}

/// The errno's C name, including the socket errors `Errno.symbolicName` does not list.
private func errnoName(_ errno: Errno) -> String {
  switch errno.rawValue {
  case EADDRINUSE: return "EADDRINUSE"
  case EADDRNOTAVAIL: return "EADDRNOTAVAIL"
  case ELOOP: return "ELOOP"
  default: return errno.symbolicName
  }
}

/// SIGTERM and SIGINT write a byte to a pipe (the only async-signal-safe hand-off); a
/// second signal exits at once.
private enum SignalPipe {
  nonisolated(unsafe) static var writeEnd: Int32 = -1
  nonisolated(unsafe) static var received: Int32 = 0

  static func install() throws -> FileDescriptor {
    var fds: [Int32] = [-1, -1]
    guard pipe(&fds) == 0 else {
      printError("zc serve: pipe failed: \(String(cString: strerror(errno)))")
      throw ExitCode(1)
    }
    for fd in fds {
      _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
      _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }
    writeEnd = fds[1]
    var action = sigaction()
    action.__sigaction_handler.sa_handler = { _ in
      SignalPipe.received += 1
      if SignalPipe.received > 1 { _exit(130) }
      var byte: UInt8 = 1
      _ = write(SignalPipe.writeEnd, &byte, 1)
    }
    sigemptyset(&action.sa_mask)
    action.sa_flags = SA_RESTART
    sigaction(SIGTERM, &action, nil)
    sigaction(SIGINT, &action, nil)
    return FileDescriptor(rawValue: fds[0])
  }
}
