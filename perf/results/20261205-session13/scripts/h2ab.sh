#!/bin/bash
# The frontend's spec.outbound.h2UpgradePolicy per run: BM_PERF_H2POLICY was read by a temporary change to the
# harness's Scenarios.cs (not committed; the harness was built from a scratch worktree for these runs).
for r in 1 2; do for v in def DO_NOT_UPGRADE UPGRADE; do
  if [ $v = def ]; then unset BM_PERF_H2POLICY; else export BM_PERF_H2POLICY=$v; fi
  flock /work/perf.lock "$(dirname "$0")/window.sh" stat h2-$v-$r belizemesh-pq belizemesh-prox --proxy /tmp/s13seg/belizemesh-proxy > /tmp/ss/h2-$v-$r.out 2>&1
done; done
