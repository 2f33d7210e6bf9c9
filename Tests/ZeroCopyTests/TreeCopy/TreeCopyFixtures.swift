// Fixtures for the TreeCopy tests: trees built with raw-byte names, and an exact snapshot
// of a tree (types, modes, bytes, link targets) to compare two trees by.

import Glibc
import SystemPackage
import Testing
import ZeroCopy

enum TreeFixtures {
  /// One entry of a tree snapshot.
  enum Entry: Equatable, CustomStringConvertible {
    case file(mode: mode_t, bytes: [UInt8])
    case directory(mode: mode_t)
    case symlink(target: [UInt8])
    case other(mode: mode_t)

    var description: String {
      switch self {
      case .file(let m, let b): "file \(String(m, radix: 8)) \(b.count) bytes"
      case .directory(let m): "dir \(String(m, radix: 8))"
      case .symlink(let t): "symlink -> \(escaped(t))"
      case .other(let m): "other \(String(m, radix: 8))"
      }
    }
  }

  /// A printable key for raw name bytes (non-ASCII bytes as \xNN).
  static func escaped(_ bytes: [UInt8]) -> String {
    bytes.map { $0 >= 0x20 && $0 < 0x7F ? String(UnicodeScalar($0)) : "\\x" + String($0, radix: 16) }.joined()
  }

  /// A path as NUL-terminated bytes.
  static func cPath(_ bytes: [UInt8]) -> [CChar] { bytes.map { CChar(bitPattern: $0) } + [0] }

  /// Every entry under `root` (not following links), keyed by its escaped relative path.
  static func snapshot(_ root: [UInt8]) -> [String: Entry] {
    var out: [String: Entry] = [:]
    func visit(_ relative: [UInt8]) {
      let full = relative.isEmpty ? root : root + [0x2F] + relative
      for name in names(full) {
        let rel = relative.isEmpty ? name : relative + [0x2F] + name
        let path = root + [0x2F] + rel
        var st = stat()
        guard lstat(cPath(path), &st) == 0 else { continue }
        switch st.st_mode & S_IFMT {
        case S_IFREG: out[escaped(rel)] = .file(mode: st.st_mode & 0o7777, bytes: read(path))
        case S_IFDIR:
          out[escaped(rel)] = .directory(mode: st.st_mode & 0o7777)
          visit(rel)
        case S_IFLNK:
          var buffer = [CChar](repeating: 0, count: 4096)
          let n = readlink(cPath(path), &buffer, buffer.count)
          out[escaped(rel)] = .symlink(target: buffer[0..<max(n, 0)].map { UInt8(bitPattern: $0) })
        default: out[escaped(rel)] = .other(mode: st.st_mode)
        }
      }
    }
    visit([])
    return out
  }

