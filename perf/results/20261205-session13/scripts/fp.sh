#!/bin/bash
cd /work/main
P="dotnet perf/BelizeMesh.Perf/bin/Release/net10.0/BelizeMesh.Perf.dll"
for r in 3 4; do for b in seg base; do
  flock /work/perf.lock $P footprint --proxy /tmp/s13$b/belizemesh-proxy > /tmp/ss/fp-$b-$r.txt 2>&1
done; done
