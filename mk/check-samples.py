#!/usr/bin/env python3
"""check-samples: every code sample in the documentation compiles.

Finds the fenced ```swift and ```c blocks of
  README.md, BENCHMARKS.md, FAULTS.md, Docs/*.md (not Docs/bench/), Sources/*/*.docc/**/*.md,
and the fenced blocks inside `///` doc comments of Sources/**/*.swift, writes each to a
file of its own and compiles it against this build:

  swift: swiftc -swift-version 6 -emit-sil (type checking plus the ownership and
         definite-initialization diagnostics) with the package's modules
         (BIN/Modules, the C module maps) — top-level code is allowed, as in a main.swift;
         a block that starts with `// swift-tools-version:X` is a manifest, type-checked
         against the toolchain's PackageDescription X; a block that imports the benchmark's
         modules (ZeroCopyBenchCLI, BenchKit) compiles against Benchmarks/.build-bench
         (make bench-build);
  c:     cc -std=c11 -Wall -Wextra -Werror -fsyntax-only with <zerocopy/*.h> from CShims/include.

A new sample is picked up by being there. A block that is deliberately not a whole
program opts out with the line `<!-- sample: fragment -->` right before its fence (in a doc
comment: `/// <!-- sample: fragment -->`); blocks in other languages (sh, text…) are not
compiled. Usage: check-samples.py REPO_ROOT SWIFT_BIN_PATH [--jobs N] [--keep DIR]
Exit 0 with "check-samples: N passed, 0 failed, M skipped", or 1 with each failure.
"""
import concurrent.futures
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

FENCE = re.compile(r"^(\s*)```+\s*([A-Za-z0-9_+-]*)")
MARKER = "<!-- sample: fragment -->"


def blocks(lines, origin):
    """(origin, first line number, language, code, skipped) for each fenced block."""
    out = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, lang = m.group(1), m.group(2).lower()
        start = i + 1
        j = start
        while j < len(lines) and not re.match(r"^\s*```", lines[j]):
            j += 1
        code = "\n".join(l[len(indent):] if l.startswith(indent) else l.lstrip() for l in lines[start:j])
        previous = lines[i - 1].strip() if i > 0 else ""
        out.append((origin, start, lang, code + "\n", previous == MARKER))
        i = j + 1
    return out


def doc_comment_lines(path):
    """The `///` comment runs of a Swift file, as (first line number, [text]) groups."""
    groups, current, first = [], [], 0
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            s = line.strip()
            if s.startswith("///"):
                if not current:
                    first = number
                current.append(s[3:][1:] if s[3:].startswith(" ") else s[3:])
            elif current:
                groups.append((first, current))
                current = []
    if current:
        groups.append((first, current))
    return groups


