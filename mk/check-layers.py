#!/usr/bin/env python3
"""check-layers: enforce Docs/Architecture.md's "Who may import what".

Reads the two tables that follow the markers `<!-- check-layers: modules -->` and
`<!-- check-layers: exceptions -->` in Docs/Architecture.md, then checks:

  1. every Swift module (a directory under Sources/, Tests/, Benchmarks/Sources/,
     Benchmarks/Tests/, Benchmarks/Benchmarks/, Benchmarks/Peers/Sources/, named as its
     Package.swift names the target with that `path:`, else by the directory; test fixtures
     under Tests/Fixtures are packages of their own and skipped) has a row;
  2. every `import X` in its Swift files names a module its row lists;
  3. `public import X` / `@_exported import X` only for modules its row may re-export,
     or an import listed as an exception;
  4. `@testable import` only in test targets (directories under a Tests/ folder);
  5. no C header, C source or module map reaches out of its component (CShims/,
     Benchmarks/c/, or its module's directory under Sources/) by a relative path
     (`#include "../../CShims/x.h"`, `header "../x.h"`), and no header is in two module maps;
  6. every listed exception still occurs (a stale one must be deleted);
  7. no Swift file under Sources/ZeroCopy calls a Glibc system call (or libc's wrapper of
     one: `fstatat(`, `ioctl(`, `poll(`… — SYSCALLS below) directly, except as the table
     after `<!-- check-layers: zerocopy-syscalls -->` allows (a file and its calls, or `*`
     for every call in it); system calls go through LinuxIO's typed wrappers, which have
     the one EINTR loop and the one errno conversion. An allowed call that no longer
     occurs must be deleted from the table, as a stale exception.

Exit 0 with "check-layers: N passed, 0 failed", or 1 with each violation and its file:line.
Usage: check-layers.py [REPO_ROOT]
"""
import os
import re
import sys

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
DOC = os.path.join(ROOT, "Docs", "Architecture.md")
MODULE_PARENTS = ["Sources", "Tests", "Benchmarks/Sources", "Benchmarks/Tests", "Benchmarks/Benchmarks",
                  "Benchmarks/Peers/Sources"]
SKIP_DIRS = {".build", "Fixtures"}  # Tests/Fixtures/*: separate packages with their own Package.swift

IMPORT = re.compile(
    r"^\s*((?:@[A-Za-z_]+(?:\([^)]*\))?\s+)*)"            # attributes: @testable, @_exported, @preconcurrency
    r"((?:public|package|internal|fileprivate|private)\s+)?"  # access level
    r"import\s+(?:(?:typealias|struct|class|enum|protocol|let|var|func)\s+)?"
    r"([A-Za-z_][A-Za-z0-9_]*)")


def tables(text):
    """The rows (lists of cells) of the table after each check-layers marker."""
    out = {}
    for name in ("modules", "exceptions", "zerocopy-syscalls"):
        marker = "<!-- check-layers: %s -->" % name
        at = text.find(marker)
        if at < 0:
            sys.exit("check-layers: %s has no '%s' marker" % (DOC, marker))
        rows = []
        for line in text[at + len(marker):].lstrip("\n").splitlines():
            if not line.startswith("|"):
                break
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if all(set(c) <= set("-: ") for c in cells):
                continue  # the separator row
            rows.append(cells)
        out[name] = rows[1:]  # without the header row
    return out


# Glibc functions that are system calls (or thin libc wrappers of one) and may not be called
# from Sources/ZeroCopy directly: a call is the name followed by `(`, bare or as `Glibc.name(`,
# not preceded by another `.` (a method) or a word character, outside comments and string literals; `stat()` with no
# arguments is a Swift call (`stat()`, the C struct's initializer; a method `close()`), and a
# first argument with a label is Swift.
SYSCALLS = set("""
open openat close read write pread pwrite readv writev preadv pwritev lseek fstat fstatat stat lstat
statx mkdir mkdirat unlink unlinkat rename renameat link linkat symlink symlinkat readlink readlinkat
mknod mknodat chmod fchmod fchmodat chown fchown fchownat lchown utimensat futimens utimes ftruncate
truncate fallocate posix_fallocate fsync fdatasync ioctl fcntl poll ppoll select epoll_create1
epoll_ctl epoll_wait dup dup2 dup3 pipe pipe2 socket socketpair bind listen accept accept4 connect
send sendto sendmsg recv recvfrom recvmsg shutdown getsockopt setsockopt getsockname getpeername
mmap munmap madvise mlock munlock opendir fdopendir readdir closedir fgetxattr fsetxattr flistxattr
fremovexattr lgetxattr lsetxattr llistxattr lremovexattr getxattr setxattr listxattr removexattr
eventfd pthread_sigmask sigprocmask kill getrlimit setrlimit statfs fstatfs syscall posix_fadvise
access faccessat realpath sendfile splice tee vmsplice copy_file_range mkstemp mkostemp mkstemps mkostemps
""".split())
SYSCALL_CALL = re.compile(r"(?:(?<=Glibc\.)|(?<![\w.$]))(" + "|".join(sorted(SYSCALLS)) + r")\s*\(")


