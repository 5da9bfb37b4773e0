import sys, collections
# per-process CPU ticks in the throughput window [t0+14, t0+42] of each sampler file
for fn in sys.argv[1:]:
    series=collections.defaultdict(dict); names={}; t0=None
    for line in open(fn):
        if ' CMD ' not in line: continue
        body, cmd = line.split(' CMD ',1)
        try:
            head, rest = body.split('(',1); comm, rest = rest.rsplit(')',1)
        except ValueError: continue
        ts,pid = head.split()[:2]; ts=int(ts); f=rest.split()
        t0 = ts if t0 is None else t0
        series[pid][ts]=int(f[11])+int(f[12]); names[pid]=cmd.strip()[:90]
    lo,hi=t0+14,t0+42
    print(fn)
    for pid,s in series.items():
        a=[t for t in s if t>=lo]; b=[t for t in s if t<=hi]
        if not a or not b: continue
        d=s[max(b)]-s[min(a)]
        if d>5: print(f"   {pid:>7} {d:6d}  {names[pid]}")
