#!/usr/bin/env python3
"""Two open-loop runs made at the same time (two load generators, one per pair, each with BELIZEMESH_LOAD_DUMP):
which of each run's slow requests fell in stalls both runs saw, and which in stalls only one of them saw.

    BELIZEMESH_LOAD_DUMP=/tmp/a.txt $P load --target A --host HA -c 32 --rate 1000 -d 20 &
    BELIZEMESH_LOAD_DUMP=/tmp/b.txt $P load --target B --host HB -c 32 --rate 1000 -d 20; wait
    python3 perf/stall-pairs.py /tmp/a.txt /tmp/b.txt [--slow-us 1500] [--gap-us 20000] [--overlap-us 5000]

The dumps' `# origin NS` lines (the first due time on the monotonic clock) put both runs on one time line. Slow
requests (latency from the due time ≥ --slow-us) less than --gap-us apart form a cluster (perf/stall-clusters.py);
a cluster of one run is *shared* when a cluster of the other run overlaps it (within --overlap-us), *own* otherwise.
A stall of the machine (the kernel's DAMON thread, another tenant) shows up in both runs; a stall of one pair (its GC,
its thread pool) in that run only. Prints, per run, p50 / p99 and, for shared and own clusters, how many, the slow
requests in them and the median of their worst latency; then, for the shared clusters, the median of the per-stall
ratio of the two runs' worst latencies.
"""
import argparse
import statistics

import load_dump


def read(path):
    """(due, sent, done) of every request on the shared time line (µs of the monotonic clock)."""
    origin, rows = load_dump.read(path)
    if origin is None:
        raise SystemExit(f"{path}: no '# origin' line (a dump from before session 24?)")
    return [(origin + due, origin + sent, origin + done) for due, sent, done in rows]


def clusters(rows, slow_us, gap_us):
    """Clusters of slow requests: (start, end, slow requests, worst latency µs), start/end on the shared time line."""
    return [(g[0][0], max(r[2] for r in g), len(g), max(r[2] - r[0] for r in g)) for g in load_dump.clusters(rows, slow_us, gap_us)]


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--slow-us", type=int, default=1500)
    parser.add_argument("--gap-us", type=int, default=20000)
    parser.add_argument("--overlap-us", type=int, default=5000)
    args = parser.parse_args()
    runs = {args.a: read(args.a), args.b: read(args.b)}
    start = max(min(r[0] for r in rows) for rows in runs.values())
    end = min(max(r[0] for r in rows) for rows in runs.values())
    runs = {name: [r for r in rows if start <= r[0] <= end] for name, rows in runs.items()}   # the common span only
    found = {name: clusters(rows, args.slow_us, args.gap_us) for name, rows in runs.items()}
    names = [args.a, args.b]
    print(f"common span {(end - start) / 1e6:.1f} s; slow from {args.slow_us} µs")
    shared_pairs = []
    for i, name in enumerate(names):
        other = found[names[1 - i]]
        shared, own = [], []
        for c in found[name]:
            match = [o for o in other if o[0] - args.overlap_us <= c[1] and c[0] <= o[1] + args.overlap_us]
            (shared if match else own).append(c)
            if match and i == 0:
                shared_pairs.append((c, max(match, key=lambda o: o[3])))
        latencies = [r[2] - r[0] for r in runs[name]]
        print(f"{name}: {len(latencies)} requests, p50 {percentile(latencies, 0.5) / 1000:.3f} ms, "
              f"p99 {percentile(latencies, 0.99) / 1000:.3f} ms, p99.9 {percentile(latencies, 0.999) / 1000:.3f} ms")
        for label, group in (("shared", shared), ("own", own)):
            if group:
                print(f"  {label:>6}: {len(group):4d} clusters, {sum(c[2] for c in group):5d} slow requests, "
                      f"worst latency median {statistics.median(c[3] for c in group) / 1000:.2f} ms, max {max(c[3] for c in group) / 1000:.2f}")
            else:
                print(f"  {label:>6}:    0 clusters")
    if shared_pairs:
        ratios = [a[3] / b[3] for a, b in shared_pairs]
        sizes = [a[2] / b[2] for a, b in shared_pairs]
        print(f"shared stalls: worst latency {names[0]} / {names[1]} median x{statistics.median(ratios):.2f} "
              f"(higher in {sum(r > 1 for r in ratios)} of {len(ratios)}); slow requests per stall x{statistics.median(sizes):.2f}")


if __name__ == "__main__":
    main()
