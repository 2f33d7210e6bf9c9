// Every errno the kernel defines has its C name in messages (`ELOOP`, `ENAMETOOLONG`,
// `EADDRINUSE`…), never "errno 40": checked against the kernel's own uapi headers when
// they are installed (linux-libc-dev, which every C toolchain here pulls in), and against
// the full 1…133 range of asm-generic otherwise.

import Glibc
import SystemPackage
import Testing
import ZeroCopy

@Suite("Errno names")
struct ErrnoNameTests {
  /// `#define ENAME value` lines of the kernel's errno headers (aliases such as
  /// `EWOULDBLOCK EAGAIN` resolved), or nil when the headers are not installed.
  static func kernelErrnos() -> [(name: String, value: CInt)]? {
    let headers = ["/usr/include/asm-generic/errno-base.h", "/usr/include/asm-generic/errno.h"]
    var defined: [(String, String)] = []
    for header in headers {
      let fd = open(header, O_RDONLY | O_CLOEXEC)
      guard fd >= 0 else { return nil }
      defer { close(fd) }
      var bytes: [UInt8] = []
      var chunk = [UInt8](repeating: 0, count: 65536)
      while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n <= 0 { break }
        bytes += chunk[0..<n]
      }
      for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard words.count >= 3, words[0] == "#define", words[1].hasPrefix("E") else { continue }
        defined.append((String(words[1]), String(words[2])))
      }
    }
    var values: [String: CInt] = [:]
    for (name, value) in defined { if let number = CInt(value) { values[name] = number } }
    for (name, value) in defined where values[name] == nil { values[name] = values[value] }  // aliases
    return values.map { ($0.key, $0.value) }.sorted { $0.value < $1.value }
  }

  @Test("every errno value the kernel's headers define has its C name")
  func everyKernelErrnoIsNamed() {
    guard let errnos = Self.kernelErrnos() else {
      // No headers: asm-generic's values are 1…133.
      for value in CInt(1)...133 {
        #expect(!Errno(rawValue: value).symbolicName.hasPrefix("errno "), "errno \(value) has no name")
      }
      return
    }
    #expect(errnos.count >= 133, "parsed only \(errnos.count) names from the headers")
    let aliases: [String: String] = ["EWOULDBLOCK": "EAGAIN", "EDEADLOCK": "EDEADLK"]
    for (name, value) in errnos {
      let symbolic = Errno(rawValue: value).symbolicName
      #expect(symbolic == (aliases[name] ?? name), "errno \(value): \(symbolic), the header says \(name)")
    }
    // The values are dense: nothing from 1 to the largest is unnamed.
    let largest = errnos.map(\.value).max() ?? 0
    for value in CInt(1)...largest where !errnos.contains(where: { $0.value == value }) {
      // 41 and 58 are unused in asm-generic.
      #expect(value == 41 || value == 58, "errno \(value) is not in the headers")
    }
  }

  @Test("the names the copy messages use, by Glibc's constants; ENOTSUPP (524); an unknown value")
  func namesUsedInMessages() {
    let expected: [(CInt, String)] = [
      (ELOOP, "ELOOP"), (ENAMETOOLONG, "ENAMETOOLONG"), (EADDRINUSE, "EADDRINUSE"), (ENOTEMPTY, "ENOTEMPTY"),
      (EMLINK, "EMLINK"), (ENODATA, "ENODATA"), (EOPNOTSUPP, "EOPNOTSUPP"), (EWOULDBLOCK, "EAGAIN"),
      (ENOTSUP, "EOPNOTSUPP"), (EDQUOT, "EDQUOT"), (EHWPOISON, "EHWPOISON"), (524, "ENOTSUPP"),
    ]
    for (value, name) in expected { #expect(Errno(rawValue: value).symbolicName == name) }
    #expect(Errno(rawValue: 4000).symbolicName == "errno 4000")
  }

  @Test("ZeroCopyError's description names the errno; a refusal says why first")
  func descriptions() {
    let failure = ZeroCopyError(.copy, syscall: "openat", errno: .tooManySymbolicLinkLevels, paths: ["a", "b"])
    #expect(failure.description.hasPrefix("copy failed: openat: "), "\(failure)")
    #expect(failure.description.contains("(ELOOP, errno 40)"), "\(failure)")
    let refusal = ZeroCopyError(
      .copy, syscall: "stat", errno: .invalidArgument, paths: ["a", "a"],
      message: "source and destination are the same file", isRefusal: true)
    #expect(refusal.description.hasPrefix("copy refused: source and destination are the same file; stat: EINVAL"), "\(refusal)")
  }
}
