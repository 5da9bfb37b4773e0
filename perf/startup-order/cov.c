// One-shot breakpoint coverage: cov ADDRS OUT PROGRAM ARGS...
// ADDRS: hex virtual addresses (ELF vaddr of a PIE, base 0) of function entries, one per line.
// OUT: the addresses hit, in the order first hit, written when PROGRAM exits.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

static uint64_t *addrs; static unsigned char *orig; static char *state; static size_t n;
static uint64_t *hits; static size_t nhits;
static pid_t child;

static long find(uint64_t a) {
    size_t lo = 0, hi = n;
    while (lo < hi) { size_t m = (lo + hi) / 2; if (addrs[m] < a) lo = m + 1; else hi = m; }
    return lo < n && addrs[lo] == a ? (long)lo : -1;
}
static int cmp(const void *x, const void *y) { uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y; return a < b ? -1 : a > b; }
static void fwd(int s) { if (child > 0) kill(child, s); }

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage\n"); return 2; }
    FILE *f = fopen(argv[1], "r"); size_t cap = 65536; addrs = malloc(cap * 8);
    char line[256];
    while (fgets(line, sizeof line, f)) { if (n == cap) { cap *= 2; addrs = realloc(addrs, cap * 8); } addrs[n++] = strtoull(line, 0, 16); }
    fclose(f);
    qsort(addrs, n, 8, cmp);
    size_t m = 0; for (size_t i = 0; i < n; i++) if (m == 0 || addrs[i] != addrs[m - 1]) addrs[m++] = addrs[i];
    n = m; orig = calloc(n, 1); state = calloc(n, 1); hits = malloc(n * 8);
    signal(SIGTERM, fwd); signal(SIGINT, fwd);
    child = fork();
    if (child == 0) { ptrace(PTRACE_TRACEME, 0, 0, 0); execv(argv[3], argv + 3); _exit(127); }
    int status; waitpid(child, &status, 0); // stopped at exec
    ptrace(PTRACE_SETOPTIONS, child, 0, PTRACE_O_TRACECLONE | PTRACE_O_EXITKILL);
    // load base: the first mapping of the executable
    char mp[64]; snprintf(mp, sizeof mp, "/proc/%d/maps", child);
    FILE *mf = fopen(mp, "r"); uint64_t base = 0; char exe[4096]; realpath(argv[3], exe);
    while (fgets(line, sizeof line, mf)) { if (strstr(line, exe)) { base = strtoull(line, 0, 16); break; } }
    fclose(mf);
    fprintf(stderr, "cov: base %lx, %zu breakpoints\n", (unsigned long)base, n);
    for (size_t i = 0; i < n; i++) {
        uint64_t a = base + addrs[i];
        errno = 0; long w = ptrace(PTRACE_PEEKTEXT, child, (void *)a, 0);
        if (errno) { state[i] = 2; continue; }
        orig[i] = (unsigned char)(w & 0xff);
        long nw = (w & ~0xffL) | 0xcc;
        if (ptrace(PTRACE_POKETEXT, child, (void *)a, (void *)nw) != 0) { state[i] = 2; continue; }
        state[i] = 1;
    }
    char lp[4200]; snprintf(lp, sizeof lp, "%s.live", argv[2]); FILE *live = fopen(lp, "w");
    ptrace(PTRACE_CONT, child, 0, 0);
    for (;;) {
        pid_t p = waitpid(-1, &status, __WALL);
        if (p < 0) { if (errno == EINTR) continue; break; }
        if (WIFEXITED(status) || WIFSIGNALED(status)) { if (p == child) break; continue; }
        if (!WIFSTOPPED(status)) continue;
        int sig = WSTOPSIG(status);
        if (sig == SIGTRAP && (status >> 16) != 0) { ptrace(PTRACE_CONT, p, 0, 0); continue; }
        if (sig == SIGTRAP) {
            struct user_regs_struct r; ptrace(PTRACE_GETREGS, p, 0, &r);
            uint64_t a = r.rip - 1; long i = a >= base ? find(a - base) : -1;
            if (i >= 0) {
                if (state[i] == 1) {
                    long w = ptrace(PTRACE_PEEKTEXT, p, (void *)a, 0);
                    w = (w & ~0xffL) | orig[i];
                    ptrace(PTRACE_POKETEXT, p, (void *)a, (void *)w);
                    state[i] = 3; hits[nhits++] = a - base;
                    fprintf(live, "%lx\n", (unsigned long)(a - base)); fflush(live);
                }
                r.rip = a; ptrace(PTRACE_SETREGS, p, 0, &r);
                ptrace(PTRACE_CONT, p, 0, 0); continue;
            }
            ptrace(PTRACE_CONT, p, 0, (void *)(long)sig); continue;
        }
        if (sig == SIGSTOP) { ptrace(PTRACE_CONT, p, 0, 0); continue; }
        ptrace(PTRACE_CONT, p, 0, (void *)(long)sig);
    }
    FILE *o = fopen(argv[2], "w");
    for (size_t i = 0; i < nhits; i++) fprintf(o, "%lx\n", (unsigned long)hits[i]);
    fclose(o);
    fprintf(stderr, "cov: %zu hit\n", nhits);
    return 0;
}
