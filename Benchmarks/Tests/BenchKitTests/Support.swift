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
