import sys, subprocess, collections
# attribute samples: total, page-fault (kernel exc_page_fault in stack), GVM build (TryBuildGenericMethod) by caller
tot=0; pf=0; gvm=collections.Counter(); gvmt=0; top=collections.Counter(); pfby=collections.Counter()
for f in sys.argv[1:]:
    out=subprocess.run(['perf','script','-i',f,'-F','comm,ip,sym'],capture_output=True,text=True).stdout
    for block in out.split('\n\n'):
        lines=[l.strip() for l in block.strip().split('\n') if l.strip()]
        if len(lines)<2: continue
        frames=[(l.split(None,1)+[''])[1] for l in lines[1:]]
        tot+=1
        if any('exc_page_fault' in x for x in frames):
            pf+=1
            u=next((x for x in frames if not x.startswith(('asm_','exc_','do_','handle_','__','pvm','_raw','clear_page','alloc_','get_page','lru','folio','filemap','next_uptodate','set_pte','mod_','rmqueue','vma_','lock_','up_','down_','___','memcg','mem_cgroup','percpu','free_','flush','unwind','release'))), '?')
            pfby[u]+=1
        for i,x in enumerate(frames):
            if 'TryBuildGenericMethod' in x:
                gvmt+=1
                j=next((k for k in range(i,len(frames)) if 'GVMLookupForSlotSlow' in frames[k]),None)
                c=frames[j+1] if j is not None and j+1<len(frames) else '?'
                gvm[c[:110]]+=1
                break
n=len(sys.argv)-1
print(f'samples per start {tot/n:.0f}; page-fault {pf/tot*100:.1f}%; GVM builds {gvmt/tot*100:.1f}%')
for k,v in gvm.most_common(15): print(f'  gvm {v/tot*100:5.1f}% {k}')
for k,v in pfby.most_common(15): print(f'  pf  {v/tot*100:5.1f}% {k}')
