#!/usr/bin/env python3
"""Regenerates proxy/BelizeMesh.Proxy/startup.order: the managed functions a sidecar runs from exec through start-up,
idle, PQ channel handshakes, a burst of half-open handshakes and the idle trims after it, in the order they first run.

    python3 perf/startup-order/make-order.py PUBLISH_DIR [--out FILE] [--merge]

PUBLISH_DIR: an AOT publish of the current code (`dotnet publish proxy/BelizeMesh.Proxy -c Release -r linux-x64 -o DIR`),
with its belizemesh-proxy.dbg. The sidecar runs under `cov` (cov.c beside this file: a one-shot breakpoint on every
function of the __managedcode section; each is removed the first time it is hit), driven by the perf harness's
`footprint` command with its defaults (one start, 10,000 idle channels, 4,000 half-open handshakes, 12 s settle, then
the minute after the burst; /metrics and /healthz/ready scraped every second meanwhile). --merge keeps, after this run's functions, those
of the existing FILE that this run did not hit and the binary still has (paths that run only sometimes: lock
contention, the thread pool's gate thread, finalizers). Needs gcc, nm, readelf, curl and the perf harness built (`dotnet build -c Release perf/BelizeMesh.Perf`).
perf/README.md, "footprint, round 6", explains why and what it buys.
"""
import glob
import os
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
repo = os.path.dirname(os.path.dirname(here))
args = sys.argv[1:]
if not args or args[0].startswith('-'):
    sys.exit(__doc__)
publish = os.path.abspath(args[0])
out = os.path.join(repo, 'proxy/BelizeMesh.Proxy/startup.order')
if '--out' in args:
    out = os.path.abspath(args[args.index('--out') + 1])
binary = os.path.join(publish, 'belizemesh-proxy')
dbg = binary + '.dbg'
for f in (binary, dbg):
    if not os.path.exists(f):
        sys.exit(f'make-order: {f} not found; publish the sidecar with `dotnet publish proxy/BelizeMesh.Proxy -c Release -r linux-x64 -o DIR` first')

work = tempfile.mkdtemp(prefix='startup-order-')
cov = os.path.join(work, 'cov')
subprocess.run(['gcc', '-O2', '-o', cov, os.path.join(here, 'cov.c')], check=True)

# The __managedcode section: where ILC puts every managed method body (the part the order file arranges).
lo = hi = None
for line in subprocess.run(['readelf', '-SW', binary], capture_output=True, text=True, check=True).stdout.splitlines():
    parts = line.replace('[ ', '[').split()
    if len(parts) > 5 and parts[1] == '__managedcode':
        lo = int(parts[3], 16); hi = lo + int(parts[5], 16)
if lo is None:
    sys.exit('make-order: no __managedcode section in the binary (not a NativeAOT build?)')

names = {}
for line in subprocess.run(['nm', '-n', '--defined-only', dbg], capture_output=True, text=True, check=True).stdout.splitlines():
    parts = line.split(maxsplit=2)
    if len(parts) == 3 and parts[1] in ('t', 'T'):
        address = int(parts[0], 16)
        if lo <= address < hi and not parts[2].startswith('__'):
            names.setdefault(address, []).append(parts[2])
addresses = os.path.join(work, 'addresses')
with open(addresses, 'w') as f:
    for address in names:
        f.write(f'{address:x}\n')

wrapper = os.path.join(work, 'traced-proxy')
with open(wrapper, 'w') as f:
    # Prometheus scrapes /metrics every 15-30 s in a pod: that code runs at idle too, so the traced run scrapes it
    # (the admin address is in the policy file footprint writes).
    f.write(f'''#!/bin/sh
policy=""; prev=""
for a in "$@"; do [ "$prev" = "--policy" ] && policy="$a"; prev="$a"; done
admin=$(grep -o 'admin: *{{ *listen: *"[^"]*"' "$policy" | grep -o '[0-9.]*:[0-9]*')
( for i in $(seq 1 60); do sleep 1; curl -s -o /dev/null "http://$admin/metrics"; curl -s -o /dev/null "http://$admin/healthz/ready"; done ) &
exec {cov} {addresses} {work}/hits-$$ {binary} "$@"
''')
os.chmod(wrapper, 0o755)

perf = os.path.join(repo, 'perf/BelizeMesh.Perf/bin/Release/net10.0/BelizeMesh.Perf.dll')
subprocess.run(['dotnet', perf, 'footprint', '--proxy', wrapper, '--starts', '1', '--settle', '12'],
               check=True, stdout=subprocess.DEVNULL)

order, seen = [], set()
for hits in sorted(glob.glob(os.path.join(work, 'hits-*.live'))):
    for line in open(hits):
        address = int(line, 16)
        if address not in seen:
            seen.add(address)
            order.extend(names.get(address, []))
if '--merge' in args and os.path.exists(out):
    # Rare paths (lock contention, the thread pool's gate thread, finalizers) do not run in every traced run: keep the
    # names an earlier run found that this binary still has.
    known = {name for group in names.values() for name in group}
    listed = set(order)
    order.extend(name for name in open(out).read().split() if name in known and name not in listed)
if len(order) < 1000:
    sys.exit(f'make-order: only {len(order)} functions hit; the traced run failed (see {work})')
with open(out, 'w') as f:
    f.write('\n'.join(order) + '\n')
print(f'make-order: {len(order)} functions of {len(names)} written to {out}')
