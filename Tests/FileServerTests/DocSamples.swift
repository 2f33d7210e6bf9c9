// The code samples of README.md and Docs/Serve.md, compiled with the tests (never run):
// a sample that stops compiling fails the build.

import FileServer
import Logging
import ZeroCopy

enum DocSamples {
  /// README.md, "Serve a directory".
  static func readme() async throws {
    let server = try FileServer(root: "public", port: 8080)  // opens the directory, listens
    await server.run()  // serves until server.shutdown()
  }

  /// Docs/Serve.md, "In your program".
  static func configured() async throws {
    var config = FileServer.Configuration(host: "0.0.0.0", port: 8080, strategy: .splice)
    config.accessLog = Logger(label: "access")
    config.headerTimeout = .seconds(10)
    let server = try FileServer(root: "/srv/www", configuration: config)
    let serving = Task { await server.run() }
    // … later, for example on SIGTERM:
    await server.shutdown(gracePeriod: .seconds(10))  // stop accepting, let responses finish
    await serving.value
    print(server.statistics)  // accepted 12, open 0, requests 40, body bytes …
  }
}
