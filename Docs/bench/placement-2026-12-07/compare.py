#!/usr/bin/env python3
"""Run-to-run agreement of goal cells between results.json files of two modes.

usage: compare.py MODE=RESULTS.json[,RESULTS.json...] ...   (e.g. pinned=a.json,b.json,c.json)

For each mode and each kind of goal cell (Swift/C at 4 KiB, Swift/C at >= 1 MiB, async/blocking,
others): how many cells met their goal in each run, how many did not agree across the runs,
and the median over run pairs of |ratio_a / ratio_b - 1|.
"""
import itertools, json, statistics, sys

def load(path):
    out = {}
    for x in json.load(open(path))['ratios']:
        if x.get('met') is None:
            continue
        c = x['cell']
        out[(c['destination'], c['size'], x['what'], x['metric'])] = (x['value'], x['met'])
    return out

def kind(k):
    if '.async /' in k[2]: return 'async / blocking'
    if '/ c:' in k[2] and k[1] == 4096: return 'swift / c at 4 KiB'
    if '/ c:' in k[2] and k[1] >= 1 << 20 and 'CPU' not in k[3]: return 'swift / c at >= 1 MiB'
    return 'other goal cells'

for arg in sys.argv[1:]:
    mode, paths = arg.split('=', 1)
    runs = [load(p) for p in paths.split(',')]
    keys = [k for k in runs[0] if all(k in r for r in runs)]
    for name in ('swift / c at 4 KiB', 'swift / c at >= 1 MiB', 'async / blocking', 'other goal cells'):
        ks = [k for k in keys if kind(k) == name]
        if not ks:
            continue
        diffs = [abs(a[k][0] / b[k][0] - 1) for a, b in itertools.combinations(runs, 2) for k in ks]
        met = [sum(r[k][1] for k in ks) for r in runs]
        disagree = sum(1 for k in ks if len({r[k][1] for r in runs}) > 1)
        print(f"{mode:9} {name:22} cells {len(ks):3}  met per run {met}  not agreeing {disagree:2}  "
              f"median pairwise |a/b-1| {statistics.median(diffs):.3f}")
