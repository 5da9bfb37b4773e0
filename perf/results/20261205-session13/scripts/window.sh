#!/bin/bash
# usage: window.sh stat|record TAG SCENARIO PGREP-PATTERN [compare args]
# Starts a short `compare` of SCENARIO and, 14 s in (its throughput phase), measures the processes named
# PGREP-PATTERN for 6 s: `perf stat` (events: $EVENTS, default system calls, context switches, page faults,
# task clock) or `perf record -g` (events: $EVENTS, default 2 kHz CPU samples) plus their user/system ticks.
# Session 13 ran it as stat.sh / stat2.sh (EVENTS=syscalls:sys_enter_madvise,…mprotect,…munmap,…mmap,page-faults)
# and prof.sh / proff.sh (EVENTS=page-faults) / profm.sh (EVENTS=syscalls:sys_enter_madvise,syscalls:sys_enter_mprotect).
MODE=$1; TAG=$2; SC=$3; PAT=$4; shift 4
cd /work/main
P="dotnet perf/BelizeMesh.Perf/bin/Release/net10.0/BelizeMesh.Perf.dll"
$P compare --scenarios $SC --no-cross-check --rates 1000 --latency-duration 3 --bulk-mb 16 --out /tmp/ss/res "$@" > /tmp/ss/w-$TAG.txt 2>&1 &
C=$!
sleep 14
pids=$(pgrep -x "$PAT" | paste -sd,)
ticks() { for p in ${pids//,/ }; do echo $p $(cut -d' ' -f14,15 /proc/$p/stat); done; }
if [ "$MODE" = stat ]; then
  perf stat -e "${EVENTS:-raw_syscalls:sys_enter,context-switches,page-faults,task-clock}" -p $pids -o /tmp/ss/stat-$TAG.txt -- sleep 6
else
  ticks > /tmp/ss/ut-$TAG.a
  if [ -n "${EVENTS:-}" ]; then ev="-e $EVENTS"; else ev="-F 2000"; fi
  perf record $ev -g -p $pids -o /tmp/ss/perf-$TAG.data -- sleep 6 2>/dev/null >/dev/null
  ticks > /tmp/ss/ut-$TAG.b
fi
wait $C
f=$(ls -d /tmp/ss/res/2* | tail -1)
python3 -c "
import json;d=json.load(open('$f/report.json'))
for s in d['scenarios']: print('$TAG',s['id'],[round(x) for x in s['throughput']['repeats']],round(s['cpuSecondsPer1000Requests'],4))"
if [ "$MODE" = stat ]; then grep -E "sys_enter|context|task-clock|fault" /tmp/ss/stat-$TAG.txt
else paste /tmp/ss/ut-$TAG.a /tmp/ss/ut-$TAG.b | awk '{print $1, "user", $5-$2, "sys", $6-$3}'; fi
