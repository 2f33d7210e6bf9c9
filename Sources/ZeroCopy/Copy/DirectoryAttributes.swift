// The attributes of a directory that a program created itself for a copy (cp --parents'
// directories), with the same code, order and rules as the tree copy's directories.

import Glibc
public import SystemPackage

extension CopyPolicy {
  /// Gives `destination`, a directory the caller created for a copy of the directory
  /// `source`, the attributes this policy preserves, in cp's order and with cp's rules as
  /// ``CopyAttributes`` describes them: times, then the owner, then the extended
  /// attributes, then the mode with the access and default ACLs. Without ``CopyAttributes/mode``
  /// it sets `modeWithoutPreserve` (when given) instead. What `cp --parents` does to the
  /// directories it creates, once their contents are copied; `zc copy --parents` uses it.
  ///
  /// ```swift
  /// import SystemPackage
  /// import ZeroCopy
  ///
  /// let policy = CopyPolicy(preserve: .all)
  /// let notes = try policy.applyDirectoryAttributes(from: "/etc", to: "/tmp/etc-copy")
  /// for note in notes { print(note) }   // an attribute that could not be kept, not required
  /// ```
  ///
  /// - Parameters:
  ///   - source: The directory copied (followed if it is a symbolic link, as its copy's path was).
  ///   - destination: The directory made for it (followed likewise).
  ///   - modeWithoutPreserve: The permissions to set when the mode is not preserved (cp: the
  ///     source's less the umask), or nil to leave them.
  /// - Returns: A note for each attribute that could not be kept and that ``required`` does
  ///   not include (for example "cannot preserve the owner (fchown: EPERM)").
  /// - Throws: ``ZeroCopyError`` (operation `copy`) naming the call: `open` or `fstat` of
  ///   either directory, or the call that failed to set a required attribute (`futimens`,
  ///   `fchown`, `fsetxattr`, `fchmod`…).
  ///
  /// The corresponding C calls are `open(O_DIRECTORY)`, `fstat`, `futimens`, `fchown`,
  /// `flistxattr`/`fgetxattr`/`fsetxattr` and `fchmod`.
  public func applyDirectoryAttributes(
    from source: FilePath, to destination: FilePath, modeWithoutPreserve: FilePermissions? = nil
  ) throws(ZeroCopyError) -> [String] {
    func opened(_ path: FilePath) throws(ZeroCopyError) -> (CInt, stat) {
      let fd: FileDescriptor
      do throws(Errno) {
        fd = try FileDescriptor.currentWorkingDirectory.open(
          relative: path, .readOnly, options: [.directory, .closeOnExec], retryOnInterrupt: false)
      } catch {
        throw ZeroCopyError(.copy, syscall: "open", errno: error, paths: [path], message: "cannot open the directory")
      }
      do throws(Errno) {
        return (fd.rawValue, try fd.status().rawValue)
      } catch {
        try? fd.close()
        throw ZeroCopyError(.copy, syscall: "fstat", errno: error, paths: [path], message: "cannot stat the directory")
      }
    }
    let (sourceFD, sourceStatus) = try opened(source)
    defer { try? FileDescriptor(rawValue: sourceFD).close() }
    let (destinationFD, destinationStatus) = try opened(destination)
    defer { try? FileDescriptor(rawValue: destinationFD).close() }
    do {
      return try CopyMetadata(policy: self).apply(
        from: .descriptor(sourceFD), status: sourceStatus, to: .descriptor(destinationFD), current: destinationStatus,
        kind: .directory, created: true, modeWithoutPreserve: modeWithoutPreserve.map { mode_t($0.rawValue) })
    } catch {
      throw ZeroCopyError(
        .copy, syscall: error.syscall, errno: error.errno, paths: [source, destination],
        message: error.message + " of the directory")
    }
  }
}
