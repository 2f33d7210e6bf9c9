// cp's options whose effect depends on their order on the command line: the last of -P,
// -L, -H (and -a, -d) wins; -i and -n override each other; -p, -a, --preserve and
// --no-preserve each change several settings in turn. ArgumentParser accepts and checks
// them (and prints --help); their meaning is found by replaying the raw arguments in order,
// as cp's getopt loop does.

import ArgumentParser
import ZeroCopy

/// The settings -a, -d, -P, -L, -H, -p, --preserve, --no-preserve, -i, -n and -t make,
/// replayed in command-line order.
struct CpOrderedOptions: Equatable {
  enum Following: Equatable { case never, commandLine, always }
  enum Interactive: Equatable { case ask, never }

  /// -P, -L, -H (and -a, -d): nil when none was given (cp then follows with neither -r nor
  /// -a, and copies links as links with -r).
  var following: Following?
  var preserve: CopyAttributes = []
  /// --preserve=xattr itself (not "all", not -a): a failure to copy them is then an error.
  var requireXattr = false
  /// -p, -a or --preserve: a failure to preserve is an error.
  var requirePreserve = false
  /// --no-preserve=mode (or all): a new file gets the default permissions less the umask.
  var explicitNoPreserveMode = false
  var interactive: Interactive?
  /// -a (which implies -R).
  var archive = false
  /// How many -t/--target-directory were given (cp: "multiple target directories specified").
  var targetDirectories = 0

  /// The attributes whose failure is an error.
  var required: CopyAttributes {
    guard requirePreserve || requireXattr else { return [] }
    var required = requirePreserve ? preserve : []
    if requireXattr { required.insert(.xattr) } else { required.remove(.xattr) }
    return required
  }

  /// Long options that take a value in the next argument when written without `=`.
  static let longOptionsWithValue: Set<String> = [
    "strategy", "sparse", "engine", "jobs", "overwrite", "target-directory", "no-preserve",
  ]
  /// Short options that take a value (the rest of the argument, or the next one).
  static let shortOptionsWithValue: Set<Character> = ["t"]

  /// Replays the arguments after `copy` (normalized by ``RawArguments/normalizeCopyArguments(_:)``).
  static func replay(_ arguments: [String]) throws -> CpOrderedOptions {
    var result = CpOrderedOptions()
    var index = 0
    while index < arguments.count {
      let argument = arguments[index]
      index += 1
      if argument == "--" { break }
      if argument.hasPrefix("--") {
        let body = argument.dropFirst(2)
        let name: String, value: String?
        if let equals = body.firstIndex(of: "=") {
          name = String(body[..<equals])
          value = String(body[body.index(after: equals)...])
        } else if longOptionsWithValue.contains(String(body)) && index < arguments.count {
          name = String(body)
          value = arguments[index]
          index += 1
        } else {
          name = String(body)
          value = nil
        }
        try result.apply(long: name, value: value)
        continue
      }
      guard argument.hasPrefix("-"), argument.count > 1 else { continue }  // an operand, or "-"
      var letters = argument.dropFirst()
      while let letter = letters.first {
        letters = letters.dropFirst()
        if shortOptionsWithValue.contains(letter) {
          if letters.isEmpty { index += 1 }  // the value is the next argument
          result.apply(short: letter)
          break
        }
        result.apply(short: letter)
      }
    }
    return result
  }

  mutating func apply(short letter: Character) {
    switch letter {
    case "a":
      following = .never
      preserve.formUnion(.all)
      requirePreserve = true
      explicitNoPreserveMode = false
      archive = true
    case "d":
      preserve.insert(.links)
      following = .never
    case "P": following = .never
    case "L": following = .always
    case "H": following = .commandLine
    case "p":
      preserve.formUnion(.standard)
      requirePreserve = true
    case "i": interactive = .ask
    case "n": interactive = .never
    case "t": targetDirectories += 1
    default: break
    }
  }

  mutating func apply(long name: String, value: String?) throws {
    switch name {
    case "archive": apply(short: "a")
    case "no-dereference": following = .never
    case "dereference": following = .always
    case "interactive": interactive = .ask
    case "no-clobber": interactive = .never
    case "target-directory": targetDirectories += 1
    case "preserve":
      try decode(value ?? "mode,ownership,timestamps", on: true)
      requirePreserve = true
    case "no-preserve":
      try decode(value ?? "", on: false)
    default: break
    }
  }

  /// cp's `--preserve=LIST` / `--no-preserve=LIST`.
  mutating func decode(_ list: String, on: Bool) throws {
    let option = on ? "--preserve" : "--no-preserve"
    for item in list.split(separator: ",", omittingEmptySubsequences: false) {
      let attribute: CopyAttributes
      switch item {
      case "mode":
        attribute = .mode
        explicitNoPreserveMode = !on
      case "ownership": attribute = .ownership
      case "timestamps": attribute = .timestamps
      case "links": attribute = .links
      case "xattr":
        attribute = .xattr
        requireXattr = on
      case "all":
        attribute = .all
        explicitNoPreserveMode = !on
        if !on { requireXattr = false }
      case "context":
        // SELinux contexts: not offered (cp 9.1 also refuses them without an SELinux kernel).
        if on { throw ValidationError("\(option)=context: SELinux security contexts are not supported by zc copy") }
        continue
      default:
        throw ValidationError(
          "invalid argument \(RawArguments.quoted(String(item))) for '\(option)'; valid arguments are: mode, timestamps, ownership, links, context, xattr, all"
        )
      }
      if on { preserve.formUnion(attribute) } else { preserve.subtract(attribute) }
    }
  }
}
