#!/bin/bash
cd /work/main
P="dotnet perf/BelizeMesh.Perf/bin/Release/net10.0/BelizeMesh.Perf.dll"
TAG=$1; N=$2; shift 2
python3 /tmp/ss/sampler.py /tmp/ss/ss-$TAG.txt & S=$!
flock /work/perf.lock $P compare --scenarios belizemesh-pq --proxy $N --no-cross-check "$@" --out /tmp/ss/res > /tmp/ss/r-$TAG.txt 2>&1
kill $S
