/*
 * Start-up (issue 11; perf/README.md, "footprint, round 11"): the native AOT runtime rebuilds its compressed type data
 * ("dehydrated") into the executable's zero-filled tail (.bss and .hydrated, ~4.2 MiB) before Main. Touching that
 * memory page by page costs one page fault per 4 KiB: ~1,070 faults, and on a paravirtualised guest a fault costs
 * ~10 µs (perf/page-fault-cost.c measures it). This constructor runs before the runtime's main() and asks the
 * kernel to fill the range in one call instead (MADV_POPULATE_WRITE, Linux 5.14+), and to back its 2 MiB-aligned
 * part with a transparent huge page where the system allows it (MADV_HUGEPAGE; THP "madvise" or "always" mode).
 * Either request failing (an older kernel, THP off, no memory) leaves the memory as it was: it is then faulted in on
 * first touch, as without this file. BELIZEMESH_PREFAULT=0 turns it off; BELIZEMESH_PREFAULT=nohuge fills the range
 * without asking for a huge page (for nodes where THP's direct compaction stalls are unwelcome).
 *
 * The range is the writable PT_LOAD segment's part beyond its file contents (p_memsz > p_filesz) of the main
 * executable: memory the runtime writes in full before Main (the type data) or uses from the start (its globals),
 * so populating it adds nothing to the resident set that start-up would not add anyway.
 */
#define _GNU_SOURCE
#include <link.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define HUGE_PAGE_SIZE ((uintptr_t)2 << 20)

static int belizemesh_find_tail(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    uintptr_t *range = data;
    /* The first object dl_iterate_phdr reports is the main executable. */
    for (int i = 0; i < info->dlpi_phnum; i++)
    {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_W) && ph->p_memsz > ph->p_filesz)
        {
            range[0] = info->dlpi_addr + ph->p_vaddr + ph->p_filesz;
            range[1] = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
            break;
        }
    }
    return 1;
}

__attribute__((constructor)) static void belizemesh_prefault_type_data(void)
{
    const char *setting = getenv("BELIZEMESH_PREFAULT");
    if (setting != NULL && strcmp(setting, "0") == 0)
    {
        return;
    }

    uintptr_t range[2] = { 0, 0 };
    dl_iterate_phdr(belizemesh_find_tail, range);
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    /* The first page of the tail also holds the end of the file-backed data: start at the next page boundary. */
    uintptr_t start = (range[0] + page - 1) & ~(page - 1);
    uintptr_t end = (range[1] + page - 1) & ~(page - 1);
    if (range[1] == 0 || end <= start)
    {
        return;
    }

    uintptr_t hugeStart = (start + HUGE_PAGE_SIZE - 1) & ~(HUGE_PAGE_SIZE - 1);
    uintptr_t hugeEnd = end & ~(HUGE_PAGE_SIZE - 1);
    if (hugeEnd > hugeStart && (setting == NULL || strcmp(setting, "nohuge") != 0))
    {
        (void)madvise((void *)hugeStart, hugeEnd - hugeStart, MADV_HUGEPAGE);
    }

    (void)madvise((void *)start, end - start, MADV_POPULATE_WRITE);
}
