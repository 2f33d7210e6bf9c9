#!/bin/bash
# usage: mallocs.sh STRATEGY [count]   (root: perf's uprobe on libc's malloc)
# Counts the mallocs per transfer under PreparedTransfer.runBlocking in `zerocopy-bench _loop`,
# and the call paths that make at least one per two transfers. ZB=path picks another binary.
cd "$(git rev-parse --show-toplevel)"
B=${ZB:-Benchmarks/.build-bench/release/zerocopy-bench}
N=${2:-2000}
perf probe -q -x "$(ldd "$B" | awk '/libc.so.6/ {print $3}')" malloc 2>/dev/null || true
perf record -e probe_libc:malloc --call-graph dwarf,16384 -o ${TMPDIR:-/tmp}/perf-malloc.data -- $B _loop --strategy $1 --count $N --side swift >/dev/null 2>&1
perf script -i ${TMPDIR:-/tmp}/perf-malloc.data -F ip,sym 2>/dev/null > ${TMPDIR:-/tmp}/malloc-stacks.txt
python3 - $N <<'PY'
import collections,sys
n=int(sys.argv[1])
import os
txt=open(os.environ.get('TMPDIR','/tmp')+'/malloc-stacks.txt').read().split('\n\n')
c=collections.Counter(); tot=0
for st in txt:
    ls=[l.strip().split(' ',1) for l in st.strip().split('\n') if l.strip()]
    names=[x[1] if len(x)>1 else '?' for x in ls]
    if not any('runBlocking' in x for x in names): continue
    tot+=1
    key=' <- '.join(x[:60] for x in names[1:5])
    c[key]+=1
print('mallocs per transfer under runBlocking: %.2f' % (tot/n))
for k,v in c.most_common(8):
    if v>=n/2: print('  %.2f' % (v/n), k)
PY
