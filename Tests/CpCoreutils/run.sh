#!/bin/bash
# Runs GNU coreutils' own cp tests (tests/cp/*.sh, written by others) against `zc copy`:
# a `cp` on PATH that runs `zc copy --quiet "$@"`. Not part of `make test` (it needs a
# coreutils checkout and gnulib's tests/init.sh); see Docs/Copy.md for the last results and
# why each failing test fails.
#
#   Tests/CpCoreutils/run.sh ZC COREUTILS_CHECKOUT GNULIB_CHECKOUT [TEST...]
#
# Prints "status test" per test (0 pass, 1 fail, 77 skipped, 99 set-up failure, 124 timed
# out) and keeps each test's log under $WORK/logs (WORK defaults to a new temporary directory).
set -u
zc=$(readlink -f "$1") coreutils=$2 gnulib=$3
shift 3
work=${WORK:-$(mktemp -d)}
mkdir -p "$work/tests/cp" "$work/src" "$work/logs"
cp "$gnulib/tests/init.sh" "$work/tests/init.sh"
cp "$coreutils/init.cfg" "$work/init.cfg"
cp "$coreutils"/tests/cp/*.sh "$work/tests/cp/"
cat > "$work/src/cp" <<WRAPPER
#!/bin/sh
if [ "\$1" = --version ]; then echo "cp (GNU coreutils) 9.1 (zc copy)"; exit 0; fi
exec "$zc" copy --quiet "\$@"
WRAPPER
chmod +x "$work/src/cp"
cd "$work"
tests=("$@")
[ ${#tests[@]} -eq 0 ] && tests=(tests/cp/*.sh)
for t in "${tests[@]}"; do
  name=$(basename "$t")
  srcdir=. abs_top_srcdir=$work abs_top_builddir=$work abs_srcdir=$work VERBOSE=no PATH="$work/src:$PATH" \
    built_programs="cp chgrp chmod chown ln mkdir mkfifo mknod touch ls stat dd rm mv cat id" \
    timeout 60 bash "tests/cp/$name" > "logs/$name.log" 2>&1 < /dev/null
  echo "$? $name"
done