def collect(root):
    found = []
    docs = [os.path.join(root, f) for f in ("README.md", "FAULTS.md", "BENCHMARKS.md")]
    docs += sorted(os.path.join(root, "Docs", f) for f in os.listdir(os.path.join(root, "Docs")) if f.endswith(".md"))
    for base, dirs, files in os.walk(os.path.join(root, "Sources")):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for f in sorted(files):
            path = os.path.join(base, f)
            if f.endswith(".md") and ".docc" in path:
                docs.append(path)
            elif f.endswith(".swift"):
                for first, group in doc_comment_lines(path):
                    for origin, start, lang, code, skip in blocks(group, os.path.relpath(path, root)):
                        found.append((origin, first + start - 1, lang, code, skip))
    for path in docs:
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                found += blocks(f.read().splitlines(), os.path.relpath(path, root))
    return [b for b in found if b[2] in ("swift", "c")]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    root, bin_path = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    jobs = int(sys.argv[sys.argv.index("--jobs") + 1]) if "--jobs" in sys.argv else 2
    keep = sys.argv[sys.argv.index("--keep") + 1] if "--keep" in sys.argv else None
    modules = os.path.join(bin_path, "Modules")
    checkouts = os.path.join(os.path.dirname(os.path.dirname(bin_path)), "checkouts")
    if not os.path.isdir(modules):
        sys.exit("check-samples: no %s: build first (swift build)" % modules)
    bench_modules = os.path.join(root, "Benchmarks", ".build-bench", "release", "Modules")
    bench_checkouts = os.path.join(root, "Benchmarks", ".build-bench", "checkouts")
    swiftc = shutil.which("swiftc")
    cc = os.environ.get("CC", "cc")
    work = keep or tempfile.mkdtemp(prefix="zc-samples.")
    os.makedirs(os.path.join(work, "include"), exist_ok=True)
    link = os.path.join(work, "include", "zerocopy")
    if not os.path.exists(link):
        os.symlink(os.path.join(root, "CShims", "include"), link)
    swift_flags = [
        "-swift-version", "6", "-emit-sil", "-o", "/dev/null", "-I", modules,
        "-Xcc", "-fmodule-map-file=" + os.path.join(root, "CShims/include/module.modulemap"),
    ] + [
        # Every C module of the package (CLibURing, CLinuxExtras, ...): a sample importing a
        # Swift module that imports one needs its module map.
        flag for m in sorted(glob.glob(os.path.join(root, "Sources/*/module.modulemap")))
        for flag in ("-Xcc", "-fmodule-map-file=" + m)
    ] + [
        "-Xcc", "-I" + os.path.join(root, "CShims/include"),
        "-Xcc", "-fmodule-map-file=" + os.path.join(checkouts, "swift-system/Sources/CSystem/include/module.modulemap"),
        "-module-cache-path", os.path.join(work, "module-cache"),
    ]
    samples = collect(root)
    tasks = []
    skipped = 0
    for n, (origin, line, lang, code, skip) in enumerate(samples):
        if skip:
            skipped += 1
            continue
        name = "sample%03d_%s" % (n, re.sub(r"[^A-Za-z0-9]+", "_", origin)[-40:])
        manifest = re.match(r"//\s*swift-tools-version:\s*([0-9.]+)", code)
        if lang == "swift" and manifest:
            # A Package.swift: type-checked against the toolchain's PackageDescription.
            path = os.path.join(work, name + ".swift")
            api = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(swiftc))), "lib/swift/pm/ManifestAPI")
            command = [swiftc, "-typecheck", "-swift-version", "6", "-I", api,
                       "-package-description-version", manifest.group(1), path]
        elif lang == "swift" and re.search(r"^\s*import\s+(ZeroCopyBenchCLI|BenchKit)\b", code, re.M):
            # The benchmark package's modules: its own (release) build, which has ZeroCopy too.
            path = os.path.join(work, name + ".swift")
            if not os.path.isdir(bench_modules):
                tasks.append(("%s:%d (%s)" % (origin, line, lang), ["sh", "-c", "echo 'error: no %s: build the benchmark first (make bench-build)'; exit 1" % bench_modules], path))
                continue
            flags = [f if f != modules else bench_modules for f in swift_flags]
            flags = [f.replace(checkouts, bench_checkouts) for f in flags]
            command = [swiftc] + flags + [path]
        elif lang == "swift":
            path = os.path.join(work, name + ".swift")
            command = [swiftc] + swift_flags + [path]
        else:
            path = os.path.join(work, name + ".c")
            command = [cc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
                       "-I", os.path.join(work, "include"), path]
        with open(path, "w", encoding="utf-8") as f:
            f.write(code)
        tasks.append(("%s:%d (%s)" % (origin, line, lang), command, path))

    def run(task):
        label, command, path = task
        p = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return label, p.returncode, p.stdout, path

    failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        for label, rc, output, path in pool.map(run, tasks):
            if rc == 0:
                continue
            failed += 1
            print("  FAIL  %s" % label)
            for l in output.splitlines():
                if "error:" in l or "warning:" in l:
                    print("        | " + l.replace(path, os.path.basename(path)))
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    print("check-samples: %d passed, %d failed, %d skipped" % (len(tasks) - failed, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
