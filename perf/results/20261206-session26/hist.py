import re,sys,collections
base={}
samples=collections.Counter(); pages=collections.Counter(); total=0; exe=0
for line in open(sys.argv[1]):
    m=re.search(r'PERF_RECORD_MMAP2 (\d+)/\d+: \[0x([0-9a-f]+)\(0x([0-9a-f]+)\) @ 0x([0-9a-f]+) .*r-xp .*belizemesh-proxy',line)
    if m:
        base[int(m.group(1))]=(int(m.group(2),16),int(m.group(4),16)); continue
    m=re.search(r'\s(\d+)\s+([0-9a-f]+) \((.*)\)$',line)
    if not m: continue
    total+=1
    pid=int(m.group(1)); ip=int(m.group(2),16)
    if 'belizemesh-proxy' in m.group(3) and pid in base:
        exe+=1
        off=ip-base[pid][0]+base[pid][1]
        samples[off>>21]+=1
        pages[off>>12]+=1
print("total",total,"in exe",exe, "%.1f%%"%(100*exe/total))
for k in sorted(samples): print("2MB chunk file offset 0x%x: %d (%.1f%% of exe)"%(k<<21,samples[k],100*samples[k]/exe))
print("distinct 4K pages sampled:",len(pages))
# coverage: pages sorted by hits
c=0
for i,(p,n) in enumerate(pages.most_common()):
    c+=n
    if i+1 in (16,64,128,256,512): print(i+1,"hottest pages hold %.1f%%"%(100*c/exe))
