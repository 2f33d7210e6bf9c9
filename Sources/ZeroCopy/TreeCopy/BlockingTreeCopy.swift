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
  /// The most `copy_file_range` moves between two checks for cancellation.
  static let chunkSize: Int64 = 8 << 20
  /// Why a file went through user space, for the report.
  static let smallFileReason = "files of at most 128 KiB: one read and one write"
  let options: TreeCopy.Options
  let buffer: UnsafeMutableRawBufferPointer

  init(options: TreeCopy.Options) {
    self.options = options
    buffer = .allocate(byteCount: Self.bufferSize, alignment: 4096)
  }

  deinit { buffer.deallocate() }

  /// How one file ended.
  enum Outcome {
    case copied(Int64)
    /// The data is complete, but a required attribute could not be set (the file stays, as cp leaves it).
    case copiedWithError(ZeroCopyError)
    case failed(ZeroCopyError)
    /// Cancelled in flight and undone.
    case undone
    /// Not started: the copy had been cancelled.
    case skipped
  }

  /// Copies `job`, reporting the result to `state`.
  func run(_ job: FileJob, _ state: TreeCopyState) {
    switch copy(job, state) {
    case .copied(let bytes):
      job.completed()
      state.fileDone(bytes: bytes, job.dataPath)
    case .copiedWithError(let error):
      job.completed()
      state.fail(error)
    case .failed(let error):
      job.abandon()
      state.fail(error)
    case .undone:
      job.abandon()
      state.fileUndone()
    case .skipped:
      job.abandon()
    }
  }

  /// A failure (or cancellation) after the destination was opened: the file is undone
  /// (removed if this copy created it, cut to the bytes written otherwise).
  private struct Stop: Error {
    var outcome: Outcome
    var written: Int64
  }

  func copy(_ job: FileJob, _ state: TreeCopyState) -> Outcome {
    if state.cancelled { return .skipped }
    let policy = options.policy
    // Before anything is opened for writing: a destination that is the source itself (a
    // hard link, a bind mount) is refused, whatever the overwrite mode.
    let directory = job.destination.descriptor
    let existing = try? directory.status(of: job.destinationName, followingSymbolicLinks: false).rawValue
    let exists = existing != nil
    if let existing, existing.st_mode & S_IFMT == S_IFREG && job.isSource(existing) { return .failed(job.sameFileError()) }
    let sourceOptions = FileDescriptor.OpenOptions(rawValue: job.sourceNoFollow).union(.closeOnExec)
    let inputDescriptor: FileDescriptor
    do throws(Errno) {
      inputDescriptor = try job.source.descriptor.open(
        relative: job.sourceName, .readOnly, options: sourceOptions, retryOnInterrupt: false)
    } catch {
      return .failed(job.error("openat", error, "cannot open the source file for reading"))
    }
    defer { try? inputDescriptor.close() }
    let input = inputDescriptor.rawValue
    // Never O_TRUNC at open: the opened file is checked against the source first.
    let permissions = FilePermissions(rawValue: job.createMode)
    func openOutput(exclusive: Bool) -> Result<FileDescriptor, Errno> {
      let options: FileDescriptor.OpenOptions = [.create, .noFollow, .closeOnExec]
      return Result { () throws(Errno) in
        try directory.open(
          relative: job.destinationName, .writeOnly, options: exclusive ? options.union(.exclusiveCreate) : options,
          permissions: permissions, retryOnInterrupt: false)
      }
    }
    var opened = openOutput(exclusive: false)
    var created = !exists
    if case .failure(.tooManySymbolicLinkLevels) = opened {
      // The destination is a symbolic link: replace it (never write through it).
      do throws(Errno) {
        try directory.removeEntry(job.destinationName)
        opened = openOutput(exclusive: true)
        created = true
      } catch {
        opened = .failure(error)
      }
    }
    if case .failure(let e) = opened, e != .noSuchFileOrDirectory, e != .isDirectory,
      policy.replace == .removeIfUnwritable
    {
      // cp -f: an existing file that cannot be opened is removed and created anew.
      if (try? directory.removeEntry(job.destinationName)) != nil {
        policy.onEvent?(CopyEvent(kind: .removed, source: nil, destination: job.destinationPath))
        opened = openOutput(exclusive: true)
        created = true
      } else {
        opened = .failure(.permissionDenied)
      }
    }
    if case .failure(.permissionDenied) = opened, let old = TreeWalker.makeFileOwnerWritable(directory, job.destinationName) {
      // A read-only file from an earlier copy: writable for now, its mode back after the data.
      job.madeWritable = old
      opened = openOutput(exclusive: false)
    }
    let outputDescriptor: FileDescriptor
    switch opened {
    case .success(let fd): outputDescriptor = fd
    case .failure(let e):
      return .failed(
        job.error(
          "openat", e,
          e == .isDirectory ? "cannot overwrite directory with non-directory" : "cannot open the destination file for writing"))
    }
    let output = outputDescriptor.rawValue
    job.noteDestination(existed: !created)
    var outputOpen = true
    defer { if outputOpen { try? outputDescriptor.close() } }
    let st: stat
    do throws(Errno) {
      st = try outputDescriptor.status().rawValue
    } catch {
      return undo(job, Stop(outcome: .failed(job.error("fstat", error)), written: 0))
    }
    // Again on the descriptor (the name may have changed since): never truncate the source.
    if job.isSource(st) {
      job.completed()
      return .failed(job.sameFileError())
    }

    let copied: Int64
    do throws(Stop) {
      if let cloned = try clone(input, output, job, state, oldSize: Int64(st.st_size)) {
        copied = cloned
      } else {
        if options.overwrite == .truncateOnOpen && st.st_size > 0 {
          do throws(Errno) {
            try outputDescriptor.truncate(toSize: 0)
          } catch {
            throw Stop(outcome: .failed(job.error("ftruncate", error, "cannot truncate the destination")), written: 0)
          }
        }
        copied = try copyData(input, output, job, state, oldSize: options.overwrite == .truncateOnOpen ? 0 : Int64(st.st_size))
      }
    } catch {
      return undo(job, error)
    }
    // The data is complete: an attribute that cannot be set is an error, the file stays.
    if let failure = job.applyMetadata(output: output, input: input) { return .copiedWithError(failure) }
    if options.fsync {
      do throws(Errno) {
        try outputDescriptor.synchronize()
      } catch {
        return undo(
          job,
          Stop(outcome: .failed(job.error("fsync", error, "cannot sync the destination", bytes: copied)), written: copied))
      }
    }
    outputOpen = false
    do {
      try outputDescriptor.close()
    } catch {
      return undo(
        job,
        Stop(
          outcome: .failed(
            job.error("close", error as? Errno ?? .ioError, "closing the destination failed", bytes: copied)),
          written: copied))
    }
    return .copied(copied)
  }

  private func undo(_ job: FileJob, _ stop: Stop) -> Outcome {
    job.undo(bytesWritten: stop.written)
    return stop.outcome
  }

  /// --reflink=auto|always: `ioctl(FICLONE)`, unless this pair of filesystems refused it
  /// already. Returns the file's size when cloned, nil to copy the bytes (the reason is in
  /// the job's data path).
  private func clone(_ input: Int32, _ output: Int32, _ job: FileJob, _ state: TreeCopyState, oldSize: Int64) throws(Stop)
    -> Int64?
  {
    let policy = options.policy
    guard policy.reflink != .never else {
      job.dataPath = DataPath(.userSpace, reason: "not cloned: --reflink=never")
      return nil
    }
    let from = job.device, to = job.destination.node.device
    if let refusal = state.cloneRefusal(from: from, to: to) {
      if policy.reflink == .always {
        throw Stop(outcome: .failed(job.error("ioctl(FICLONE)", .notSupported, "failed to clone: \(refusal)")), written: 0)
      }
      job.dataPath = DataPath(.userSpace, reason: "not cloned: \(refusal)")
      return nil
    }
    // A clone replaces the data but keeps a longer old file's tail: empty it first.
    if oldSize > 0 {
      do throws(Errno) {
        try FileDescriptor(rawValue: output).truncate(toSize: 0)
      } catch {
        throw Stop(outcome: .failed(job.error("ftruncate", error, "cannot truncate the destination")), written: 0)
      }
    }
    if let (errno, why) = Cloning.attempt(input, into: output) {
      if policy.reflink == .always || !Cloning.isRefusal(errno) {
        throw Stop(outcome: .failed(job.error("ioctl(FICLONE)", errno, "failed to clone: \(why)")), written: 0)
      }
      state.recordClone(from: from, to: to, refusal: why)
      job.dataPath = DataPath(.userSpace, reason: "not cloned: \(why)")
      return nil
    }
    state.recordClone(from: from, to: to, refusal: "")
    job.dataPath = DataPath(.cloned, reason: "ioctl(FICLONE)")
    return job.size
  }

  /// The reasons for a file's data path so far, plus `more`.
  private func reason(_ job: FileJob, _ more: String?) -> String? {
    [job.dataPath.reason, more].compactMap { $0 }.joined(separator: "; ").nilIfEmpty
  }

  /// Writes the file's bytes into `output` (opened, not truncated: `oldSize` bytes of an
  /// earlier file may be there) and cuts it to the copy's length.
  private func copyData(_ input: Int32, _ output: Int32, _ job: FileJob, _ state: TreeCopyState, oldSize: Int64) throws(Stop)
    -> Int64
  {
    var copied: Int64 = 0
    var length = job.size
    if options.sparse == .always || (options.sparse == .auto && job.looksSparse) {
      (copied, length) = try copySparse(input, output, job, state)
      if oldSize > 0 || length > copied {
        // Holes at the end, or an older, longer file: the length is set explicitly.
        do throws(Errno) {
          try FileDescriptor(rawValue: output).truncate(toSize: length)
        } catch {
          throw Stop(
            outcome: .failed(job.error("ftruncate", error, "cannot set the copy's length", bytes: copied)), written: copied)
        }
      }
      return copied
    }
    if job.size <= Int64(buffer.count) {
      let n = Int(job.size)
      let read: TransferResult
      do throws(TransferFailure) {
        read = try FileDescriptor(rawValue: input).readAll(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<n]), at: 0)
      } catch {
        throw Stop(outcome: .failed(job.error("pread64", error.errno, "cannot read the source file")), written: 0)
      }
      copied = read.progress.bytes
      if read.outcome != .complete {
        throw Stop(
          outcome: .failed(
            job.error("pread64", .ioError, "the source file shrank while it was copied (\(copied) of \(job.size) bytes)")),
          written: 0)
      }
      try writeAll(output, from: 0, count: n, at: 0, job, done: 0)
      if job.size > 0 { job.dataPath = DataPath(.userSpace, reason: reason(job, Self.smallFileReason)) }
    } else {
      copied = try copyLarge(input, output, job, state)
    }
    if oldSize > job.size {
      do throws(Errno) {
        try FileDescriptor(rawValue: output).truncate(toSize: job.size)
      } catch {
        throw Stop(
          outcome: .failed(job.error("ftruncate", error, "cannot cut the old destination to size", bytes: copied)),
          written: copied)
      }
    }
    return copied
  }

  /// `count` bytes of the buffer from `from` to `output` at `offset`; `done` bytes of the
  /// file were written before (for the error's count).
  private func writeAll(_ output: Int32, from: Int, count: Int, at offset: Int64, _ job: FileJob, done: Int64) throws(Stop) {
    do throws(TransferFailure) {
      // A regular file: complete, or an error (never .wouldBlock).
      _ = try FileDescriptor(rawValue: output).writeAll(
        UnsafeRawBufferPointer(rebasing: buffer[from..<(from + count)]), at: offset)
    } catch {
      let bytes = done + error.progress.bytes
      throw Stop(
        outcome: .failed(job.error("pwrite64", error.errno, "cannot write the destination file", bytes: bytes)), written: bytes)
    }
  }

  /// copy_file_range in chunks (cancellation checked between them), then read/write when
  /// the kernel cannot (EXDEV, EINVAL, EOPNOTSUPP, ENOSYS).
  private func copyLarge(_ input: Int32, _ output: Int32, _ job: FileJob, _ state: TreeCopyState) throws(Stop) -> Int64 {
    try copyRange(input, output, job, state, from: 0, count: job.size, done: 0)
    return job.size
  }

  /// Copies `count` bytes at offset `from` (the same offset in both files); `done` bytes of
  /// the file were written before. Throws on failure, cancellation, or a source that ended early.
  private func copyRange(
    _ input: Int32, _ output: Int32, _ job: FileJob, _ state: TreeCopyState, from start: Int64, count: Int64, done: Int64
  ) throws(Stop) {
    let src = FileDescriptor(rawValue: input), dst = FileDescriptor(rawValue: output)
    var moved: Int64 = 0
    // --reflink=never: no copy_file_range either (it clones on Btrfs and XFS).
    var kernelCopy = options.policy.reflink != .never
    if kernelCopy && count > 0 { job.dataPath = DataPath(.kernel, reason: job.dataPath.reason) }
    while moved < count {
      if state.cancelled { throw Stop(outcome: .undone, written: done + moved) }
      let piece = Swift.min(Self.chunkSize, count - moved)
      if kernelCopy {
        do {
          let r = try src.copyFileRangeAll(
            to: dst, sourceOffset: start + moved, destinationOffset: start + moved, count: .bytes(piece))
          moved += r.bytes
          if r.outcome == .sourceEndedEarly { break }
          continue
        } catch {
          let fallback: Set<Errno> = [.improperLink, .invalidArgument, .notSupported, .noFunction]
          job.dataPath = DataPath(.userSpace, reason: job.dataPath.reason)
          moved += error.progress.bytes
          guard moved == 0, fallback.contains(error.errno) else {
            throw Stop(
              outcome: .failed(job.error("copy_file_range", error.errno, "cannot copy the file's data", bytes: done + moved)),
              written: done + moved)
          }
          kernelCopy = false
          job.dataPath = DataPath(.userSpace, reason: reason(job, "copy_file_range: \(error.errno.symbolicName)"))
        }
      }
      let want = Int(Swift.min(Int64(buffer.count), count - moved))
      let r: Int
      do {
        // One pread64 (swift-system's, which retries EINTR): a short read is fine here.
        r = try src.read(fromAbsoluteOffset: start + moved, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]))
      } catch {
        let errno = error as? Errno ?? .ioError
        throw Stop(
          outcome: .failed(job.error("pread64", errno, "cannot read the source file", bytes: done + moved)), written: done + moved
        )
      }
      if r == 0 { break }
      try writeAll(output, from: 0, count: r, at: start + moved, job, done: done + moved)
      moved += Int64(r)
    }
    if moved < count {
      let bytes = done + moved
      throw Stop(
        outcome: .failed(
          job.error(
            kernelCopy ? "copy_file_range" : "pread64", .ioError,
            "the source file shrank while it was copied (\(start + moved) of \(job.size) bytes)", bytes: bytes)), written: bytes)
    }
  }

  /// A file with holes: its data segments only (``SparseMode/auto``), or with runs of zeros
  /// skipped too (``SparseMode/always``). Returns (bytes written, the copy's length).
  private func copySparse(_ input: Int32, _ output: Int32, _ job: FileJob, _ state: TreeCopyState) throws(Stop) -> (Int64, Int64)
  {
    var segments = SparseFiles.Segments(input, from: 0, to: job.size)
    var written: Int64 = 0
    while true {
      let segment: Range<Int64>?
      do {
        segment = try segments.next()
      } catch {
        throw Stop(
          outcome: .failed(job.error("lseek(SEEK_DATA)", error, "cannot find the source's data segments", bytes: written)),
          written: written)
      }
      guard let segment else { return (written, job.size) }
      let count = segment.upperBound - segment.lowerBound
      if options.sparse == .always {
        job.dataPath = DataPath(.userSpace, reason: reason(job, "--sparse=always reads the data to find runs of zeros"))
        do {
          let done = try SparseFiles.copySkippingZeros(
            from: input, at: segment.lowerBound, to: output, at: segment.lowerBound, count: count, block: 4096,
            buffer: buffer
          ) { state.cancelled ? .canceled : nil }
          written += done.bytesWritten
          if done.reachedEnd { return (written, segment.lowerBound + done.bytesRead) }
        } catch {
          let bytes = written + error.result.bytesWritten
          if error.errno == .canceled { throw Stop(outcome: .undone, written: bytes) }
          throw Stop(
            outcome: .failed(job.error(error.syscall, error.errno, "cannot copy the file's data", bytes: bytes)), written: bytes)
        }
      } else {
        try copyRange(input, output, job, state, from: segment.lowerBound, count: count, done: written)
        written += count
      }
    }
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

extension String {
  /// Nil for the empty string.
  var nilIfEmpty: String? { isEmpty ? nil : self }
}
