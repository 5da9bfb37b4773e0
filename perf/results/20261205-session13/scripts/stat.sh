#!/bin/bash
# usage: stat.sh TAG SCENARIO PGREP-PATTERN [compare args]
cd /work/main
P="dotnet perf/BelizeMesh.Perf/bin/Release/net10.0/BelizeMesh.Perf.dll"
TAG=$1; SC=$2; PAT=$3; shift 3
$P compare --scenarios $SC --no-cross-check --rates 1000 --latency-duration 3 --bulk-mb 16 --out /tmp/ss/res "$@" > /tmp/ss/st-$TAG.txt 2>&1 &
C=$!
sleep 14
pids=$(pgrep -x "$PAT" | paste -sd,)
perf stat -e raw_syscalls:sys_enter,context-switches,page-faults,task-clock -p $pids -o /tmp/ss/stat-$TAG.txt -- sleep 6
wait $C
f=$(ls -d /tmp/ss/res/2* | tail -1)
python3 -c "
import json;d=json.load(open('$f/report.json'))
for s in d['scenarios']: print('$TAG',s['id'],[round(x) for x in s['throughput']['repeats']],round(s['cpuSecondsPer1000Requests'],4))"
grep -E "sys_enter|context|task-clock" /tmp/ss/stat-$TAG.txt
