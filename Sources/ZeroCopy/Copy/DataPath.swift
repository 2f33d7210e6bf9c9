// Clone or copy, said plainly: for every copy, whether its data was shared with the source
// (cloned), copied inside the kernel, or copied through user space — and why the faster way
// was not taken. Silent fallbacks from clones to full copies are what users of other tools
// complain about; this makes the report say it.

import Glibc
import LinuxIO
import SystemPackage

/// How a copy's bytes reached its destination, fastest first.
public struct DataPath: Sendable, Hashable, CustomStringConvertible {
  /// The kind of copy.
  public enum Kind: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// The destination shares the source's extents (`ioctl(FICLONE)`, `FICLONERANGE`, or
    /// `copy_file_range` on a filesystem that reflinks, seen with FIEMAP's
    /// `FIEMAP_EXTENT_SHARED`): nothing was copied, and no space used until one is written.
    case cloned
    /// Some extents are shared, others were copied (a clone of part of the file).
    case partlyCloned
    /// Copied by the kernel (`copy_file_range` without sharing, `sendfile`, `splice`): the
    /// bytes never entered this process.
    case kernel
    /// Read into this process's memory and written out (`read`/`write`, `mmap`, io_uring
    /// reads and writes, O_DIRECT).
    case userSpace
    /// No data was copied: the destination was kept (`-n`, `-u`, a "no" to `-i`) or made a
    /// hard link of an earlier copy (`--preserve=links`).
    case notCopied

    /// "cloned", "kernel", "userSpace", "notCopied"…
    public var description: String { rawValue }
  }

  /// The kind.
  public var kind: Kind
  /// Why not a faster kind (`FICLONE: EOPNOTSUPP (this filesystem cannot share extents)`,
  /// `--reflink=never`, `the files are on different filesystems (EXDEV)`…), or what the
  /// kind rests on (`FIEMAP: 3 of 3 extents shared`); nil when nothing needs saying.
  public var reason: String?

  /// A data path.
  public init(_ kind: Kind, reason: String? = nil) {
    self.kind = kind
    self.reason = reason
  }

  /// "cloned", or "copied in the kernel (not cloned: FICLONE: EOPNOTSUPP …)".
  public var description: String {
    let words: String
    switch kind {
    case .cloned: words = "cloned"
    case .partlyCloned: words = "partly cloned"
    case .kernel: words = "copied in the kernel"
    case .userSpace: words = "copied through user space"
    case .notCopied: words = "not copied"
    }
    return reason.map { "\(words) (\($0))" } ?? words
  }

  /// The kind of a built-in strategy's copy, by its name (nil for a strategy this module
  /// does not know: a registered one).
  static func kind(ofStrategy name: String) -> Kind? {
    switch name {
    case "reflink": return .cloned
    case "copyFileRange", "sendfile", "splice", "ioUringSplice": return .kernel
    case "readWrite", "mmapWrite", "directIO", "ioUring", "sendZeroCopy": return .userSpace
    default: return nil
    }
  }
}

/// Whether a clone is worth trying, and what a refused one means.
enum Cloning {
  /// Tries `ioctl(FICLONE)` of the whole of `input` into `output` (both regular files,
  /// `output` empty). Returns nil on success, or the errno and the reason in words.
  static func attempt(_ input: CInt, into output: CInt) -> (Errno, String)? {
    do {
      try FileDescriptor(rawValue: output).cloneContents(from: FileDescriptor(rawValue: input))
      return nil
    } catch {
      return (error, refusal(error))
    }
  }

  /// "FICLONE: EOPNOTSUPP (this filesystem cannot share extents)".
  static func refusal(_ errno: Errno) -> String {
    let why: String
    switch errno {
    case .notSupported, .noFunction: why = "this filesystem cannot share extents"
    case .improperLink: why = "the files are on different filesystems"
    case .invalidArgument: why = "the filesystem refused this pair of files"
    case .textFileBusy: why = "the destination is in use as a swap file or executable"
    default: why = "\(errno)"
    }
    return "FICLONE: \(errno.symbolicName) (\(why))"
  }

  /// Whether `errno` from FICLONE means "copy instead" (anything but an I/O or space error).
  static func isRefusal(_ errno: Errno) -> Bool {
    ![Errno.noSpace, .ioError, .diskQuotaExceeded, .canceled, .interrupted].contains(errno)
  }

  /// The data path of a copy that `copy_file_range` made: cloned when FIEMAP reports the
  /// destination's extents shared (checked without a sync: one `ioctl`), else a kernel copy.
  /// On a filesystem without FIEMAP (tmpfs, NFS) the sharing is unknown: a kernel copy.
  static func afterCopyFileRange(_ output: CInt, reason: String?) -> DataPath {
    do {
      let sharing = try FileDescriptor(rawValue: output).extentSharing()
      if sharing.allShared { return DataPath(.cloned, reason: "copy_file_range shared the extents (FIEMAP: \(sharing))") }
      if sharing.shared > 0 { return DataPath(.partlyCloned, reason: "copy_file_range; FIEMAP: \(sharing)") }
      return DataPath(.kernel, reason: reason ?? (sharing.extents == 0 ? nil : "not cloned: FIEMAP: \(sharing)"))
    } catch {
      return DataPath(
        .kernel, reason: [reason, "sharing not checked: FIEMAP: \(error.symbolicName)"].compactMap { $0 }.joined(separator: "; "))
    }
  }
}
