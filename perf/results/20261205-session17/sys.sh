#!/bin/bash
# sys.sh NAME SCENARIO BIN [C]: syscalls per request of the pair's processes under load.
NAME=$1; SC=$2; BIN=$3; C=${4:-64}
H=/work/main/perf/BelizeMesh.Perf/bin/Release/net10.0/BelizeMesh.Perf.dll
OUT=/tmp/s17/prof/$NAME
dotnet $H compare --hold $SC --proxy $BIN > $OUT.hold 2>&1 &
HP=$!
for i in $(seq 1 120); do grep -q "Ctrl+C" $OUT.hold 2>/dev/null && break; sleep 0.5; done
TARGET=$(grep -o "http://[0-9.:]*/" $OUT.hold | head -1 | sed 's#http://##; s#/##')
HOST=$(grep -o "Host: [^']*" $OUT.hold | head -1 | sed 's/Host: //')
PIDS=$(grep -o "proxy processes: [0-9 ]*" $OUT.hold | sed 's/proxy processes: //' | sed 's/ *$//' | tr ' ' ',')
dotnet $H load --target $TARGET --host $HOST -c $C -d 3 > /dev/null
EV=raw_syscalls:sys_enter,syscalls:sys_enter_sendto,syscalls:sys_enter_sendmsg,syscalls:sys_enter_write,syscalls:sys_enter_writev,syscalls:sys_enter_recvfrom,syscalls:sys_enter_read,syscalls:sys_enter_readv,syscalls:sys_enter_recvmsg,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_ctl,syscalls:sys_enter_futex,syscalls:sys_enter_sched_yield,context-switches
perf stat -e $EV -p $PIDS -o $OUT.stat -- sleep 9 &
SP=$!
dotnet $H load --target $TARGET --host $HOST -c $C -d 10 > $OUT.load 2>&1
wait $SP
kill $HP 2>/dev/null; pkill -f "$BIN run"; pkill -f "BelizeMesh.Perf.dll app"; pkill -f "nginx.*belizemesh-compare"; sleep 1
RPS=$(grep -o "[0-9,]* req/s" $OUT.load | head -1 | tr -d ', req/s')
echo "$NAME: $RPS req/s"
python3 - "$OUT.stat" "$RPS" <<'PY'
import sys,re
rps=float(sys.argv[2]); reqs=rps*9
for line in open(sys.argv[1]):
    m=re.match(r"\s*([\d,]+)\s+(\S+)",line)
    if m and not line.strip().startswith("#"):
        n=int(m.group(1).replace(",",""))
        print(f"  {m.group(2):40s} {n/reqs:7.2f} per request")
PY
