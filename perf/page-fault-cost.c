/* What a page fault costs on this machine (perf/README.md, "footprint, round 11"): touches 4 MiB of fresh anonymous
 * memory page by page, then the same after MADV_POPULATE_WRITE, then with MADV_HUGEPAGE, three times each.
 * Build and run: cc -O2 -o /tmp/pfc perf/page-fault-cost.c && /tmp/pfc */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>
#include <time.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static double touch(int advice)
{
    size_t size = (size_t)4 << 20;
    char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
    {
        return -1;
    }
    double start = now_ms();
    if (advice >= 0 && madvise(p, size, advice) != 0)
    {
        munmap(p, size);
        return -1;
    }
    for (size_t i = 0; i < size; i += 4096)
    {
        p[i] = 1;
    }
    double elapsed = now_ms() - start;
    munmap(p, size);
    return elapsed;
}

int main(void)
{
    for (int round = 0; round < 3; round++)
    {
        printf("4 MiB, 1,024 pages: faulted one by one %.2f ms; MADV_POPULATE_WRITE %.2f ms; MADV_HUGEPAGE %.2f ms (-1: refused)\n",
               touch(-1), touch(MADV_POPULATE_WRITE), touch(MADV_HUGEPAGE));
    }
    return 0;
}
