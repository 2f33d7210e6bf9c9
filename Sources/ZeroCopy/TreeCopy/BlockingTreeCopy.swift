// The blocking per-file copy (sequential and thread-pool engines, and the io_uring
// engine's fallback for a destination that is a symbolic link).

import Glibc
import LinuxIO
import SystemPackage

/// Copies one file with blocking calls, through a buffer of its own.
final class BlockingFileCopier {
  /// Files up to this size are copied with one read and one write; larger ones with
  /// `copy_file_range` (falling back to read/write across filesystems).
  static let bufferSize = 128 << 10
  let options: TreeCopy.Options
  let buffer: UnsafeMutableRawBufferPointer

  init(options: TreeCopy.Options) {
    self.options = options
    buffer = .allocate(byteCount: Self.bufferSize, alignment: 4096)
  }

  deinit { buffer.deallocate() }

  /// Copies `job`, reporting the result to `state`.
  func run(_ job: FileJob, _ state: TreeCopyState) {
    switch copy(job) {
    case .success(let bytes): state.fileDone(bytes: bytes)
    case .failure(let error): state.fail(error)
    }
  }

  func copy(_ job: FileJob) -> Result<Int64, ZeroCopyError> {
    let input = job.name.withPlatformString { openat(job.source.fd, $0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
    guard input >= 0 else {
      return .failure(job.error("openat", Errno(rawValue: errno), "cannot open the source file for reading"))
    }
    defer { _ = Glibc.close(input) }
    var flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC
    if options.overwrite == .truncateOnOpen { flags |= O_TRUNC }
    var output = job.name.withPlatformString { openat(job.destination.fd, $0, flags, job.mode) }
    if output < 0 && errno == ELOOP {
      // The destination is a symbolic link: replace it (never write through it).
      if job.name.withPlatformString({ unlinkat(job.destination.fd, $0, 0) }) == 0 {
        output = job.name.withPlatformString { openat(job.destination.fd, $0, flags, job.mode) }
      }
    }
    if output < 0 && errno == EACCES
      && job.name.withPlatformString({ TreeWalker.makeFileOwnerWritable(job.destination.fd, $0) })
    {
      // A read-only file from an earlier copy: writable for now, its mode set below.
      output = job.name.withPlatformString { openat(job.destination.fd, $0, flags, job.mode) }
    }
    guard output >= 0 else {
      return .failure(job.error("openat", Errno(rawValue: errno), "cannot open the destination file for writing"))
    }
    var outputOpen = true
    defer { if outputOpen { _ = Glibc.close(output) } }

    var copied: Int64 = 0
    if job.size <= Int64(buffer.count) {
      let n = Int(job.size)
      while copied < job.size {
        let r = pread(input, buffer.baseAddress! + Int(copied), n - Int(copied), off_t(copied))
        if r < 0 {
          if errno == EINTR { continue }
          return .failure(job.error("pread64", Errno(rawValue: errno), "cannot read the source file", bytes: 0))
        }
        if r == 0 { return .failure(job.error("pread64", .ioError, "the source file shrank while it was copied (\(copied) of \(job.size) bytes)")) }
        copied += Int64(r)
      }
      var written = 0
      while written < n {
        let w = pwrite(output, buffer.baseAddress! + written, n - written, off_t(written))
        if w < 0 {
          if errno == EINTR { continue }
          return .failure(job.error("pwrite64", Errno(rawValue: errno), "cannot write the destination file", bytes: Int64(written)))
        }
        written += w
      }
    } else {
      switch copyLarge(input, output, job) {
      case .success(let n): copied = n
      case .failure(let e): return .failure(e)
      }
    }

    var st = stat()
    guard fstat(output, &st) == 0 else { return .failure(job.error("fstat", Errno(rawValue: errno), bytes: copied)) }
    if st.st_size > job.size && ftruncate(output, off_t(job.size)) != 0 {
      return .failure(job.error("ftruncate", Errno(rawValue: errno), "cannot cut the old destination to size", bytes: copied))
    }
    if st.st_mode & 0o7777 != job.mode && fchmod(output, job.mode) != 0 {
      return .failure(job.error("fchmod", Errno(rawValue: errno), "cannot set the destination's mode", bytes: copied))
    }
    if options.preserveTimes {
      let times = [job.times.0, job.times.1]
      if futimens(output, times) != 0 {
        return .failure(job.error("futimens", Errno(rawValue: errno), "cannot set the destination's times", bytes: copied))
      }
    }
    if options.fsync && Glibc.fsync(output) != 0 {
      return .failure(job.error("fsync", Errno(rawValue: errno), "cannot sync the destination", bytes: copied))
    }
    outputOpen = false
    if Glibc.close(output) != 0 {
      return .failure(job.error("close", Errno(rawValue: errno), "closing the destination failed", bytes: copied))
    }
    return .success(copied)
  }

  /// copy_file_range, then read/write when the kernel cannot (EXDEV, EINVAL, EOPNOTSUPP, ENOSYS).
  private func copyLarge(_ input: Int32, _ output: Int32, _ job: FileJob) -> Result<Int64, ZeroCopyError> {
    let src = FileDescriptor(rawValue: input), dst = FileDescriptor(rawValue: output)
    var copied: Int64 = 0
    do {
      let r = try src.copyFileRangeAll(to: dst, sourceOffset: 0, destinationOffset: 0, count: .bytes(job.size))
      copied = r.bytes
    } catch {
      let fallback: Set<Errno> = [.improperLink, .invalidArgument, .notSupported, .noFunction]
      guard error.progress.bytes == 0, fallback.contains(error.errno) else {
        return .failure(job.error("copy_file_range", error.errno, "cannot copy the file's data", bytes: error.progress.bytes))
      }
      while copied < job.size {
        let want = Int(min(Int64(buffer.count), job.size - copied))
        let r = pread(input, buffer.baseAddress!, want, off_t(copied))
        if r < 0 {
          if errno == EINTR { continue }
          return .failure(job.error("pread64", Errno(rawValue: errno), "cannot read the source file", bytes: copied))
        }
        if r == 0 { break }
        var written = 0
        while written < r {
          let w = pwrite(output, buffer.baseAddress! + written, r - written, off_t(copied) + off_t(written))
          if w < 0 {
            if errno == EINTR { continue }
            return .failure(job.error("pwrite64", Errno(rawValue: errno), "cannot write the destination file", bytes: copied))
          }
          written += w
        }
        copied += Int64(r)
      }
    }
    if copied < job.size {
      return .failure(job.error("copy_file_range", .ioError, "the source file shrank while it was copied (\(copied) of \(job.size) bytes)", bytes: copied))
    }
    return .success(copied)
  }
}

/// The sequential engine: the walker's thread copies each file as it is found.
final class SequentialSink: FileSink {
  private let copier: BlockingFileCopier
  private let state: TreeCopyState
  init(options: TreeCopy.Options, state: TreeCopyState) {
    copier = BlockingFileCopier(options: options)
    self.state = state
  }
  func copy(_ job: FileJob) { copier.run(job, state) }
  func finish() {}
}

/// The thread-pool engine: `workers` threads take files from a bounded queue.
final class ThreadPoolSink: FileSink, @unchecked Sendable {
  private let lock = Lock()
  private let changed = Condition()
  private var queue: [FileJob] = []
  private var head = 0
  private var closed = false
  private var running = 0
  private let capacity: Int
  private let state: TreeCopyState

  init(options: TreeCopy.Options, state: TreeCopyState, workers: Int) {
    self.state = state
    capacity = workers * 4
    for i in 0..<workers {
      lock.withLock { running += 1 }
      let started = startThread(name: "zc-tree-\(i)", cpu: nil) { [self] in
        let copier = BlockingFileCopier(options: options)
        while let job = next() { copier.run(job, state) }
        lock.withLock { running -= 1 }
        changed.broadcast()
      }
      if case .failure = started {
        lock.withLock { running -= 1 }
        if i == 0 {
          // No thread at all: copy on the caller's thread instead of hanging.
          lock.withLock { inline = BlockingFileCopier(options: options) }
        }
        break
      }
    }
  }

  /// Set only when no worker thread could be started.
  private var inline: BlockingFileCopier?

  private func next() -> FileJob? {
    lock.lock()
    defer { lock.unlock() }
    while head == queue.count && !closed { lock.wait(changed) }
    guard head < queue.count else { return nil }
    let job = queue[head]
    head += 1
    if head == queue.count {
      queue.removeAll(keepingCapacity: true)
      head = 0
    }
    changed.broadcast()
    return job
  }

  func copy(_ job: FileJob) {
    if let inline { return inline.run(job, state) }
    lock.lock()
    while queue.count - head >= capacity { lock.wait(changed) }
    queue.append(job)
    lock.unlock()
    changed.broadcast()
  }

  func finish() {
    lock.lock()
    closed = true
    changed.broadcast()
    while running > 0 { lock.wait(changed) }
    lock.unlock()
  }
}
