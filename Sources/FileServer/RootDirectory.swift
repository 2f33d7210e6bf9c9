// Opening files beneath the served directory, and nowhere else.

import Glibc
import LinuxIO
import SystemPackage
import ZeroCopy

/// How paths are kept inside the root directory.
public enum PathResolution: String, Sendable, Hashable, CustomStringConvertible {
  /// `openat2` with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS` where the kernel has it
  /// (Linux 5.6), otherwise ``componentWalk``.
  case automatic
  /// `openat2(2)` with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`: the kernel resolves the
  /// whole path and refuses any step outside the root ("..", an absolute symlink, a
  /// symlink leading out, `/proc` magic links) with `EXDEV`/`ELOOP`. Symlinks that stay
  /// inside the root are followed.
  case openat2
  /// The fallback: each component opened with `openat(O_NOFOLLOW)` relative to the
  /// previous one. Every symlink is refused (stricter than ``openat2``, which follows
  /// those that stay inside); the path has no ".." by then (the request target was
  /// normalized first), so nothing leaves the root.
  case componentWalk

  /// The name.
  public var description: String { rawValue }
}

/// A file opened beneath the root, with what `fstat` said about it.
struct OpenedFile: ~Copyable {
  let descriptor: FileDescriptor
  let size: Int64
  let modified: Int64
  let isDirectory: Bool
  /// `st_dev`, `st_ino` and the permission bits, for ``transferEndpoint``.
  let device: UInt64
  let inode: UInt64
  let permissions: UInt32

  /// The transfer source this file is, from the `fstat` made when it was opened (no new
  /// inspection per response). Always a `.file` of ``size`` bytes: the response's
  /// Content-Length comes from the same `fstat`, so a pseudo file (a sysfs file claiming
  /// 4,096 bytes) ends early whatever strategy sends it, as with nginx, which also
  /// trusts `st_size`.
  var transferEndpoint: TransferEndpoint {
    TransferEndpoint(
      descriptor: descriptor, kind: .file, size: size, device: device, inode: inode, permissions: permissions)
  }

  consuming func close() {
    _ = try? descriptor.close()
    discard self
  }

  deinit { _ = try? descriptor.close() }
}

/// Why a file could not be opened, as the status to answer.
struct OpenFailure: Error, Sendable {
  let status: HTTPStatus
  let errno: Errno
  let syscall: String
}

/// The served directory, opened once (`O_PATH | O_DIRECTORY`); every request opens files
/// relative to it.
final class RootDirectory: Sendable {
  let path: FilePath
  let descriptor: FileDescriptor
  /// The resolution in use (never `.automatic`).
  let resolution: PathResolution
  /// Why `.automatic` chose the component walk, if it did.
  let fallbackReason: String?

  /// `RESOLVE_NO_MAGICLINKS | RESOLVE_BENEATH`.
  private static let resolveOptions: FileDescriptor.ResolveOptions = [.noMagicLinks, .beneath]
  /// What files are opened with: read-only, non-blocking (a FIFO in the root must not
  /// block the open), no controlling terminal.
  private static let openOptions: FileDescriptor.OpenOptions = [.nonBlocking, .closeOnExec, .noControllingTerminal]

  init(path: FilePath, resolution: PathResolution) throws(FileServerError) {
    let fd: FileDescriptor
    do {
      fd = try FileDescriptor.open(path, .readOnly, options: [.path, .directory, .closeOnExec])
    } catch {
      // swift-system's open throws only Errno.
      throw FileServerError(
        .root, syscall: "open", errno: error as? Errno ?? .ioError, message: "cannot open the root directory '\(path)'")
    }
    self.path = path
    descriptor = fd
    switch resolution {
    case .componentWalk:
      self.resolution = .componentWalk
      fallbackReason = nil
    case .openat2, .automatic:
      let probe = Result { () throws(Errno) in
        try fd.open(relative: ".", .readOnly, options: [.path, .closeOnExec], resolve: Self.resolveOptions)
      }
      switch probe {
      case .success(let opened):
        _ = try? opened.close()
        self.resolution = .openat2
        fallbackReason = nil
      case .failure(let error) where resolution == .openat2:
        _ = try? fd.close()
        throw FileServerError(.root, syscall: "openat2", errno: error, message: "openat2 with RESOLVE_BENEATH is unavailable")
      case .failure(let error):
        // ENOSYS (before Linux 5.6, or a seccomp filter), E2BIG.
        self.resolution = .componentWalk
        fallbackReason = "openat2 failed with \(error) (kernel before 5.6, or refused by a seccomp filter)"
      }
    }
  }

  deinit { Glibc.close(descriptor.rawValue) }