def syscall_calls(path):
    """(line number, name) of each direct system call in a Swift file."""
    found = []
    for number, line in code_lines(path):
        code = re.sub(r'"(?:[^"\\]|\\.)*"', '""', line)
        if "//" in code:
            code = code[:code.index("//")]
        for m in SYSCALL_CALL.finditer(code):
            before, after = code[:m.start()], code[m.end():]
            if re.search(r"\b(func|case|await)\s*$", before):
                continue  # a declaration, an enum case, a Swift async call
            if after.lstrip().startswith(")"):
                continue  # no argument: `stat()` is the struct, `close()` a Swift method
            if re.match(r"\s*\w+\s*:(?!:)", after):
                continue  # a labelled argument: a Swift function
            found.append((number, m.group(1)))
    return found


def names(cell):
    return set(re.findall(r"`([^`]+)`", cell))


def manifest_paths():
    """{absolute directory: target name} for targets whose Package.swift gives a `path:`."""
    out = {}
    target = re.compile(r'\.(?:target|executableTarget|testTarget|systemLibrary)\(\s*name:\s*"([^"]+)"(.*?)\n\s*\)', re.S)
    for manifest in ("Package.swift", "Benchmarks/Package.swift", "Benchmarks/Peers/Package.swift"):
        path = os.path.join(ROOT, manifest)
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as f:
            for name, body in target.findall(f.read()):
                m = re.search(r'\bpath:\s*"([^"]+)"', body)
                if m:
                    out[os.path.normpath(os.path.join(os.path.dirname(path), m.group(1)))] = name
    return out


def swift_files(directory):
    for base, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith(".build")]
        for f in sorted(files):
            if f.endswith(".swift"):
                yield os.path.join(base, f)


def code_lines(path):
    """(line number, line) of a Swift file outside multi-line string literals and block
    comments, which hold example code."""
    in_string = False
    in_comment = 0
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            quotes = line.count('"""')
            if in_string:
                if quotes % 2 == 1:
                    in_string = False
                continue
            if quotes % 2 == 1:
                in_string = True
            if in_comment or line.strip().startswith("/*"):
                in_comment += line.count("/*") - line.count("*/")
                continue
            yield number, line


def imports(path):
    """(line number, attributes, access, module) for each import outside string literals."""
    found = []
    for number, line in code_lines(path):
        if line.strip().startswith("//"):
            continue
        m = IMPORT.match(line)
        if m:
            found.append((number, m.group(1) or "", (m.group(2) or "").strip(), m.group(3)))
    return found


