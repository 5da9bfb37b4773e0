#!/bin/bash
# count runtime GVM builds from exec to a few ready probes; print callers
B=$1
sed "s|^run .*|run run --policy /tmp/s14/fpwork/policy.yaml --certs /tmp/s14/fpwork/certs|" gdbcmds > gdbcmds.tmp
(timeout 120 gdb -q -batch -x gdbcmds.tmp $B > gdb.$$.out 2>&1 &)
for i in $(seq 1 100); do sleep 1; curl -s -m 1 http://127.0.0.1:45583/healthz/ready 2>/dev/null | grep -q . && break; done; sleep 2
pkill -KILL -f "^$B run"; sleep 1
echo "GVM builds: $(grep -c 'hit Breakpoint' gdb.$$.out)"
grep "^#5" gdb.$$.out | sed 's/ (.*//; s/.* in //' | sort | uniq -c | sort -rn
