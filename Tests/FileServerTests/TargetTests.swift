// Request targets to paths under the root: decoding, dot segments, refusals.

import Testing

@testable import FileServer

func resolved(_ target: String) -> RequestPath? {
  try? RequestPath.resolve(Array(target.utf8)).get()
}

func segments(_ target: String) -> [String]? {
  resolved(target)?.segments.map { String(decoding: $0, as: UTF8.self) }
}

func targetStatus(_ target: String) -> Int? {
  if case .failure(let e) = RequestPath.resolve(Array(target.utf8)) { return e.status.rawValue }
  return nil
}

@Suite("Request targets")
struct TargetTests {
  @Test func normalization() {
    #expect(segments("/") == [])
    #expect(resolved("/")?.isDirectory == true)
    #expect(segments("/a/b.txt") == ["a", "b.txt"])
    #expect(resolved("/a/b.txt")?.isDirectory == false)
    #expect(segments("/a//b///c") == ["a", "b", "c"])
    #expect(segments("/a/./b/.") == ["a", "b"])
    #expect(resolved("/a/./b/.")?.isDirectory == true)
    #expect(segments("/a/b/../c") == ["a", "c"])
    #expect(segments("/a/b/..") == ["a"])
    #expect(resolved("/a/b/..")?.isDirectory == true)
    #expect(resolved("/a/")?.isDirectory == true)
    #expect(segments("/...") == ["..."])
    #expect(segments("/a%2Fb") == ["a", "b"])
    #expect(segments("/%41%42c") == ["ABc"])
    #expect(segments("/a?x=1/../..") == ["a"])
    #expect(resolved("/a?x=1")?.query == Array("x=1".utf8))
    #expect(resolved("/a")?.query == nil)
    #expect(segments("/caf%C3%A9") == ["caf\u{e9}"])
  }

  /// Every way of writing "up from the root" is refused before the filesystem is asked.
  @Test(arguments: [
    "/..", "/../", "/../etc/passwd", "/a/../../etc/passwd", "/%2e%2e/etc/passwd", "/%2E%2E/x",
    "/.%2e/x", "/%2e./x", "/..%2fetc%2fpasswd", "/%2e%2e%2f%2e%2e%2fetc/passwd", "/a/%2e%2e/%2e%2e/x",
    "/./../x", "//../x", "/a/b/../../../x", "http://h/../x", "http://h/%2e%2e/x",
  ])
  func leavingTheRootIs400(_ target: String) {
    #expect(targetStatus(target) == 400, "\(target)")
  }

  @Test(arguments: [
    "/%00", "/a%00.txt", "/%", "/%4", "/%4g", "/%zz", "/a%", "*", "ftp://h/x", "http://", "https:///x", "h/x", "x",
  ])
  func malformedIs400(_ target: String) {
    #expect(targetStatus(target) == 400, "\(target)")
  }

  /// Decoded once: what was encoded twice is a name, not a path step.
  @Test func decodedOnce() {
    #expect(segments("/%252e%252e/x") == ["%2e%2e", "x"])
    #expect(segments("/%252f") == ["%2f"])
    #expect(segments("/..%5c..%5cx") == ["..\\..\\x"])
    #expect(segments("/%5c") == ["\\"])
  }

  @Test func absoluteForm() {
    #expect(segments("http://example.com/a/b") == ["a", "b"])
    #expect(segments("HTTPS://example.com:8443/a") == ["a"])
    #expect(resolved("http://example.com")?.isDirectory == true)
    #expect(resolved("http://example.com?q")?.query == Array("q".utf8))
  }

  @Test func extensionsAndEncoding() {
    #expect(resolved("/a/b.TXT")?.fileExtension == "txt")
    #expect(resolved("/a/.bashrc")?.fileExtension == nil)
    #expect(resolved("/a/b.")?.fileExtension == nil)
    #expect(resolved("/a.d/b")?.fileExtension == nil)
    #expect(resolved("/a/b.tar.gz")?.fileExtension == "gz")
    #expect(resolved("/a%20b/c%25d")?.encodedPath == "/a%20b/c%25d")
    #expect(resolved("/dir/")?.encodedPath == "/dir/")
    #expect(resolved("/")?.relativePath == Array(".".utf8))
    #expect(resolved("/a/b")?.relativePath == Array("a/b".utf8))
  }
}
