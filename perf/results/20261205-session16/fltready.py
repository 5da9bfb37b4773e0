import subprocess, time, socket, sys, os, statistics
B=sys.argv[1]; N=int(sys.argv[2]); env=dict(os.environ)
for kv in sys.argv[3:]: k,v=kv.split('=',1); env[k]=v
def ready():
    try:
        s=socket.create_connection(('127.0.0.1',45583),timeout=1)
        s.sendall(b'GET /healthz/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
        d=s.recv(100); s.close(); return b' 200 ' in d
    except OSError: return False
fl=[];ut=[]
for i in range(N):
    p=subprocess.Popen([B,'run','--policy','/tmp/s14/fpwork/policy.yaml','--certs','/tmp/s14/fpwork/certs'],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL,env=env)
    while not ready(): time.sleep(0.001)
    st=open(f'/proc/{p.pid}/stat').read().rsplit(')',1)[1].split()
    fl.append(int(st[7])); ut.append((int(st[11])+int(st[12]))*10)
    p.terminate(); p.wait(); time.sleep(0.2)
print(B, sys.argv[3:], 'minflt at ready median', statistics.median(fl), 'cpu ms', statistics.median(ut))
