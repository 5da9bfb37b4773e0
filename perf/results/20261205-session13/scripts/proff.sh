#!/bin/bash
cd /work/main
P="dotnet perf/BelizeMesh.Perf/bin/Release/net10.0/BelizeMesh.Perf.dll"
TAG=$1; SC=$2; PAT=$3; shift 3
$P compare --scenarios $SC --no-cross-check --rates 1000 --latency-duration 3 --bulk-mb 16 --out /tmp/ss/res "$@" > /tmp/ss/pr-$TAG.txt 2>&1 &
C=$!
sleep 14
pids=$(pgrep -x "$PAT" | paste -sd,)
for p in ${pids//,/ }; do echo $p $(cut -d' ' -f14,15 /proc/$p/stat); done > /tmp/ss/ut-$TAG.a
perf record -e page-faults -g -p $pids -o /tmp/ss/perf-$TAG.data -- sleep 6 2>/dev/null >/dev/null
for p in ${pids//,/ }; do echo $p $(cut -d' ' -f14,15 /proc/$p/stat); done > /tmp/ss/ut-$TAG.b
wait $C
paste /tmp/ss/ut-$TAG.a /tmp/ss/ut-$TAG.b | awk '{print $1, "user", $5-$2, "sys", $6-$3}'
