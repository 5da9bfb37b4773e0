#!/usr/bin/env python3
"""Sum a `perf report --no-children --sort dso,sym --stdio` of the sidecar pair by component (symbol prefix)."""
import collections, re, sys
agg = collections.Counter()
for line in open(sys.argv[1]):
    m = re.match(r'\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*)', line)
    if not m:
        continue
    p, dso, sym = float(m.group(1)), m.group(2), m.group(4).strip()
    if dso.startswith('[kernel'): k = 'kernel'
    elif 'libc' in dso: k = 'libc (system-call entry/return: kernel time seen from user space)'
    elif sym.startswith('Microsoft_AspNetCore_Server_Kestrel'): k = 'Kestrel'
    elif sym.startswith('Microsoft_AspNetCore'): k = 'ASP.NET Core, other'
    elif sym.startswith('Yarp'): k = 'YARP'
    elif sym.startswith('System_Net_Sockets') or sym.startswith('SystemNative_'): k = 'socket engine'
    elif sym.startswith('System_Net_Http'): k = 'System.Net.Http'
    elif sym.startswith('belizemesh_proxy'): k = 'BelizeMesh.Proxy'
    elif sym.startswith('BelizeMesh_Channel'): k = 'BelizeMesh.Channel (incl. AES-GCM)'
    elif sym.startswith('S_P_CoreLib_System_Threading'): k = 'CoreLib threading/async'
    elif sym.startswith('S_P_CoreLib_System_Runtime'): k = 'CoreLib casts/async builders'
    elif sym.startswith('S_P_CoreLib'): k = 'CoreLib, other'
    elif sym.startswith('Rh'): k = 'runtime helpers (interface dispatch, write barriers, allocation)'
    elif 'WKS' in sym or sym.startswith('gc'): k = 'GC'
    else: k = 'other'
    agg[k] += p
for k, v in agg.most_common():
    print(f"{v:6.2f}%  {k}")
