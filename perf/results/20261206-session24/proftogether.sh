#!/bin/bash
# proftogether.sh NAME BIN RATE [proxy-env...]: hold the PQ pair and nginx's pair, load both at once (RATE req/s open loop
# -c 32, or RATE=0: closed loop -c 64), perf record all their proxy processes for 15 s; then split with
# perf script -i /tmp/s24/prof/NAME.data --pid PIDS > part.txt and compare with perf/profile-leaf.py (needs mkdir -p /tmp/s24/prof).
set -e
NAME=$1; BIN=$2; RATE=${3:-1000}; shift 3 || true
H=/work/main/perf/BelizeMesh.Perf/bin/Release/net10.0/BelizeMesh.Perf.dll
OUT=/tmp/s24/prof/$NAME
if [ "$RATE" = "0" ]; then LOADARGS="-c 64"; else LOADARGS="-c 32 --rate $RATE"; fi
EXTRA=""; for e in "$@"; do EXTRA="$EXTRA --proxy-env $e"; done
dotnet $H compare --hold belizemesh-pq --proxy $BIN $EXTRA > $OUT.pq.hold 2>&1 &
dotnet $H compare --hold nginx-tls --proxy $BIN > $OUT.ng.hold 2>&1 &
for i in $(seq 1 120); do grep -q "Ctrl+C" $OUT.pq.hold 2>/dev/null && grep -q "Ctrl+C" $OUT.ng.hold 2>/dev/null && break; sleep 0.5; done
get() { TARGET=$(grep -o "http://[0-9.:]*/" $1 | head -1 | sed 's#http://##; s#/##'); HOST=$(grep -o "Host: [^']*" $1 | head -1 | sed 's/Host: //'); PIDS=$(grep -o "proxy processes: [0-9 ]*" $1 | sed 's/proxy processes: //' | tr ' ' ',' | sed 's/,$//'); }
get $OUT.pq.hold; PT=$TARGET; PH=$HOST; PP=$PIDS
get $OUT.ng.hold; NT=$TARGET; NH=$HOST; NP=$PIDS
echo "pq $PP ng $NP"
dotnet $H load --target $PT --host $PH $LOADARGS -d 3 > /dev/null & W1=$!
dotnet $H load --target $NT --host $NH $LOADARGS -d 3 > /dev/null; wait $W1
dotnet $H load --target $PT --host $PH $LOADARGS -d 22 > $OUT.pq.load 2>&1 &
L1=$!
dotnet $H load --target $NT --host $NH $LOADARGS -d 22 > $OUT.ng.load 2>&1 &
L2=$!
sleep 3
perf record -F 1999 -g -p $PP,$NP -o $OUT.data -- sleep 15 2> /dev/null
wait $L1 $L2 || true
pkill -f "compare --hold" || true; pkill -f "$BIN run" || true; pkill -f "BelizeMesh.Perf.dll app" || true; pkill nginx || true; sleep 1
perf buildid-cache -a ${BIN}.dbg 2>/dev/null || true
perf script -i $OUT.data > $OUT.txt 2>/dev/null
tail -1 $OUT.pq.load; tail -1 $OUT.ng.load
perf report -i $OUT.data --sort pid -g none --stdio 2>/dev/null | grep -v "^#" | grep -v "^$" | head -12
echo "PQPIDS=$PP NGPIDS=$NP"
