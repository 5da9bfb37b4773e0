import subprocess, time, socket, sys, os, statistics
# usage: ready.py N name=binary[:ENV=V,...] ...
N=int(sys.argv[1]); cfgs=[]
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
        p=subprocess.Popen([b,'run','--policy','/tmp/s14/fpwork/policy.yaml','--certs','/tmp/s14/fpwork/certs'],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL,env=env)
        while not ready(): time.sleep(0.001)
        res[name].append((time.perf_counter()-t0)*1000)
        p.terminate(); p.wait(); time.sleep(0.3)
for name in res: print(name, 'median %.1f'%statistics.median(res[name]), ' '.join('%.0f'%x for x in res[name]))
