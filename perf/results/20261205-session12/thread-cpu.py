import sys, collections
# per-thread-kind CPU ticks inside the throughput window: [t0+14 s, t0+42 s] from the sampler's first timestamp
for fn in sys.argv[1:]:
    rows=collections.defaultdict(dict)
    t0=None
    for line in open(fn):
        try:
            head, rest = line.split('(',1); comm, rest = rest.rsplit(')',1)
        except ValueError: continue
        ts,pid,tid = head.split()[:3]; ts=int(ts); f=rest.split()
        t0 = ts if t0 is None else t0
        rows[(pid,tid,comm)][ts]=int(f[11])+int(f[12])
    lo,hi=t0+14,t0+42
    agg=collections.Counter()
    for k,series in rows.items():
        a=[t for t in series if t>=lo]; b=[t for t in series if t<=hi]
        if not a or not b: continue
        agg[k[2]]+=series[max(b)]-series[min(a)]
    tot=sum(agg.values())
    print(fn, "ticks", tot, ' '.join(f"{c}: {v} ({v/tot:.0%})" for c,v in agg.most_common(3) if v))
