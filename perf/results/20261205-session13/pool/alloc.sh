#!/bin/bash
# usage: alloc.sh TAG ; BM_PERF_H2POLICY from env
cd /work/wt-exp
P="dotnet perf/BelizeMesh.Perf/bin/Release/net10.0/BelizeMesh.Perf.dll"
TAG=$1
$P compare --scenarios belizemesh-pq --no-cross-check --rates 1000 --latency-duration 3 --bulk-mb 16 --proxy /tmp/s13seg/belizemesh-proxy $EXTRA --out /tmp/ss/resa > /tmp/ss/a-$TAG.txt 2>&1 &
C=$!
sleep 16
snap() { for port in $(ss -tlnpH | grep belizemesh-pro | awk '{print $4}' | sed 's/.*://'); do out=$(curl -s --max-time 1 http://127.0.0.1:$port/metrics); if echo "$out" | grep -q dotnet_gc_heap_total_allocated; then a=$(echo "$out" | grep "^dotnet_gc_heap_total_allocated_bytes_total" | awk '{print $2}'); q=$(echo "$out" | grep "^istio_requests_total" | awk '{s+=$NF} END {print s}'); r=$(echo "$out" | grep -o "reporter=\"[a-z]*\"" | sort -u | tr -d "\n"); echo "$port $a $q $r"; fi; done; }
snap > /tmp/ss/alloc-$TAG.a; sleep 5; snap > /tmp/ss/alloc-$TAG.b
wait $C
join /tmp/ss/alloc-$TAG.a /tmp/ss/alloc-$TAG.b | awk -v t=$TAG '{da=$4-$2; dq=$5-$3; if (dq>0) printf "%s port %s %s: %d requests, %.0f bytes allocated per request\n", t, $1, $7, dq, da/dq}'
