#!/bin/bash
cd /work/main
P="dotnet perf/BelizeMesh.Perf/bin/Release/net10.0/BelizeMesh.Perf.dll"
N=/tmp/final11/belizemesh-proxy
cat $N >/dev/null
for i in 1 2; do
  for v in base hc; do
    uptime >> /tmp/hc/load.txt
    if [ $v = hc ]; then E="--proxy-env DOTNET_HillClimbing_Disable=1"; else E=""; fi
    flock /work/perf.lock $P compare --scenarios belizemesh-pq,nginx-tls --proxy $N $E --out /tmp/hc/res > /tmp/hc/$v-$i.txt 2>&1
  done
done
uptime >> /tmp/hc/load.txt
