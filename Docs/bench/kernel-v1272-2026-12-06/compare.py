# Cell-by-cell comparison of two results.json files: the second run's median time per
# transfer over the first's, per (subject, destination, size), summarised by destination.
# python3 compare.py FIRST/results.json SECOND/results.json
import json, sys, statistics as st
def load(p):
    d=json.load(open(p)); out={}
    for c in d['cells']:
        k=(c['cell']['destination'], c['cell']['size'])
        for e in c['entries']:
            if e.get('status')!='measured': continue
            out[(e['subject'],)+k]=e['summary']['microsPerTransfer']['median']
    return out
a=load(sys.argv[1]); b=load(sys.argv[2])
keys=[k for k in a if k in b]
def pct(xs,q):
    xs=sorted(xs); i=(len(xs)-1)*q; lo=int(i); hi=min(lo+1,len(xs)-1); return xs[lo]+(xs[hi]-xs[lo])*(i-lo)
def report(label, ks):
    r=[b[k]/a[k] for k in ks if a[k]>0]
    if not r: return
    print("%-12s n=%3d  p10 %.2f  q1 %.2f  median %.2f  q3 %.2f  p90 %.2f  min %.2f max %.2f  within±10%%: %d%%" % (label,len(r),pct(r,.1),pct(r,.25),pct(r,.5),pct(r,.75),pct(r,.9),min(r),max(r), 100*sum(1 for x in r if 0.9<=x<=1.1)//len(r)))
report("all",keys)
for dest in ["file","tmpfs","tcp-read","tcp-splice","pipe","devnull"]:
    report(dest,[k for k in keys if k[1]==dest])
report("c only",[k for k in keys if k[0].startswith('c:')])
report("swift only",[k for k in keys if k[0].startswith('swift:')])
