# Start one belizemesh-proxy (native AOT build) with a policy, measure time-to-ready, idle RSS, RSS with 1000 open client connections.
import subprocess, time, socket, sys, os, tempfile, urllib.request
proxy = sys.argv[1]
d = tempfile.mkdtemp()
def free():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
admin, inbound, outbound = free(), free(), free()
open(f"{d}/policy.yaml", "w").write(f"""apiVersion: belizemesh.io/v1alpha1
kind: SidecarPolicy
metadata: {{ name: frontend, namespace: bench }}
spec:
  identity: spiffe://cluster.local/ns/bench/sa/frontend
  accessLog: false
  admin: {{ listen: "127.0.0.1:{admin}" }}
  inbound: {{ listen: "127.0.0.1:{inbound}", app: "http://127.0.0.1:9", mode: DISABLE }}
  outbound:
    listen: "127.0.0.1:{outbound}"
    routes:
      - host: app.bench.svc.cluster.local
        endpoints: ["127.0.0.1:9"]
""")
os.mkdir(f"{d}/certs")
results = []
for run in range(5):
    t0 = time.monotonic()
    p = subprocess.Popen([proxy, "run", "--policy", f"{d}/policy.yaml", "--certs", f"{d}/certs"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{admin}/healthz/ready", timeout=1).status == 200: break
        except Exception: pass
        time.sleep(0.002)
    ready = (time.monotonic() - t0) * 1000
    time.sleep(2)
    rss = lambda: int([l for l in open(f"/proc/{p.pid}/status") if l.startswith("VmRSS")][0].split()[1]) / 1024
    idle = rss()
    conns = []
    if run == 0:
        for i in range(1000):
            s = socket.create_connection(("127.0.0.1", outbound)); conns.append(s)
        # one request on each so Kestrel allocates its per-connection state
        for s in conns: s.sendall(b"GET / HTTP/1.1\r\nHost: unknown\r\n\r\n")
        for s in conns: s.recv(4096)
        time.sleep(1)
        loaded = rss()
    p.terminate(); p.wait()
    for s in conns: s.close()
    results.append((ready, idle, loaded if run == 0 else None))
    print(f"run {run}: ready {ready:.0f} ms, idle RSS {idle:.1f} MiB" + (f", with 1000 open connections {loaded:.1f} MiB" if run == 0 else ""))
readies = sorted(r[0] for r in results)
print(f"median ready {readies[2]:.0f} ms")
