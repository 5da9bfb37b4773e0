#!/bin/bash
cd /work/main
P="dotnet perf/BelizeMesh.Perf/bin/Release/net10.0/BelizeMesh.Perf.dll"
for r in 1 2; do for v in 4 32; do
  flock /work/perf.lock $P compare --scenarios belizemesh-pq,nginx-tls --no-cross-check --rates 1000 --latency-duration 5 --bulk-mb 16 --proxy /tmp/s13seg/belizemesh-proxy --proxy-env DOTNET_SYSTEM_BUFFERS_SHAREDARRAYPOOL_MAXARRAYSPERPARTITION=$v --out /tmp/ss/resp > /tmp/ss/pool-$v-$r.txt 2>&1
done; done
