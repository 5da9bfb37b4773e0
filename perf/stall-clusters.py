#!/usr/bin/env python3
"""Whether an open-loop run's slow requests come in clusters (a stall that delays every request in flight) and whether
those clusters repeat with a period — the signature of something else on the machine taking a CPU at a fixed interval.

    BELIZEMESH_LOAD_DUMP=/tmp/run.txt dotnet perf/BelizeMesh.Perf/bin/Release/net10.0/BelizeMesh.Perf.dll \
        load --target 127.0.0.1:PORT --host H -c 32 --rate 1000 -d 15
    python3 perf/stall-clusters.py [--slow-us 1500] [--gap-us 20000] [--period-ms 512] /tmp/run.txt [more.txt ...]

The dump has one line per request, `due sent done` in µs from the first request's due time (LoadGenerator's
RequestDump). A request is slow from --slow-us on; slow requests whose due times are less than --gap-us apart form one
cluster. For --period-ms, the phase of that period holding the most cluster starts (within 24 ms) is found, and the
clusters are split into periodic ones (in that phase) and the rest. Prints per file: p50, p99, and for each group the
clusters, the slow requests in them, and the median of the clusters' worst latency; then, with --timeline, every
cluster's start (ms), size and worst latency.

On this project's VM the periodic group is the kernel's DAMON thread (`kdamond.0`), which takes one CPU for 4–5 ms
every ~512 ms (perf/README.md, "p99 at 1,000 req/s: the machine's periodic stall", session 22).
"""
import argparse
import statistics

from load_dump import clusters, read


def describe(groups):
    if not groups:
        return "none"
    worst = [max(d - u for u, _, d in g) for g in groups]
    return f"{len(groups)} clusters, {sum(len(g) for g in groups)} slow requests, worst latency median {statistics.median(worst) / 1000:.2f} ms"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slow-us", type=int, default=1500)
    parser.add_argument("--gap-us", type=int, default=20000)
    parser.add_argument("--period-ms", type=float, default=512)
    parser.add_argument("--timeline", action="store_true")
    parser.add_argument("dumps", nargs="+")
    args = parser.parse_args()
    period = int(args.period_ms * 1000)
    for path in args.dumps:
        _, rows = read(path)
        if not rows:
            print(f"{path}: empty")
            continue
        latencies = sorted(d - u for u, _, d in rows)
        n = len(latencies)
        groups = clusters(rows, args.slow_us, args.gap_us)
        starts = [g[0][0] for g in groups]
        window = 24000
        phase = max(range(0, period, 4000), key=lambda p: sum(1 for t in starts if (t - p) % period < window)) if starts else 0
        periodic = [g for g in groups if (g[0][0] - phase) % period < window]
        rest = [g for g in groups if (g[0][0] - phase) % period >= window]
        late = sorted(s - u for u, s, _ in rows)
        print(f"{path}: {n} requests, p50 {latencies[n // 2] / 1000:.3f} ms, p99 {latencies[int(n * 0.99)] / 1000:.2f} ms, "
              f"p99.9 {latencies[int(n * 0.999)] / 1000:.2f} ms; sent late p99 {late[int(n * 0.99)] / 1000:.2f} ms")
        print(f"  every {args.period_ms:g} ms (phase {phase / 1000:.0f} ms): {describe(periodic)}")
        print(f"  the rest: {describe(rest)}")
        if args.timeline:
            for g in groups:
                mark = "*" if g in periodic else " "
                print(f"   {mark} {g[0][0] / 1000:9.1f} ms  {len(g):3} slow  worst {max(d - u for u, _, d in g) / 1000:.2f} ms")


if __name__ == "__main__":
    main()
