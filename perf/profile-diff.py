#!/usr/bin/env python3
"""Function-level difference between two `perf record -g` profiles of the same workload (e.g. a change and its base).

    python3 perf/profile-diff.py A.txt B.txt [--top 45] [--match REGEX]

A.txt and B.txt are `perf script` output (see profile-breakdown.py for how to record them). Each sample is charged to
the innermost frame that belongs to a managed component (the sidecar, Kestrel, YARP, System.Net, System.IO.Pipelines,
the PQ channel): that function's own work plus the runtime helpers it calls directly (locks, casts, interface
dispatch, allocation). Samples with no such frame (the kernel, the runtime's own threads) are charged to their leaf,
marked "(no component)". Prints the share of each function in A and in B and the difference, largest differences
first: where a change moved the time, which profile-breakdown.py's categories only show in bulk. Shares, not times:
compare profiles taken at the same load (or both saturated), and read differences below ~0.2 points as noise.
--match keeps only the functions whose name matches REGEX.
"""
import argparse
import collections
import re

from perf_stacks import stacks

COMPONENT = re.compile(r"(belizemesh_proxy_|BelizeMesh_|Microsoft_AspNetCore|Yarp_|System_Net_|System_IO_Pipelines)")


def load(path):
    counts = collections.Counter()
    total = 0
    for stack in stacks(path):
        total += 1
        for symbol in stack:
            if COMPONENT.match(symbol):
                counts[symbol] += 1
                break
        else:
            counts["(no component) " + stack[0]] += 1
    return counts, total


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--top", type=int, default=45)
    parser.add_argument("--match")
    args = parser.parse_args()
    a, total_a = load(args.a)
    b, total_b = load(args.b)
    if total_a == 0 or total_b == 0:
        raise SystemExit("a profile has no samples")
    keys = set(a) | set(b)
    if args.match:
        pattern = re.compile(args.match)
        keys = {k for k in keys if pattern.search(k)}
    rows = sorted(keys, key=lambda k: -abs(a[k] / total_a - b[k] / total_b))
    print(f"A: {args.a} ({total_a} samples)   B: {args.b} ({total_b} samples)")
    print(f"{'A %':>7} {'B %':>7} {'A-B':>7}  function (innermost component frame)")
    for k in rows[: args.top]:
        share_a = 100 * a[k] / total_a
        share_b = 100 * b[k] / total_b
        print(f"{share_a:7.2f} {share_b:7.2f} {share_a - share_b:+7.2f}  {k[:140]}")


if __name__ == "__main__":
    main()
