#!/bin/bash
# prof.sh NAME BIN [C]: hold a PQ pair of BIN, load -c C, perf record 15 s of both sidecars, breakdown.
set -e
NAME=$1; BIN=$2; C=${3:-64}
H=/work/main/perf/BelizeMesh.Perf/bin/Release/net10.0/BelizeMesh.Perf.dll
OUT=/tmp/s17/prof/$NAME
dotnet $H compare --hold belizemesh-pq --proxy $BIN > $OUT.hold 2>&1 &
HP=$!
for i in $(seq 1 120); do grep -q "Ctrl+C" $OUT.hold 2>/dev/null && break; sleep 0.5; done
TARGET=$(grep -o "http://[0-9.:]*/" $OUT.hold | head -1 | sed 's#http://##; s#/##')
HOST=$(grep -o "Host: [^']*" $OUT.hold | head -1 | sed 's/Host: //')
PIDS=$(grep -o "proxy processes: [0-9 ]*" $OUT.hold | sed 's/proxy processes: //' | tr ' ' ',' | sed 's/,$//')
dotnet $H load --target $TARGET --host $HOST -c $C -d 3 > /dev/null
dotnet $H load --target $TARGET --host $HOST -c $C -d 22 > $OUT.load 2>&1 &
LP=$!
sleep 3
perf record -F 999 -g -p $PIDS -o $OUT.data -- sleep 15 2> /dev/null
kill $LP 2>/dev/null || true
kill $HP 2>/dev/null || true; pkill -f "$BIN run" || true; pkill -f "BelizeMesh.Perf.dll app" || true; sleep 1
perf buildid-cache -a ${BIN}.dbg 2>/dev/null || true
perf script -i $OUT.data > $OUT.txt 2>/dev/null
python3 /work/main/perf/profile-breakdown.py $OUT.txt
