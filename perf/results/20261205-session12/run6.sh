#!/bin/bash
cd /work/main
P="dotnet perf/BelizeMesh.Perf/bin/Release/net10.0/BelizeMesh.Perf.dll"
N=/tmp/final11/belizemesh-proxy
sampler() { while true; do ts=$(date +%s); for p in $(pgrep -x belizemesh-prox; pgrep -x dotnet); do echo "$ts $p $(cat /proc/$p/stat 2>/dev/null) CMD $(tr '\0' ' ' < /proc/$p/cmdline | cut -c1-120)"; done; sleep 2; done; }
run() { n=$1; shift; sampler > /tmp/hc/t6-$n.txt & S=$!; flock /work/perf.lock $P compare --scenarios belizemesh-pq --proxy $N --no-cross-check --out /tmp/hc/res6 "$@" > /tmp/hc/r6-$n.txt 2>&1; kill $S; }
run s1 --rates 1000 --latency-duration 3 --bulk-mb 16
run f1
run s2 --rates 1000 --latency-duration 3 --bulk-mb 16
run f2
