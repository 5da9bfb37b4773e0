#!/bin/bash
# stalltogether.sh NAME BIN [ROUNDS]: hold the PQ pair and nginx's pair (SC2=belizemesh-pq: a second PQ pair, the control),
# load both at 1,000 req/s at once with request
# dumps, ROUNDS times 20 s; then perf/stall-pairs.py on each round.
set -e
NAME=$1; BIN=$2; ROUNDS=${3:-3}
H=/work/main/perf/BelizeMesh.Perf/bin/Release/net10.0/BelizeMesh.Perf.dll
OUT=/tmp/s24/stall/$NAME; mkdir -p /tmp/s24/stall
dotnet $H compare --hold belizemesh-pq --proxy $BIN > $OUT.pq.hold 2>&1 &
dotnet $H compare --hold ${SC2:-nginx-tls} --proxy $BIN > $OUT.ng.hold 2>&1 &
for i in $(seq 1 120); do grep -q "Ctrl+C" $OUT.pq.hold 2>/dev/null && grep -q "Ctrl+C" $OUT.ng.hold 2>/dev/null && break; sleep 0.5; done
get() { TARGET=$(grep -o "http://[0-9.:]*/" $1 | head -1 | sed 's#http://##; s#/##'); HOST=$(grep -o "Host: [^']*" $1 | head -1 | sed 's/Host: //'); }
get $OUT.pq.hold; PT=$TARGET; PH=$HOST
get $OUT.ng.hold; NT=$TARGET; NH=$HOST
dotnet $H load --target $PT --host $PH -c 32 -d 5 --rate 1000 > /dev/null & W=$!
dotnet $H load --target $NT --host $NH -c 32 -d 5 --rate 1000 > /dev/null; wait $W
for r in $(seq 1 $ROUNDS); do
  rm -f $OUT.pq.$r.txt $OUT.ng.$r.txt
  BELIZEMESH_LOAD_DUMP=$OUT.pq.$r.txt dotnet $H load --target $PT --host $PH -c 32 -d 20 --rate 1000 > $OUT.pq.$r.load 2>&1 & W=$!
  BELIZEMESH_LOAD_DUMP=$OUT.ng.$r.txt dotnet $H load --target $NT --host $NH -c 32 -d 20 --rate 1000 > $OUT.ng.$r.load 2>&1; wait $W
  echo "== round $r"; tail -1 $OUT.pq.$r.load; tail -1 $OUT.ng.$r.load
  python3 /work/main/perf/stall-pairs.py $OUT.pq.$r.txt $OUT.ng.$r.txt
done
pkill -f "compare --hold" || true; pkill -f "$BIN run" || true; pkill -f "BelizeMesh.Perf.dll app" || true; pkill nginx || true
