import BenchKit
import Foundation
import Glibc

/// A temporary directory removed when the value is released.
final class TempDir {
  let path: String
  init() throws {
    var template = Array("\(NSTemporaryDirectory())/benchkit-test.XXXXXX".utf8CString)
    guard let p = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
      throw BenchError("mkdtemp failed")
    }
    path = String(cString: p)
  }
  deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// The repository root (this file is Benchmarks/Tests/BenchKitTests/Support.swift).
let repositoryRoot: String = {
  var url = URL(fileURLWithPath: #filePath)
  for _ in 0..<4 { url.deleteLastPathComponent() }
  return url.path
}()

/// Builds one of Benchmarks/c/*.c that needs no library (cc -O2 -Wall -Wextra -Werror).
enum CTool {
  static func build(_ name: String) throws -> String {
    let out = NSTemporaryDirectory() + "/benchkit-\(name)-\(getpid())"
    if access(out, X_OK) == 0 { return out }
    let src = "\(repositoryRoot)/Benchmarks/c/\(name).c"
    let output = try run("/usr/bin/cc", ["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-o", out, src])
    guard access(out, X_OK) == 0 else { throw BenchError("cc failed: \(output)") }
    return out
  }
}

/// Runs a program and returns its standard output (throws on a non-zero exit).
@discardableResult
func run(_ path: String, _ args: [String]) throws -> String {
  let child = try ChildProcess(path, args, stdout: .pipe, stderrPath: "/dev/null")
  var out = ""
  while let line = try child.readLine() { out += line + "\n" }
  let exit = try child.wait()
  guard exit.succeeded else { throw BenchError("\(path) exited with \(String(describing: exit.code))") }
  return out
}

/// The C reference tools built by `make bench-tools`, if present.
func builtTools() -> Tools? {
  let t = Tools(directory: "\(repositoryRoot)/build/bench")
  return t.missing().isEmpty ? t : nil
}

/// Tests that run a `Runner` (whose TCP and pipe cells pin every thread of this process to
/// the sender CPUs for each sample, and restore them afterwards) or that check threads'
/// CPU affinities take turns: Swift Testing runs suites in parallel, and one test's
/// placement would otherwise move the threads, and the receivers they start, of another
/// (PlacementTests' unplaced run saw its sender and receiver on CPU 0 in 15 of 20 runs of
/// the whole target while RunnerTests' placed run overlapped it).
enum AffinityTurns {
  private static let gate = Gate()

  /// Runs `body` while no other caller of this function runs.
  static func exclusively<T>(_ body: () async throws -> T) async rethrows -> T {
    await gate.acquire()
    defer { gate.release() }
    return try await body()
  }

  /// A lock that waits without blocking a thread.
  private final class Gate: @unchecked Sendable {
    private let lock = NSLock()
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func acquire() async {
      await withCheckedContinuation { (turn: CheckedContinuation<Void, Never>) in
        lock.lock()
        if busy {
          waiting.append(turn)
          lock.unlock()
        } else {
          busy = true
          lock.unlock()
          turn.resume()
        }
      }
    }

    func release() {
      lock.lock()
      if waiting.isEmpty {
        busy = false
        lock.unlock()
      } else {
        let next = waiting.removeFirst()
        lock.unlock()
        next.resume()  // the turn passes on: busy stays true
      }
    }
  }
}