  /// Opens `relative` (a normalized path: no "", ".", ".." segments; "." for the root).
  /// With `blocking`, a regular file's `O_NONBLOCK` (which only protected the open) is
  /// cleared: the io_uring strategies refuse such descriptors; the others ignore the flag
  /// for regular files, and skip the two `fcntl` calls.
  func open(_ relative: [UInt8], blocking: Bool) -> Result<OpenedFile, OpenFailure> {
    var fd: Int32 = -1
    var syscall = "openat2"
    switch resolution {
    case .openat2, .automatic:
      var attempts = 0
      repeat {
        fd = relative.withUnsafeBufferPointer { bytes in
          withNullTerminated(bytes) { path in
            rawResult { () throws(Errno) in
              try descriptor.open(relative: path, .readOnly, options: Self.openOptions, resolve: Self.resolveOptions)
            }
          }
        }
        attempts += 1
        // EAGAIN: a rename or mount raced with the lookup; the kernel asks to retry.
      } while fd == -EAGAIN && attempts < 4
    case .componentWalk:
      syscall = "openat"
      fd = walk(relative)
    }
    if fd < 0 {
      return .failure(OpenFailure(status: Self.status(for: -fd), errno: Errno(rawValue: -fd), syscall: syscall))
    }
    var st = stat()
    guard fstat(fd, &st) == 0 else {
      let e = errno
      Glibc.close(fd)
      return .failure(OpenFailure(status: .internalServerError, errno: Errno(rawValue: e), syscall: "fstat"))
    }
    let kind = st.st_mode & S_IFMT
    guard kind == S_IFREG || kind == S_IFDIR else {
      // A FIFO, socket or device in the root is not served (nginx: 404 "not a regular file").
      Glibc.close(fd)
      return .failure(OpenFailure(status: .notFound, errno: .noSuchFileOrDirectory, syscall: "fstat"))
    }
    if kind == S_IFREG && blocking {
      let flags = fcntl(fd, F_GETFL)
      if flags >= 0 && flags & O_NONBLOCK != 0 { _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) }
    }
    return .success(
      OpenedFile(
        descriptor: FileDescriptor(rawValue: fd), size: Int64(st.st_size), modified: Int64(st.st_mtim.tv_sec),
        isDirectory: kind == S_IFDIR, device: UInt64(st.st_dev), inode: UInt64(st.st_ino),
        permissions: UInt32(st.st_mode & 0o7777)))
  }

  /// The component walk: `openat(O_PATH | O_NOFOLLOW)` per directory, refusing symlinks.
  /// Returns a descriptor or -errno.
  private func walk(_ relative: [UInt8]) -> Int32 {
    let segments = relative.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true).map(Array.init)
    var dir = descriptor.rawValue
    defer { if dir != descriptor.rawValue { Glibc.close(dir) } }
    for (index, segment) in segments.enumerated() {
      let isLast = index == segments.count - 1
      let options: FileDescriptor.OpenOptions = isLast ? Self.openOptions.union(.noFollow) : [.path, .noFollow, .closeOnExec]
      let parent = FileDescriptor(rawValue: dir)
      let next = segment.withUnsafeBufferPointer { bytes in
        withNullTerminated(bytes) { path in
          rawResult { () throws(Errno) in try parent.open(relative: path, .readOnly, options: options) }
        }
      }
      if next < 0 { return next }
      if !isLast {
        var st = stat()
        if fstat(next, &st) != 0 {
          let e = errno
          Glibc.close(next)
          return -e
        }
        let kind = st.st_mode & S_IFMT
        if kind != S_IFDIR {
          Glibc.close(next)
          return kind == S_IFLNK ? -ELOOP : -ENOTDIR
        }
      }
      if dir != descriptor.rawValue { Glibc.close(dir) }
      dir = next
    }
    if segments.isEmpty {
      return rawResult { () throws(Errno) in try descriptor.open(relative: ".", .readOnly, options: Self.openOptions) }
    }
    let result = dir
    dir = descriptor.rawValue  // handed to the caller, not closed by the defer
    return result
  }

  /// The status for an open that failed with `errno` (nginx's mapping; the refusals of
  /// RESOLVE_BENEATH — EXDEV for a path leaving the root, ELOOP for a magic link or a
  /// symlink in the component walk — are 403, as nginx answers for `disable_symlinks`).
  static func status(for errno: Int32) -> HTTPStatus {
    switch errno {
    case ENOENT, ENOTDIR, ENAMETOOLONG: return .notFound
    case EACCES, EPERM, EXDEV, ELOOP, EMLINK: return .forbidden
    default: return .internalServerError
    }
  }
}

/// The descriptor `open` returned, or -errno (the convention of `RootDirectory.open`'s loop).
private func rawResult(_ open: () throws(Errno) -> FileDescriptor) -> Int32 {
  do throws(Errno) { return try open().rawValue } catch { return -error.rawValue }
}

/// Calls `body` with a NUL-terminated copy of `bytes`.
private func withNullTerminated<R>(_ bytes: UnsafeBufferPointer<UInt8>, _ body: (UnsafePointer<CChar>) -> R) -> R {
  withUnsafeTemporaryAllocation(of: CChar.self, capacity: bytes.count + 1) { buffer in
    for i in 0..<bytes.count { buffer[i] = CChar(bitPattern: bytes[i]) }
    buffer[bytes.count] = 0
    return body(UnsafePointer(buffer.baseAddress!))
  }
}
