import subprocess, time, socket, sys, os, json, datetime
B=sys.argv[1]; N=int(sys.argv[2])
def ready():
    try:
        s=socket.create_connection(('127.0.0.1',45583),timeout=1)
        s.sendall(b'GET /healthz/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
        d=s.recv(100); s.close(); return b' 200 ' in d
    except OSError: return False
for i in range(N):
    t0=time.time()
    p=subprocess.Popen([B,'run','--policy','/tmp/s14/fpwork/policy.yaml','--certs','/tmp/s14/fpwork/certs'],stdout=open('/tmp/s14/r2.log','w'),stderr=subprocess.STDOUT)
    n=0
    while not ready(): n+=1; time.sleep(0.001)
    t1=time.time()
    time.sleep(0.2); p.terminate(); p.wait()
    marks=[]
    for l in open('/tmp/s14/r2.log'):
        try: j=json.loads(l)
        except: continue
        ts=datetime.datetime.fromisoformat(j['Timestamp'].replace('Z','+00:00')).timestamp()
        marks.append('%s:%.0f'%(j['Message'][:12].replace(' ','_'),(ts-t0)*1000))
    print('ready %.0f polls %d |'%((t1-t0)*1000,n),' '.join(marks[:12]))
    time.sleep(0.3)
