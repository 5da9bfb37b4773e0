import subprocess, time, socket, sys, os, re
B=sys.argv[1]; env=dict(os.environ)
for kv in sys.argv[2:]: k,v=kv.split('=',1); env[k]=v
def get(path):
    try:
        s=socket.create_connection(('127.0.0.1',45583),timeout=1)
        s.sendall(b'GET '+path+b' HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
        d=b''
        while True:
            c=s.recv(65536)
            if not c: break
            d+=c
        s.close(); return d
    except OSError: return b''
t0=time.perf_counter()
p=subprocess.Popen([B,'run','--policy','/tmp/s14/fpwork/policy.yaml','--certs','/tmp/s14/fpwork/certs'],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL,env=env)
while b' 200 ' not in get(b'/healthz/ready')[:20]: time.sleep(0.001)
t=(time.perf_counter()-t0)*1000
m=get(b'/metrics').decode()
gc=re.findall(r'dotnet_gc_collections_total\{gc_heap_generation="(gen\d)"\} (\d+)',m)
al=re.findall(r'dotnet_gc_heap_total_allocated_bytes_total (\d+)',m)
print('ready %.1f ms'%t, gc, 'alloc', al)
p.terminate(); p.wait()