def main():
    with open(DOC, encoding="utf-8") as f:
        t = tables(f.read())
    rules = {}
    for cells in t["modules"]:
        if len(cells) < 3 or not names(cells[0]):
            continue
        module = next(iter(names(cells[0])))
        rules[module] = (names(cells[1]), names(cells[2]))
    exceptions = {}
    for cells in t["exceptions"]:
        if len(cells) >= 2 and names(cells[0]) and names(cells[1]):
            exceptions[(next(iter(names(cells[0]))), next(iter(names(cells[1]))))] = cells[2] if len(cells) > 2 else ""

    problems = []
    checks = 0
    used_exceptions = set()
    modules = []
    named = manifest_paths()
    for parent in MODULE_PARENTS:
        p = os.path.join(ROOT, parent)
        if os.path.isdir(p):
            for d in sorted(os.listdir(p)):
                full = os.path.join(p, d)
                if os.path.isdir(full) and d not in SKIP_DIRS:
                    modules.append((named.get(os.path.normpath(full), d), full, "Tests" in parent.split("/")))
    for module, directory, is_test in modules:
        files = list(swift_files(directory))
        if not files:
            continue  # a C target (CLibURing): checked as C below
        checks += 1
        if module not in rules:
            problems.append("%s: module %s has no row in Docs/Architecture.md's import table"
                            % (os.path.relpath(directory, ROOT), module))
            continue
        allowed, exported = rules[module]
        for path in files:
            rel = os.path.relpath(path, ROOT)
            for number, attributes, access, imported in imports(path):
                checks += 1
                where = "%s:%d" % (rel, number)
                text = " ".join(x for x in (attributes.strip(), access, "import " + imported) if x)
                plain = (module, "import " + imported)
                if imported not in allowed and imported != module and plain in exceptions:
                    used_exceptions.add(plain)
                elif imported not in allowed and imported != module:
                    problems.append("%s: %s may not import %s (allowed: %s)"
                                    % (where, module, imported, ", ".join(sorted(allowed)) or "nothing"))
                if access == "public" or "@_exported" in attributes:
                    key = (module, "public import " + imported)
                    if key in exceptions:
                        used_exceptions.add(key)
                    elif imported not in exported:
                        problems.append("%s: %s may not re-export %s (`%s`; may re-export: %s)"
                                        % (where, module, imported, text, ", ".join(sorted(exported)) or "nothing"))
                if "@testable" in attributes and not is_test:
                    problems.append("%s: @testable import outside a test target" % where)

    # C: no relative reach across directories; no header in two module maps.
    include = re.compile(r'^\s*#\s*include\s*"([^"]+)"')
    header = re.compile(r'^\s*(?:private\s+|textual\s+|umbrella\s+)*header\s+"([^"]+)"')
    mapped = {}
    # A component is CShims/, Benchmarks/c/, or one module directory under Sources/.
    components = [os.path.join(ROOT, "CShims"), os.path.join(ROOT, "Benchmarks", "c")]
    components += [os.path.join(ROOT, "Sources", d) for d in sorted(os.listdir(os.path.join(ROOT, "Sources")))]
    for component in components:
        if not os.path.isdir(component):
            continue
        for base, dirs, files in os.walk(component):
            dirs[:] = [d for d in dirs if not d.startswith(".build")]
            for f in files:
                path = os.path.join(base, f)
                rel = os.path.relpath(path, ROOT)
                if f.endswith((".c", ".h")):
                    pattern = include
                elif f == "module.modulemap":
                    pattern = header
                else:
                    continue
                with open(path, encoding="utf-8", errors="replace") as fh:
                    for number, line in enumerate(fh, 1):
                        m = pattern.match(line)
                        if not m:
                            continue
                        checks += 1
                        target = m.group(1)
                        full = os.path.normpath(os.path.join(base, target))
                        if not (full + os.sep).startswith(component + os.sep):
                            problems.append('%s:%d: "%s" reaches outside %s/ by a relative path: '
                                            "depend on the target that owns it instead"
                                            % (rel, number, target, os.path.relpath(component, ROOT)))
                        if pattern is header:
                            if full in mapped:
                                problems.append("%s:%d: %s is also in %s: a header belongs to one module"
                                                % (rel, number, target, mapped[full]))
                            mapped[full] = rel

    # Direct system calls in ZeroCopy: only the allow-listed ones.
    allowed_calls = {}
    for cells in t["zerocopy-syscalls"]:
        if len(cells) >= 3 and names(cells[0]):
            allowed_calls[next(iter(names(cells[0])))] = names(cells[1])
    used_calls = set()
    zerocopy = os.path.join(ROOT, "Sources", "ZeroCopy")
    for path in swift_files(zerocopy):
        rel = os.path.relpath(path, ROOT)
        allowed = allowed_calls.get(rel, set())
        for number, call in syscall_calls(path):
            checks += 1
            if "*" in allowed or call in allowed:
                used_calls.add((rel, "*" if "*" in allowed else call))
            else:
                problems.append("%s:%d: a direct system call `%s(` in ZeroCopy: use LinuxIO's typed wrapper (add one "
                                "there if it is missing), or allow it in Docs/Architecture.md's zerocopy-syscalls "
                                "table with the reason" % (rel, number, call))
    for rel, calls in allowed_calls.items():
        for call in calls:
            checks += 1
            if (rel, call) not in used_calls:
                problems.append("Docs/Architecture.md: `%s` is allowed in %s but no longer called there (or the file "
                                "is gone): delete it from the zerocopy-syscalls table" % (call, rel))

    for key, reason in exceptions.items():
        checks += 1
        if key not in used_exceptions:
            problems.append("Docs/Architecture.md: the exception `%s` in %s no longer occurs: delete its row"
                            % (key[1], key[0]))

    for p in problems:
        print("  FAIL  " + p)
    if used_exceptions:
        for key in sorted(used_exceptions):
            print("  note  %s: `%s` is a listed exception (%s)" % (key[0], key[1], exceptions[key]))
    print("check-layers: %d passed, %d failed" % (checks - len(problems), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
