#!/bin/bash
# sched.sh NAME BIN SCENARIO: hold SCENARIO, load at 1k, record sched_switch/sched_wakeup system-wide 8 s
set -e
NAME=$1; BIN=$2; SC=${3:-belizemesh-pq}; RATE=${4:-1000}
H=${PERF_DLL:-perf/BelizeMesh.Perf/bin/Release/net10.0/BelizeMesh.Perf.dll}
OUT=${OUTDIR:-/tmp}/$NAME
dotnet $H compare --hold $SC --proxy $BIN > $OUT.hold 2>&1 &
HP=$!
for i in $(seq 1 120); do grep -q "Ctrl+C" $OUT.hold 2>/dev/null && break; sleep 0.5; done
TARGET=$(grep -o "http://[0-9.:]*/" $OUT.hold | head -1 | sed 's#http://##; s#/##')
HOST=$(grep -o "Host: [^']*" $OUT.hold | head -1 | sed 's/Host: //')
PIDS=$(grep -o "proxy processes: [0-9 ]*" $OUT.hold | sed 's/proxy processes: //')
echo "pids $PIDS target $TARGET"
dotnet $H load --target $TARGET --host $HOST -c 32 -d 3 --rate $RATE > /dev/null
dotnet $H load --target $TARGET --host $HOST -c 32 -d 14 --rate $RATE > $OUT.load 2>&1 &
LP=$!
sleep 3
perf record -e sched:sched_switch,sched:sched_wakeup,sched:sched_migrate_task -a -o $OUT.sched -- sleep 8 2> /dev/null
wait $LP || true
kill $HP 2>/dev/null || true; pkill -f "$BIN run" || true; pkill -f "BelizeMesh.Perf.dll app" || true; pkill nginx || true; sleep 1
echo "$PIDS" > $OUT.pids
perf script -i $OUT.sched -F comm,pid,tid,cpu,time,event,trace > $OUT.sched.txt 2>/dev/null
tail -2 $OUT.load
