#!/bin/bash
cd /work/main
P="dotnet perf/BelizeMesh.Perf/bin/Release/net10.0/BelizeMesh.Perf.dll"
N=/tmp/final11/belizemesh-proxy
cat $N >/dev/null
sampler() { while true; do for p in $(pgrep -f belizemesh-proxy); do n=$(grep -l "TP Worker" /proc/$p/task/*/comm 2>/dev/null | wc -l); echo "$(date +%T) $p $n"; done; sleep 3; done; }
for i in 1 2; do
  for v in min4 base; do
    uptime >> /tmp/hc/load2.txt
    if [ $v = min4 ]; then E="--proxy-env DOTNET_ThreadPool_ForceMinWorkerThreads=4"; else E=""; fi
    sampler > /tmp/hc/threads-$v-$i.txt & S=$!
    flock /work/perf.lock $P compare --scenarios belizemesh-pq,nginx-tls --proxy $N $E --out /tmp/hc/res2 > /tmp/hc/$v-$i.txt 2>&1
    kill $S
  done
done
uptime >> /tmp/hc/load2.txt
