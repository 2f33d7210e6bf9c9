// zerocopy-bench-serve: wrk against `zc serve` (each strategy), nginx (sendfile on and
// off) and Hummingbird 2's FileMiddleware, on the same files, in interleaved rounds.
//
//   zerocopy-bench-serve --zc PATH [--hummingbird PATH] [--out DIR] [--duration S]
//                        [--rounds N] [--sizes 4k,64k,1m,64m] [--connections 1,16,256]
//                        [--servers NAME,...] [--smoke]
//
// Each round runs every cell (size × connections) against every server, the server order
// rotating by round; a cell's numbers are the medians over the rounds. Server CPU comes
// from /proc/PID/stat (nginx: master + workers). Before the first round and after the
// last, each server's response for each file is fetched and compared byte for byte with
// the file. Results: DIR/serve.json, DIR/serve.md, DIR/serve.svg.

import BenchKit
import Foundation

struct Options {
  var zc = ""
  var hummingbird: String?
  var out = "build/bench-out"
  var duration = 5.0
  var rounds = 3
  var sizes = [4 << 10, 64 << 10, 1 << 20, 64 << 20]
  var connections = [1, 16, 256]
  var servers: [String]?
  var repo = "."

  static func parse(_ args: [String]) throws -> Options {
    var o = Options()
    var i = 0
    func value() throws -> String {
      i += 1
      guard i < args.count else { throw BenchError("\(args[i - 1]) needs a value") }
      return args[i]
    }
    while i < args.count {
      switch args[i] {
      case "--zc": o.zc = try value()
      case "--hummingbird": o.hummingbird = try value()
      case "--out": o.out = try value()
      case "--repo": o.repo = try value()
      case "--duration": o.duration = Double(try value()) ?? o.duration
      case "--rounds": o.rounds = Int(try value()) ?? o.rounds
      case "--sizes": o.sizes = try value().split(separator: ",").map { try size(String($0)) }
      case "--connections": o.connections = try value().split(separator: ",").compactMap { Int($0) }
      case "--servers": o.servers = try value().split(separator: ",").map(String.init)
      case "--smoke":
        o.duration = 1
        o.rounds = 1
        o.sizes = [4 << 10, 1 << 20]
        o.connections = [1, 16]
      case "-h", "--help":
        print("usage: zerocopy-bench-serve --zc PATH [--hummingbird PATH] [--out DIR] [--duration S] [--rounds N] [--sizes 4k,64k,1m,64m] [--connections 1,16,256] [--servers NAME,...] [--smoke]")
        exit(0)
      default: throw BenchError("unknown option \(args[i])")
      }
      i += 1
    }
    guard !o.zc.isEmpty else { throw BenchError("--zc PATH is required") }
    return o
  }

  static func size(_ text: String) throws -> Int {
    let t = text.lowercased()
    let multipliers: [(String, Int)] = [("k", 1 << 10), ("m", 1 << 20), ("g", 1 << 30)]
    for (suffix, m) in multipliers where t.hasSuffix(suffix) {
      if let n = Int(t.dropLast()) { return n * m }
    }
    guard let n = Int(t) else { throw BenchError("bad size \(text)") }
    return n
  }
}

func label(_ size: Int) -> String {
  size >= 1 << 20 ? "\(size >> 20) MiB" : "\(size >> 10) KiB"
}

