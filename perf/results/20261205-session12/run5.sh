#!/bin/bash
cd /work/main
P="dotnet perf/BelizeMesh.Perf/bin/Release/net10.0/BelizeMesh.Perf.dll"
N=/tmp/final11/belizemesh-proxy
sampler() { while true; do ts=$(date +%s); for p in $(pgrep -x belizemesh-prox); do for t in /proc/$p/task/*; do echo "$ts $p $(cat $t/stat 2>/dev/null)"; done; done; sleep 2; done; }
run() { sampler > /tmp/hc/t5-$1.txt & S=$!; flock /work/perf.lock $P compare --scenarios belizemesh-pq --proxy $N --no-cross-check --rates 1000 --latency-duration 3 --bulk-mb 16 --out /tmp/hc/res5 > /tmp/hc/r5-$1.txt 2>&1; kill $S; }
run a; run b; run c
