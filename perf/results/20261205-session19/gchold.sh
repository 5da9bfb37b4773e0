#!/bin/bash
# gchold.sh BIN [ENV=V...]: hold a PQ pair with env, 100k requests -c 64, bytes and GCs per request on both sidecars
BIN=$1; shift
P="dotnet /work/main/perf/BelizeMesh.Perf/bin/Release/net10.0/BelizeMesh.Perf.dll"
env "$@" $P compare --hold belizemesh-pq --proxy $BIN > /tmp/s19/gchold.txt 2>&1 &
for i in $(seq 1 120); do grep -q "Ctrl+C" /tmp/s19/gchold.txt 2>/dev/null && break; sleep 0.5; done
D=$(head -1 /tmp/s19/gchold.txt | grep -o "/tmp/belizemesh-compare-[A-Za-z0-9]*")
T=$(grep -o "http://[0-9.:]*/" /tmp/s19/gchold.txt | head -1 | sed 's#http://##; s#/##')
PF=$(grep -o 'listen: "[0-9.:]*"' $D/belizemesh-pq/frontend/policy/policy.yaml | head -1 | grep -o "[0-9]*\"$" | tr -d '"')
PB=$(grep -o 'listen: "[0-9.:]*"' $D/belizemesh-pq/backend/policy/policy.yaml | head -1 | grep -o "[0-9]*\"$" | tr -d '"')
m(){ curl -s 127.0.0.1:$1/metrics | awk '/^dotnet_gc_heap_total_allocated_bytes_total/{a=$2} /^dotnet_gc_collections_total\{gc_heap_generation="gen0"\}/{g=$2} END{print a, g}'; }
$P load --target $T --host app.bench.svc.cluster.local -c 64 -d 3 >/dev/null
read fa fg <<<$(m $PF); read ba bg <<<$(m $PB)
PIDS=$(grep -o "proxy processes: [0-9 ]*" /tmp/s19/gchold.txt | sed 's/proxy processes: //')
c0=0; for p in $PIDS; do c0=$((c0 + $(awk '{print $14+$15}' /proc/$p/stat))); done
$P load --target $T --host app.bench.svc.cluster.local -c 64 -n 100000 | head -1
c1=0; for p in $PIDS; do c1=$((c1 + $(awk '{print $14+$15}' /proc/$p/stat))); done
read fa2 fg2 <<<$(m $PF); read ba2 bg2 <<<$(m $PB)
echo "front B/req $(( (fa2-fa)/100000 )) gc0 $((fg2-fg)); back B/req $(( (ba2-ba)/100000 )) gc0 $((bg2-bg)); CPU ticks/100k $((c1-c0))"
pkill -f "compare --hold"; sleep 0.5; pkill -f "$BIN run"; pkill -f "BelizeMesh.Perf.dll app"; sleep 1
