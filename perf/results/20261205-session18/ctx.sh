#!/bin/bash
# ctx.sh NAME BIN [C] [EXTRA harness args]: hold a PQ pair, load -n 40000, per-thread context switches per request.
NAME=$1; BIN=$2; C=${3:-64}; shift 3
H=/work/main/perf/BelizeMesh.Perf/bin/Release/net10.0/BelizeMesh.Perf.dll
OUT=${OUT_DIR:-/tmp}/ctx-$NAME
dotnet $H compare --hold belizemesh-pq --proxy $BIN "$@" > $OUT.hold 2>&1 &
HP=$!
for i in $(seq 1 120); do grep -q "Ctrl+C" $OUT.hold 2>/dev/null && break; sleep 0.5; done
TARGET=$(grep -o "http://[0-9.:]*/" $OUT.hold | head -1 | sed 's#http://##; s#/##')
HOST=$(grep -o "Host: [^']*" $OUT.hold | head -1 | sed 's/Host: //')
PIDS=$(grep -o "proxy processes: [0-9 ]*" $OUT.hold | sed 's/proxy processes: //')
[ -n "$BATCH" ] && for p in $PIDS; do chrt -b -a -p 0 $p > /dev/null; done
dotnet $H load --target $TARGET --host $HOST -c $C -n 20000 > /dev/null
snap() { for p in $PIDS; do for t in /proc/$p/task/*; do echo "$p $(basename $t) $(cat $t/comm | tr ' ' _) $(grep -E '^(voluntary|nonvoluntary)_ctxt' $t/status | awk '{print $2}' | tr '\n' ' ') $(sed "s/.*) //" $t/stat | awk "{print \$12+\$13}")"; done; done; }
snap > $OUT.before
dotnet $H load --target $TARGET --host $HOST -c $C -n 40000 > $OUT.load 2>&1
snap > $OUT.after
kill $HP 2>/dev/null; sleep 1; pkill -f "$BIN run"; pkill -f "BelizeMesh.Perf.dll app"
python3 - $OUT.before $OUT.after <<'PY'
import sys,collections
def rd(f):
    d={}
    for l in open(f):
        p=l.split()
        if len(p)>=6: d[(p[0],p[1])]=(p[2],int(p[3]),int(p[4]),int(p[5]))
    return d
b=rd(sys.argv[1]); a=rd(sys.argv[2]); n=40000
agg=collections.defaultdict(lambda:[0,0,0,0])
for k,(comm,v,nv,cpu) in a.items():
    vb,nvb,cb=(b[k][1],b[k][2],b[k][3]) if k in b else (0,0,0)
    g=agg[(k[0],comm)]; g[0]+=v-vb; g[1]+=nv-nvb; g[2]+=cpu-cb; g[3]+=1
tot=[0,0,0]
for (pid,comm),(v,nv,cpu,cnt) in sorted(agg.items()):
    if v+nv+cpu==0: continue
    print(f"{pid} {comm:24s} threads {cnt:3d} vol/req {v/n:6.3f} invol/req {nv/n:6.3f} cpu ticks {cpu}")
    tot[0]+=v; tot[1]+=nv; tot[2]+=cpu
print(open(sys.argv[1].replace(".before",".load")).read().strip()[-300:]); print(f"total vol/req {tot[0]/n:.3f} invol/req {tot[1]/n:.3f} cpu ms/1k {tot[2]*10*1000/n:.1f}")
PY
