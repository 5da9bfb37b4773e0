#!/bin/bash
cd /work/main
P="dotnet perf/BelizeMesh.Perf/bin/Release/net10.0/BelizeMesh.Perf.dll"
N=/tmp/final11/belizemesh-proxy
sampler() { while true; do for p in $(pgrep -x belizemesh-prox); do for t in /proc/$p/task/*; do echo "$(date +%s) $p $(basename $t) $(cut -d' ' -f2,14,15 $t/stat 2>/dev/null)"; done; done; sleep 2; done; }
for i in 1 2 3 4 5; do
    sampler > /tmp/hc/tstat-$i.txt & S=$!
    flock /work/perf.lock $P compare --scenarios belizemesh-pq --proxy $N --no-cross-check --rates 1000 --latency-duration 3 --bulk-mb 16 --out /tmp/hc/res3 > /tmp/hc/r3-$i.txt 2>&1
    kill $S
done
