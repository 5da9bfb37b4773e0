/* How long this machine takes to wake a sleeping thread (perf/README.md, "p99 at 1,000 req/s, alternated"): a writer
 * pinned to CPU 0 writes its clock into a pipe every millisecond; a reader blocked on the pipe, pinned to CPU 0 (the
 * same CPU) and then to CPU 1 (a wake-up that needs an inter-processor interrupt), takes the difference when it runs.
 * Then the timer alone: a thread that sleeps 1 ms and measures how late it wakes. Percentiles in microseconds.
 * Build and run: cc -O2 -pthread -o /tmp/wl perf/wake-latency.c && /tmp/wl [wake-ups per measurement, default 5000] */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

static long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

static int compare_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return x < y ? -1 : x > y;
}

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
}

static void sleep_1ms(void)
{
    struct timespec s = {0, 1000000};
    nanosleep(&s, NULL);
}

static void report(const char *what, long *ns, int n)
{
    qsort(ns, n, sizeof *ns, compare_long);
    printf("%-34s p50 %6.0f  p90 %6.0f  p99 %6.0f  p99.9 %6.0f  max %6.0f us\n", what, ns[n / 2] / 1e3,
           ns[n * 9 / 10] / 1e3, ns[n * 99 / 100] / 1e3, ns[n * 999 / 1000] / 1e3, ns[n - 1] / 1e3);
}

struct reader
{
    int fd, cpu, n;
    long *ns;
};

static void *read_side(void *arg)
{
    struct reader *r = arg;
    pin(r->cpu);
    for (int i = 0; i < r->n; i++)
    {
        long sent;
        if (read(r->fd, &sent, sizeof sent) != sizeof sent)
        {
            break;
        }
        r->ns[i] = now_ns() - sent;
    }
    return NULL;
}

static void pipe_wake(int reader_cpu, int n, long *ns)
{
    int fds[2];
    if (pipe(fds) != 0)
    {
        perror("pipe");
        exit(1);
    }
    struct reader r = {fds[0], reader_cpu, n, ns};
    pthread_t thread;
    pthread_create(&thread, NULL, read_side, &r);
    sleep_1ms();
    for (int i = 0; i < n; i++)
    {
        sleep_1ms();
        long t = now_ns();
        if (write(fds[1], &t, sizeof t) != sizeof t)
        {
            break;
        }
    }
    pthread_join(thread, NULL);
    close(fds[0]);
    close(fds[1]);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 5000;
    long *ns = malloc(sizeof *ns * (size_t)(n > 0 ? n : 1));
    if (n < 1000 || ns == NULL)
    {
        fprintf(stderr, "usage: %s [wake-ups per measurement, at least 1000]\n", argv[0]);
        return 2;
    }
    prctl(PR_SET_TIMERSLACK, 1); /* the timer's own slack would hide the wake-up */
    pin(0);
    pipe_wake(0, n, ns);
    report("pipe wake-up, same CPU", ns, n);
    if (sysconf(_SC_NPROCESSORS_ONLN) > 1)
    {
        pipe_wake(1, n, ns);
        report("pipe wake-up, other CPU", ns, n);
    }
    for (int i = 0; i < n; i++)
    {
        long start = now_ns();
        sleep_1ms();
        ns[i] = now_ns() - start - 1000000;
    }
    report("1 ms sleep, late by", ns, n);
    free(ns);
    return 0;
}
