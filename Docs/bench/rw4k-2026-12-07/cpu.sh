#!/bin/bash
# usage: cpu.sh ROUNDS STRATEGY BIN...   (root not needed; perf stat's task-clock)
# CPU per transfer of `zerocopy-bench _loop --side swift`, exact rather than tick-sampled:
# the task-clock of a run of 220,000 transfers minus that of a run of 20,000, divided by
# 200,000 (start-up, file creation and the final checksum cancel out). Pinned to CPU 1;
# the binaries interleaved in each round.
R=$1; S=$2; shift 2
for i in $(seq 1 $R); do
  for bin in "$@"; do
    a=$(taskset -c 1 perf stat -x, -e task-clock $bin _loop --strategy $S --count 20000 --side swift 2>&1 >/dev/null | awk -F, '/task-clock/ {print $1}')
    b=$(taskset -c 1 perf stat -x, -e task-clock $bin _loop --strategy $S --count 220000 --side swift 2>&1 >/dev/null | awk -F, '/task-clock/ {print $1}')
    echo "$(basename $bin) $(echo "($b - $a) / 200" | bc -l | xargs printf '%.3f')"
  done
done | tee cpu.out
python3 - <<'PY'
import collections, statistics
d = collections.defaultdict(list)
for line in open('cpu.out'):
    name, us = line.split(); d[name].append(float(us))
for name, v in d.items():
    print(f"{name:10} CPU µs per transfer: median {statistics.median(v):.3f} (runs {' '.join(f'{x:.2f}' for x in v)})")
PY
