import sys, collections
for fn in sys.argv[1:]:
    first={}; last={}
    for line in open(fn):
        try:
            head, rest = line.split('(',1)
            comm, rest = rest.rsplit(')',1)
        except ValueError: continue
        ts,pid,tid = head.split()[:3]
        f = rest.split()
        ut,st = int(f[11]), int(f[12])  # fields 14,15
        k=(pid,tid,comm)
        first.setdefault(k,(ut,st)); last[k]=(ut,st)
    agg=collections.Counter(); cnt=collections.Counter()
    for k in first:
        d=(last[k][0]-first[k][0])+(last[k][1]-first[k][1])
        agg[k[2]]+=d; cnt[k[2]]+=1 if d>0 else 0
    tot=sum(agg.values())
    print(fn, "total ticks", tot)
    for c,v in agg.most_common(8): print(f"   {c:20s} {v:6d} {v/tot:5.1%} threads-active {cnt[c]}")
