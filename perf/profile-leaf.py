#!/usr/bin/env python3
"""Where the sampled CPU was spent, by the sampled (leaf) function's binary: kernel, the sidecar's executable, libc,
nginx, libcrypto... for one or more `perf script` text files side by side, each normalised to its work (samples per
request when -n gives the requests each profile covered).

    python3 perf/profile-leaf.py PQ.txt NGINX.txt [-n 79170 -n 83160] [--top 15]

Used to split two proxies' CPU into kernel and user-space work (perf/README.md "data path, session 24": with both pairs
profiled at once, their kernel samples per request were equal and the whole gap was user-space code). Split a profile
of several processes with `perf script -i perf.data --pid P1,P2 > part.txt`.
"""
import argparse
import collections
import os
import re

from perf_stacks import blocks, frames

LEAF = re.compile(r"^\s*[0-9a-f]+\s+(.*?)\s+\((.*)\)$")


def leaves(path):
    """(binary, function) of every sample's leaf frame."""
    for block in blocks(path):
        lines = block.split("\n")
        if len(lines) < 2:
            continue
        match = LEAF.match(lines[1])
        if not match:
            continue
        function = next(frames(block), match.group(1))
        yield os.path.basename(match.group(2)), function


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profiles", nargs="+")
    parser.add_argument("-n", type=int, action="append", default=[], help="requests the profile covers (once per profile)")
    parser.add_argument("--top", type=int, default=10, help="leaf functions listed per profile")
    args = parser.parse_args()
    if args.n and len(args.n) != len(args.profiles):
        raise SystemExit("give -n once per profile, or not at all")
    for i, path in enumerate(args.profiles):
        binaries, functions = collections.Counter(), collections.Counter()
        for binary, function in leaves(path):
            binaries[binary] += 1
            functions[function] += 1
        total = sum(binaries.values())
        per = f", {total / args.n[i] * 1000:.1f} samples per 1,000 requests" if args.n else ""
        print(f"{path}: {total} samples{per}")
        for binary, count in binaries.most_common():
            scaled = f"  {count / args.n[i] * 1000:8.1f} per 1,000 requests" if args.n else ""
            print(f"  {100 * count / total:5.1f}%  {count:7d}{scaled}  {binary}")
        for function, count in functions.most_common(args.top):
            print(f"      {100 * count / total:5.1f}%  {function[:120]}")


if __name__ == "__main__":
    main()
