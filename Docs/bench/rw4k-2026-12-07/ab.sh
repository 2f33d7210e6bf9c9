#!/bin/bash
# usage: ab.sh ROUNDS STRATEGY BIN...   (each round: every binary's swift side, then C once)
# Output: NAME median-µs mean-µs user-µs system-µs per line (ab.out), then a summary per binary.
R=$1; S=$2; shift 2
for i in $(seq 1 $R); do
  for bin in "$@" C; do
    if [ $bin = C ]; then out=$(taskset -c 1 $1 _loop --repo "$(git rev-parse --show-toplevel)" --strategy $S --count 20000 --side c 2>&1 | grep "c:"); name=C
    else out=$(taskset -c 1 $bin _loop --repo "$(git rev-parse --show-toplevel)" --strategy $S --count 20000 --side swift 2>&1 | grep "swift:"); name=$(basename $bin); fi
    med=$(echo "$out" | sed -E 's/.*median ([0-9.]+).*/\1/')
    mean=$(echo "$out" | sed -E 's/.*mean ([0-9.]+);.*/\1/')
    usr=$(echo "$out" | sed -E 's/.*user ([0-9.]+) \+.*/\1/')
    sys=$(echo "$out" | sed -E 's/.*system ([0-9.]+) µs.*/\1/')
    echo "$name $med $mean $usr $sys"
  done
done > ab.out
python3 - <<'PY'
import statistics,collections
d=collections.defaultdict(list)
for l in open('ab.out'):
    b,med,mean,u,s=l.split(); d[b].append((float(med),float(mean),float(u),float(s)))
for b,v in d.items():
    print('%-8s median-of-medians %6.2f (runs %s)  user %.2f  sys %.2f  cpu %.2f' % (b, statistics.median(x[0] for x in v), ' '.join('%.1f'%x[0] for x in v), statistics.mean(x[2] for x in v), statistics.mean(x[3] for x in v), statistics.mean(x[2]+x[3] for x in v)))
PY
