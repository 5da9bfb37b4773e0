import subprocess, time, re, sys
out = open(sys.argv[1], 'w')
prev = {}
while True:
    t = time.time()
    lst = subprocess.run(['ss','-tlnH'], capture_output=True, text=True).stdout
    listen = set()
    for l in lst.splitlines():
        f = l.split()
        if len(f) >= 4: listen.add(f[3].rsplit(':',1)[1])
    est = subprocess.run(['ss','-tniH','state','established'], capture_output=True, text=True).stdout
    lines = est.splitlines()
    cur = {}
    key = None
    for l in lines:
        if not l.startswith('\t') and not l.startswith(' \t'):
            f = l.split()
            if len(f) >= 4:
                key = (f[2], f[3])
        else:
            m = re.search(r'bytes_received:(\d+)', l)
            if key: cur[key] = int(m.group(1)) if m else 0
    act = {}
    tot = {}
    for k, v in cur.items():
        lp = k[0].rsplit(':',1)[1]; pp = k[1].rsplit(':',1)[1]
        port = lp if lp in listen else (pp if pp in listen else '?')
        side = 'srv' if lp == port else 'cli'
        kk = port + side
        tot[kk] = tot.get(kk, 0) + 1
        if k in prev and v > prev[k]:
            act[kk] = act.get(kk, 0) + 1
    prev = cur
    out.write('%.1f %s\n' % (t, ' '.join('%s=%d/%d' % (p, act.get(p,0), tot[p]) for p in sorted(tot))))
    out.flush()
    time.sleep(1)
