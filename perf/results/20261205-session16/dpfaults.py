import subprocess, re, sys, time, signal, os
H="/work/main/perf/BelizeMesh.Perf/bin/Release/net10.0/BelizeMesh.Perf.dll"
proxy=sys.argv[1]; extra=sys.argv[2:]
cmd=["dotnet",H,"compare","--hold","belizemesh-pq","--proxy",proxy]
for e in extra: cmd+=["--proxy-env",e]
p=subprocess.Popen(cmd,stdout=subprocess.PIPE,stderr=subprocess.STDOUT,text=True,start_new_session=True,preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
host=target=None; pids=[]
while True:
    l=p.stdout.readline()
    if not l: sys.exit("exited")
    if m:=re.search(r"-H 'Host: ([^']+)' http://([0-9.:]+)/",l): host,target=m.group(1),m.group(2)
    if m:=re.search(r"proxy processes: ([0-9 ]+);",l): pids=m.group(1).split()
    if "Ctrl+C" in l: break
def load(n,c=64):
    return subprocess.run(["dotnet",H,"load","--target",target,"--host",host,"-c",str(c),"-n",str(n)],capture_output=True,text=True).stdout
load(20000)
for c in (64,):
  for r in range(2):
    N=40000
    st=subprocess.Popen(["perf","stat","-e","page-faults,task-clock,context-switches","-p",",".join(pids),"-o","/tmp/s16/dpf.txt"])
    time.sleep(0.3); out=load(N,c); st.send_signal(signal.SIGINT); st.wait()
    t=open("/tmp/s16/dpf.txt").read()
    pf=int(re.search(r"([\d,]+)\s+page-faults",t).group(1).replace(",",""))
    tc=float(re.search(r"([\d.,]+)\s+msec task-clock",t).group(1).replace(",",""))
    cs=int(re.search(r"([\d,]+)\s+context-switches",t).group(1).replace(",",""))
    rate=re.search(r"([\d,.]+) req/s",out)
    print(f"-c {c}: page faults/request {pf/N:.3f}, CPU us/request {tc*1000/N:.1f}, ctx/request {cs/N:.2f}, {rate.group(0) if rate else out[-200:]}")
os.killpg(p.pid, signal.SIGINT); p.wait()
