#!/bin/bash
# bulkprof.sh BIN: hold a PQ pair of BIN, six 1 GiB downloads through it with curl (MB/s each, after a 256 MB warm-up), perf record 8 s of both sidecars, breakdown.
BIN=$1
H=/work/main/perf/BelizeMesh.Perf/bin/Release/net10.0/BelizeMesh.Perf.dll
OUT=${OUT_DIR:-/tmp}/bulk
dotnet $H compare --hold belizemesh-pq --proxy $BIN > $OUT.hold 2>&1 &
HP=$!
for k in $(seq 1 120); do grep -q "Ctrl+C" $OUT.hold 2>/dev/null && break; sleep 0.5; done
TARGET=$(grep -o "http://[0-9.:]*/" $OUT.hold | head -1)
HOST=$(grep -o "Host: [^']*" $OUT.hold | head -1 | sed 's/Host: //')
PIDS=$(grep -o "proxy processes: [0-9 ]*" $OUT.hold | sed 's/proxy processes: //' | tr ' ' ',' | sed 's/,$//')
curl -s -o /dev/null -w "%{speed_download}\n" -H "Host: $HOST" ${TARGET}bulk/268435456
( for i in 1 2 3 4 5 6; do curl -s -o /dev/null -w "%{speed_download}\n" -H "Host: $HOST" ${TARGET}bulk/1073741824; done ) > $OUT.speeds &
CP=$!
sleep 1
perf record -F 999 -g -p $PIDS -o $OUT.data -- sleep 8 2>/dev/null
wait $CP
cat $OUT.speeds
kill $HP; sleep 1; pkill -f "$BIN run"; pkill -f "BelizeMesh.Perf.dll app"
perf script -i $OUT.data > $OUT.txt 2>/dev/null
python3 /work/main/perf/profile-breakdown.py $OUT.txt
