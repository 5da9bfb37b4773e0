import subprocess, time, socket, sys, os
# usage: recstart.py N BIN OUTPREFIX EVENT [extra perf args]
N=int(sys.argv[1]); B=sys.argv[2]; OUT=sys.argv[3]; EV=sys.argv[4]; extra=sys.argv[5:]
def ready():
    try:
        s=socket.create_connection(('127.0.0.1',45583),timeout=1)
        s.sendall(b'GET /healthz/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
        d=s.recv(100); s.close(); return b' 200 ' in d
    except OSError: return False
for i in range(N):
    p=subprocess.Popen(['perf','record','-q','-e',EV,*extra,'-o',f'{OUT}.{i}.data','--',B,'run','--policy','/tmp/s14/fpwork/policy.yaml','--certs','/tmp/s14/fpwork/certs'],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL)
    while not ready(): time.sleep(0.001)
    # kill the sidecar (child of perf) right at ready
    subprocess.run(['pkill','-KILL','-f','^'+B+' run --policy /tmp/s14'])
    p.wait(); time.sleep(0.3)
