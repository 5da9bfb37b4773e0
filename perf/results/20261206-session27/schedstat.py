import re,sys,collections
fn,pidfile=sys.argv[1],sys.argv[2]
pids=set(open(pidfile).read().split())
REQ=8000.0
# map tid->tgid from the lines' pid/tid field
tg={}
wake=collections.Counter(); cross=collections.Counter(); switchin=collections.Counter()
allwake=collections.Counter(); allcross=collections.Counter()
rx=re.compile(r'^\s*(.+?)\s+(\d+)/(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+sched:(\w+):\s+(.*)$')
lines=open(fn).read().splitlines()
for l in lines:
    m=rx.match(l)
    if m: tg[m.group(3)]=m.group(2)
for l in lines:
    m=rx.match(l)
    if not m: continue
    comm,pid,tid,cpu,t,ev,rest=m.groups()
    if ev=='sched_wakeup':
        mm=re.search(r'comm=(.*) pid=(\d+) prio=\d+ target_cpu=(\d+)',rest)
        wcomm,wtid,tcpu=mm.groups()
        g=tg.get(wtid)
        key=(wcomm if g in pids else 'OTHER:'+wcomm)
        allwake[key]+=1
        if int(tcpu)!=int(cpu): allcross[key]+=1
    elif ev=='sched_switch':
        mm=re.search(r'next_comm=(.*) next_pid=(\d+)',rest)
        ncomm,ntid=mm.groups()
        g=tg.get(ntid)
        if g in pids: switchin[ncomm]+=1
tot=sum(v for k,v in allwake.items() if not k.startswith('OTHER')); totx=sum(v for k,v in allcross.items() if not k.startswith('OTHER'))
print(f"proxies: wakeups/req {tot/REQ:.2f}, cross-CPU wakeups/req {totx/REQ:.2f}, switch-ins/req {sum(switchin.values())/REQ:.2f}")
for k,v in sorted(allwake.items(), key=lambda x:-x[1])[:14]:
    print(f"  {k:40s} wake/req {v/REQ:.3f}  cross {allcross[k]/REQ:.3f}")
