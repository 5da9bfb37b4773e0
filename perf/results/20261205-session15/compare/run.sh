set -x
cd /work/main
for i in 1 2; do
  flock /work/perf.lock dotnet perf/BelizeMesh.Perf/bin/Release/net10.0/BelizeMesh.Perf.dll compare --scenarios belizemesh-pq,nginx-tls --rates 1000 --proxy /tmp/s15/base --out /tmp/s15/cmp/base$i > /tmp/s15/cmp/base$i.log 2>&1
  flock /work/perf.lock dotnet perf/BelizeMesh.Perf/bin/Release/net10.0/BelizeMesh.Perf.dll compare --scenarios belizemesh-pq,nginx-tls --rates 1000 --proxy /tmp/s15/base --proxy-env DOTNET_HillClimbing_Disable=1 --out /tmp/s15/cmp/hc$i > /tmp/s15/cmp/hc$i.log 2>&1
done
