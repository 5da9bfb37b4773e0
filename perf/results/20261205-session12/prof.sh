#!/bin/bash
cd /work/main
P="dotnet perf/BelizeMesh.Perf/bin/Release/net10.0/BelizeMesh.Perf.dll"
N=/tmp/final11/belizemesh-proxy
prof() { # $1 name, rest env args
  name=$1; shift
  $P compare --scenarios belizemesh-pq --proxy $N --no-cross-check --rates 1000 --latency-duration 3 --bulk-mb 16 --out /tmp/hc/resp "$@" > /tmp/hc/p-$name.txt 2>&1 &
  C=$!
  sleep 16
  pids=$(pgrep -x belizemesh-prox | paste -sd,)
  perf stat -e context-switches,task-clock -p $pids -o /tmp/hc/stat-$name.txt -- sleep 6
  perf record -F 999 -g -p $pids -o /tmp/hc/perf-$name.data -- sleep 8 2>/dev/null
  wait $C
}
flock /work/perf.lock bash -c "$(declare -f prof); P='$P'; N=$N; prof slow --proxy-env DOTNET_HillClimbing_Disable=1; prof fast"
