import subprocess, time, socket, sys, os, statistics
# usage: ready.py N name=binary[:ENV=V,...] ...
N=int(sys.argv[1]); cfgs=[]; CPUS=set(int(c) for c in os.environ.get("SIDECAR_CPUS","0,1").split(",")); POLL=os.environ.get("POLL_CPU")
if POLL: os.sched_setaffinity(0,{int(POLL)})
for a in sys.argv[2:]:
    name,rest=a.split('=',1); parts=rest.split(':',1); env=dict(os.environ)
    if len(parts)>1:
        for kv in parts[1].split(','): k,v=kv.split('=',1); env[k]=v
    cfgs.append((name,parts[0],env))
res={c[0]:[] for c in cfgs}
def ready():
    try:
        s=socket.create_connection(('127.0.0.1',45583),timeout=1)
        s.sendall(b'GET /healthz/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
        d=s.recv(100); s.close(); return b' 200 ' in d
    except OSError: return False
for i in range(N):
    for name,b,env in (cfgs if i%2==0 else cfgs[::-1]):
        t0=time.perf_counter()
        p=subprocess.Popen([b,'run','--policy','/tmp/s14/fpwork/policy.yaml','--certs','/tmp/s14/fpwork/certs'],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL,env=env,preexec_fn=lambda: os.sched_setaffinity(0,CPUS))
        while not ready(): time.sleep(0.001)
        res[name].append((time.perf_counter()-t0)*1000)
        p.terminate(); p.wait(); time.sleep(0.3)
for name in res: print(name, 'median %.1f'%statistics.median(res[name]), ' '.join('%.0f'%x for x in res[name]))
names=list(res)
if len(names)>=2:
    a,b=names[0],names[1]
    wins=sum(1 for x,y in zip(res[a],res[b]) if y<x)
    print('paired: %s faster than %s in %d of %d rounds; median of per-round ratio %.3f'%(b,a,wins,len(res[a]),statistics.median([y/x for x,y in zip(res[a],res[b])])))
    print('p25 %s %.1f  %s %.1f'%(a,sorted(res[a])[len(res[a])//4],b,sorted(res[b])[len(res[b])//4]))