  static func names(_ directory: [UInt8]) -> [[UInt8]] {
    guard let dir = opendir(cPath(directory)) else { return [] }
    defer { closedir(dir) }
    var names: [[UInt8]] = []
    while let entry = readdir(dir) {
      let name = withUnsafePointer(to: &entry.pointee.d_name) { p -> [UInt8] in
        let c = UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self)
        var n = 0
        while c[n] != 0 { n += 1 }
        return Array(UnsafeBufferPointer(start: c, count: n))
      }
      if name != [0x2E] && name != [0x2E, 0x2E] { names.append(name) }
    }
    return names
  }

  static func read(_ path: [UInt8]) -> [UInt8] {
    let fd = open(cPath(path), O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return [] }
    defer { close(fd) }
    return TransferFixtures.readToEnd(fd)
  }

  static func write(_ path: [UInt8], _ bytes: [UInt8], mode: mode_t = 0o644) throws {
    let fd = open(cPath(path), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    guard fd >= 0 else { throw Errno(rawValue: errno) }
    defer { close(fd) }
    try TransferFixtures.writeAll(fd, bytes)
    guard fchmod(fd, mode) == 0 else { throw Errno(rawValue: errno) }
  }

  static func mkdirp(_ path: [UInt8], mode: mode_t = 0o755) throws {
    guard mkdir(cPath(path), mode) == 0 else { throw Errno(rawValue: errno) }
    guard chmod(cPath(path), mode) == 0 else { throw Errno(rawValue: errno) }
  }

  static func symlink(_ target: String, _ path: [UInt8]) throws {
    guard Glibc.symlink(target, cPath(path)) == 0 else { throw Errno(rawValue: errno) }
  }

  /// A scratch directory (under /tmp, ext4 here), removed with everything in it.
  final class Scratch {
    let path: [UInt8]
    init(in parent: String = "/tmp") throws {
      var template = Array("\(parent)/zc-tree-test-XXXXXX".utf8CString)
      guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
        throw Errno(rawValue: errno)
      }
      path = Array(String(cString: made).utf8)
    }
    func sub(_ name: String) -> [UInt8] { path + [0x2F] + Array(name.utf8) }
    var string: String { String(decoding: path, as: UTF8.self) }
    deinit {
      // Read-only directories (the fixtures make some) cannot be emptied by a user without
      // CAP_DAC_OVERRIDE (the unprivileged run): give the owner write permission first.
      _ = try? TransferFixtures.run("/bin/chmod", ["-R", "u+rwx", string])
      _ = try? TransferFixtures.run("/bin/rm", ["-rf", string])
    }
  }

  static func filePath(_ bytes: [UInt8]) -> FilePath { FilePath(platformString: cPath(bytes)) }

  /// The non-UTF-8 name used by the fixtures: "f", 0xFF, 0xFE, " x".
  static let oddName: [UInt8] = [0x66, 0xFF, 0xFE, 0x20, 0x78]

  /// Builds the standard source tree at `root`; returns (files, directories incl. root, symlinks, bytes).
  @discardableResult
  static func buildSource(_ root: [UInt8]) throws -> (files: Int, directories: Int, symlinks: Int, bytes: Int64) {
    func p(_ s: String) -> [UInt8] { root + [0x2F] + Array(s.utf8) }
    try mkdirp(root, mode: 0o755)
    try mkdirp(p("a"), mode: 0o750)
    try mkdirp(p("a/b"), mode: 0o755)
    try mkdirp(p("empty"), mode: 0o700)
    try mkdirp(p("dir with spaces"), mode: 0o755)
    try mkdirp(p("readonly"), mode: 0o555 | 0o200)
    var bytes: Int64 = 0
    var files = 0
    func file(_ path: [UInt8], _ count: Int, seed: Int, mode: mode_t = 0o644) throws {
      try write(path, Support.pattern(seed: seed, count: count), mode: mode)
      bytes += Int64(count)
      files += 1
    }
    for i in 0..<40 { try file(p("a/f\(i)"), i * 211, seed: i) }
    try file(p("zero"), 0, seed: 0)
    try file(p("a/b/big"), 300_001, seed: 99)  // several io_uring chain steps
    try file(p("a/b/exact"), 128 << 10, seed: 98)  // exactly one lane buffer
    try file(p("dir with spaces/name with spaces.txt"), 1000, seed: 7, mode: 0o600)
    try file(root + [0x2F] + oddName, 513, seed: 8, mode: 0o751)
    try file(p("a/exec"), 77, seed: 9, mode: 0o4755)
    try file(p("readonly/inside"), 10, seed: 10, mode: 0o444)
    try symlink("a", p("link-to-dir"))
    try symlink("/nonexistent/target", p("dangling"))
    try symlink("../zero", p("a/relative"))
    try symlink(String(decoding: oddName, as: UTF8.self), p("link-odd-target-utf8-repaired"))
    guard Glibc.symlink(cPath(oddName), cPath(p("link-odd-raw"))) == 0 else { throw Errno(rawValue: errno) }
    // Make "readonly" really read-only after it was filled.
    guard chmod(cPath(p("readonly")), 0o555) == 0 else { throw Errno(rawValue: errno) }
    return (files, 6, 5, bytes)
  }
}