func run() throws {
  let options = try Options.parse(Array(CommandLine.arguments.dropFirst()))
  let work = NSTemporaryDirectory() + "zc-bench-serve-\(getpid())"
  let root = work + "/root"
  try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
  chmod(work, 0o755)
  defer { try? FileManager.default.removeItem(atPath: work) }

  // Files of random bytes, in the page cache (written just now).
  var files: [Int: [UInt8]] = [:]
  var generator = SystemRandomNumberGenerator()
  for size in options.sizes {
    var bytes = [UInt8](repeating: 0, count: size)
    bytes.withUnsafeMutableBytes { raw in
      for i in stride(from: 0, to: size - size % 8, by: 8) { raw.storeBytes(of: generator.next(), toByteOffset: i, as: UInt64.self) }
    }
    try Data(bytes).write(to: URL(fileURLWithPath: "\(root)/f\(size).bin"))
    files[size] = bytes
  }

  let machine = MachineInfo.current(tempDirectory: NSTemporaryDirectory(), tmpfsDirectory: nil)
  let commit = gitCommit(in: options.repo)
  var specs = Servers.all(zcStrategies: Servers.zcStrategies)
  if let names = options.servers { specs = specs.filter { names.contains($0.name) } }
  print("zerocopy-bench-serve: \(specs.count) servers, sizes \(options.sizes.map(label)), connections \(options.connections), \(options.rounds) rounds of \(options.duration) s; commit \(commit); load \(machine.loadAverage?.first ?? -1)")

  var running: [RunningServer] = []
  defer { for s in running { s.stop() } }
  for spec in specs {
    if let s = Servers.start(spec, root: root, zc: options.zc, hummingbird: options.hummingbird, work: work) {
      running.append(s)
    }
  }

  // Checksums before: every server, every file.
  var checks: [String: Bool] = [:]
  func verify(_ when: String) {
    for server in running {
      for size in options.sizes {
        let ok = fetch(port: server.port, path: "/f\(size).bin") == files[size]
        checks["\(server.spec.name) \(label(size)) \(when)"] = ok
        if !ok { print("  CHECKSUM MISMATCH: \(server.spec.name) \(label(size)) \(when)") }
      }
    }
  }
  verify("before")
  // Warm-up: each server, each size, one second at 16 connections.
  for server in running {
    for size in options.sizes {
      _ = try? Wrk.run(url: "http://127.0.0.1:\(server.port)/f\(size).bin", connections: min(16, options.connections.max() ?? 16), seconds: 1, threads: machine.cores)
    }
  }

  var samples: [String: [WrkSample]] = [:]  // "server|size|connections"
  let total = options.rounds * options.sizes.count * options.connections.count * running.count
  var done = 0
  for round in 0..<options.rounds {
    for size in options.sizes {
      for connections in options.connections {
        let order = running.indices.map { running[($0 + round) % running.count] }
        for server in order {
          let before = server.cpuSeconds()
          let text = try Wrk.run(url: "http://127.0.0.1:\(server.port)/f\(size).bin", connections: connections, seconds: options.duration, threads: machine.cores)
          let cpu = server.cpuSeconds() - before
          done += 1
          guard let sample = Wrk.parse(text, fileSize: size, cpuSeconds: cpu) else {
            print("  [\(done)/\(total)] \(server.spec.name) \(label(size)) c\(connections): wrk output not understood: \(text.prefix(300))")
            continue
          }
          samples["\(server.spec.name)|\(size)|\(connections)", default: []].append(sample)
          print("  [\(done)/\(total)] round \(round + 1) \(server.spec.name) \(label(size)) c\(connections): \(Int(sample.requestsPerSecond)) req/s, \(Int(sample.readMBPerSecond ?? sample.bodyMBPerSecond)) MB/s read, errors \(sample.errors)")
        }
      }
    }
  }
  verify("after")

  let report = ServeReport(
    machine: machine, commit: commit, date: ISO8601DateFormatter().string(from: Date()), duration: options.duration,
    rounds: options.rounds, sizes: options.sizes, connections: options.connections,
    servers: running.map(\.spec), samples: samples, checksums: checks,
    loadAtEnd: currentLoadAverage())
  try FileManager.default.createDirectory(atPath: options.out, withIntermediateDirectories: true)
  let encoder = JSONEncoder()
  encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
  try encoder.encode(report).write(to: URL(fileURLWithPath: "\(options.out)/serve.json"))
  try report.markdown().write(toFile: "\(options.out)/serve.md", atomically: true, encoding: .utf8)
  try report.svg().write(toFile: "\(options.out)/serve.svg", atomically: true, encoding: .utf8)
  print(report.goalLines().joined(separator: "\n"))
  print("zerocopy-bench-serve: wrote \(options.out)/serve.{json,md,svg}")
  if checks.values.contains(false) { throw BenchError("a sample response differed from its file") }
}

do {
  try run()
} catch {
  FileHandle.standardError.write(Data("zerocopy-bench-serve: \(error)\n".utf8))
  exit(1)
}
