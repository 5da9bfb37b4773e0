#!/bin/bash
for r in 1 2; do for v in def DO_NOT_UPGRADE UPGRADE; do
  if [ $v = def ]; then unset BM_PERF_H2POLICY; else export BM_PERF_H2POLICY=$v; fi
  flock /work/perf.lock /tmp/ss/statx.sh h2-$v-$r belizemesh-pq belizemesh-prox --proxy /tmp/s13seg/belizemesh-proxy > /tmp/ss/h2-$v-$r.out 2>&1
done; done
