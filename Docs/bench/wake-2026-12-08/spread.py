# Swift/C throughput ratios (readWrite, sendfile) per cell over the runs of each setting:
# each run's ratio, their min-max, and the GB/s of the C twin. Usage: python3 spread.py DIR
# (the runs' results.json files, 40-90 KB each, are not committed; spread.txt is the output).
import json, glob, statistics, sys
root = sys.argv[1] if len(sys.argv) > 1 else '.'  # the directory holding hpX-N/results.json
def load(path):
    d = json.load(open(path))
    out = {}
    for c in d['cells']:
        key = (c['cell']['destination'], c['cell']['size'])
        for e in c['entries']:
            if e.get('summary'):
                out[(key, e['subject'])] = e['summary']['gbPerSecond']['median']
    return d['machine'].get('wakeLatency', {}).get('crossCPUMicroseconds'), out
for setting in ['0', '200000']:
    runs = [load(p) for p in sorted(glob.glob(f"{root}/hp{setting}-*/results.json"))]
    print(f'guest_halt_poll_ns {setting}: {len(runs)} runs, probe round trip (µs):', ', '.join(f'{w:.1f}' for w, _ in runs))
    for dest in ['pipe', 'tcp-read']:
        for size in [4096, 64 << 20]:
            for s in ['readWrite', 'sendfile']:
                ratios = [r[((dest, size), f'swift:{s}')] / r[((dest, size), f'c:{s}')] for _, r in runs]
                c = [r[((dest, size), f'c:{s}')] for _, r in runs]
                print(f'  {dest:8} {size>>10:>6} KiB {s:9}  swift/c ' + ' '.join(f'{x:.2f}' for x in ratios)
                      + f'   range {min(ratios):.2f}-{max(ratios):.2f}   c GB/s median {statistics.median(c):.2f} ({min(c):.2f}-{max(c):.2f})')
