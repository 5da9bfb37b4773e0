#!/usr/bin/env python3
"""CPU time per request of two or more sidecar builds, measured alternately on the same machine.

    python3 perf/ab-cpu.py [--rounds 7] [--requests 40000] [--warmup 20000] [-c 64] [--h2]
                           [--scenario belizemesh-pq] [--access-log] NAME=PROXY[:ENV=VALUE,...] NAME=PROXY ...

ENV=VALUE pairs are the sidecars' environment (e.g. DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=70); the pseudo
setting ACCESS_LOG=1 turns the access log on for that pair only (--access-log: for every pair), H2_UPGRADE=P sets the
frontend's spec.outbound.h2UpgradePolicy to P (DO_NOT_UPGRADE or UPGRADE) for that pair, and SCENARIO=S holds
that pair in scenario S instead of --scenario (e.g. plain=PROXY:SCENARIO=belizemesh-plain, or nginx=PROXY:SCENARIO=nginx-tls,
whose CPU is then nginx's processes'; the harness wants an existing proxy path even there), so pairs of different
scenarios alternate in one run.

Every build gets its own pair of sidecars (`compare --hold SCENARIO --proxy PROXY`, each with its own app), all
started at once and left running. Each round sends the same closed-loop load (`load -n REQUESTS`) through one pair
after the other (the order rotates every round) and reads utime+stime of that pair's two sidecar processes from
/proc before and after: CPU ms per 1,000 requests. Only the sidecars are counted (not the load generator or the app),
so the figure survives a busy machine far better than req/s does; it still is a loaded-machine figure when the
machine is shared. Prints every round, then each build against the first round by round (round_ratios: the median
per-round ratio, rounds lower, sign-test p, 90% bootstrap interval), then the median per build and its ratio to the
first build.

Build the harness first: dotnet build -c Release perf/BelizeMesh.Perf
"""
import argparse
import math
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HARNESS = os.path.join(ROOT, "perf", "BelizeMesh.Perf", "bin", "Release", "net10.0", "BelizeMesh.Perf.dll")
TICK = os.sysconf("SC_CLK_TCK")


def round_ratios(new, base):
    """How NEW compares with BASE round by round (two lists of per-round figures, lower is better): the median of the
    per-round ratios, how many rounds NEW was lower, the two-sided sign-test p-value of that count (how often a
    coin would split the rounds at least as unevenly), and a 90% bootstrap interval of the median ratio. On this VM
    a change below ~3% needs many rounds before the interval excludes 1.0: say so rather than quote the median."""
    ratios = [n / b for n, b in zip(new, base) if b]
    if not ratios:
        return "no rounds"
    rounds = len(ratios)
    lower = sum(1 for r in ratios if r < 1)
    higher = sum(1 for r in ratios if r > 1)
    decided = lower + higher
    tail = min(lower, higher)
    p = min(1.0, 2 * sum(math.comb(decided, k) for k in range(tail + 1)) / 2 ** decided) if decided else 1.0
    rng = random.Random(20261206)
    medians = sorted(statistics.median(rng.choices(ratios, k=rounds)) for _ in range(2000))
    low, high = medians[int(0.05 * len(medians))], medians[int(0.95 * len(medians)) - 1]
    return (f"x{statistics.median(ratios):.3f} per round (lower in {lower} of {rounds}; sign test p={p:.2f}; "
            f"90% interval of the median x{low:.3f}-x{high:.3f})")


def cpu_ticks(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total


def rss_kib(pids, field="VmRSS:"):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field):
                    total += int(line.split()[1])
    return total


class Pair:
    def __init__(self, name, proxy, env, args):
        self.name = name
        command = ["dotnet", HARNESS, "compare", "--hold", args.scenario, "--proxy", proxy]
        if args.access_log or "ACCESS_LOG=1" in env:
            command.append("--access-log")
        for setting in (e for e in env if e.startswith("H2_UPGRADE=")):
            command += ["--h2-upgrade", setting.partition("=")[2]]
        for setting in (e for e in env if e != "ACCESS_LOG=1" and not e.startswith("H2_UPGRADE=")):
            command += ["--proxy-env", setting]
        # SIGINT stops the harness cleanly (it stops the app and the sidecars); a shell's background job inherits it
        # ignored, so reset it for the child.
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                                        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        self.target = self.host = None
        self.pids = []
        deadline = time.time() + 120
        while time.time() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise SystemExit(f"{name}: the harness exited before the scenario was ready")
            if m := re.search(r"-H 'Host: ([^']+)' http://([0-9.:]+)/", line):
                self.host, self.target = m.group(1), m.group(2)
            if m := re.search(r"proxy processes: ([0-9 ]+);", line):
                self.pids = [int(p) for p in m.group(1).split()]
            if "Ctrl+C" in line:
                break
        if not self.pids:
            raise SystemExit(f"{name}: no proxy processes reported")

    def start_load(self, requests, args):
        command = ["dotnet", HARNESS, "load", "--target", self.target, "--host", self.host, "-c", str(args.c), "-n", str(requests)]
        if args.h2:
            command.append("--h2")
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def finish_load(self, process):
        out = process.communicate()[0]
        if process.returncode != 0:
            raise SystemExit(f"{self.name}: the load generator failed:\n{out}")
        return self.parse(out)

    def load(self, requests, args):
        return self.finish_load(self.start_load(requests, args))

    def parse(self, out):
        m = re.search(r"([0-9,]+) req/s, ([0-9,]+) requests, ([0-9,]+) errors", out)
        if not m:
            raise SystemExit(f"{self.name}: cannot read the load generator's output:\n{out}")
        return float(m.group(1).replace(",", "")), int(m.group(2).replace(",", "")), int(m.group(3).replace(",", ""))

    def stop(self):
        try:
            os.killpg(self.process.pid, signal.SIGINT)
            self.process.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.process.pid, signal.SIGKILL)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("builds", nargs="+", help="NAME=PATH[:ENV=VALUE,...] of a belizemesh-proxy executable")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=40000)
    parser.add_argument("--warmup", type=int, default=20000)
    parser.add_argument("-c", type=int, default=64)
    parser.add_argument("--h2", action="store_true")
    parser.add_argument("--scenario", default="belizemesh-pq")
    parser.add_argument("--access-log", action="store_true")
    parser.add_argument("--together", action="store_true",
                        help="load every pair at the same time each round (each its own load generator) instead of one after the other: "
                             "both builds then share the machine's load of the moment, which steadies the ratio on a busy machine")
    args = parser.parse_args()
    if not os.path.exists(HARNESS):
        raise SystemExit(f"{HARNESS} not found: dotnet build -c Release perf/BelizeMesh.Perf")

    pairs = []
    try:
        for spec in args.builds:
            name, _, rest = spec.partition("=")
            path, _, env = rest.partition(":")
            settings = [e for e in env.split(",") if e]
            scenarios = [e.partition("=")[2] for e in settings if e.startswith("SCENARIO=")]
            pair_args = argparse.Namespace(**{**vars(args), "scenario": scenarios[-1]}) if scenarios else args
            pairs.append(Pair(name, path, [e for e in settings if not e.startswith("SCENARIO=")], pair_args))
        for pair in pairs:
            pair.load(args.warmup, args)
        results = {p.name: [] for p in pairs}
        rates = {p.name: [] for p in pairs}
        with open("/proc/loadavg") as f:
            print(f"load average at start: {f.read().split()[0]}; {args.rounds} rounds x {args.requests} requests, -c {args.c}{' h2' if args.h2 else ''}, access log {'on' if args.access_log else 'off'}")
        for r in range(args.rounds):
            order = pairs[r % len(pairs):] + pairs[:r % len(pairs)]
            line = []
            if args.together:
                before = {pair.name: cpu_ticks(pair.pids) for pair in order}
                running = [(pair, pair.start_load(args.requests, args)) for pair in order]
                for pair, process in running:
                    rate, done, errors = pair.finish_load(process)
                    ms_per_1k = (cpu_ticks(pair.pids) - before[pair.name]) * 1000.0 / TICK / done * 1000.0
                    results[pair.name].append(ms_per_1k)
                    rates[pair.name].append(rate)
                    line.append(f"{pair.name} {ms_per_1k:7.1f} ms/1k {rate:8,.0f} req/s" + (f" {errors} errors" if errors else ""))
                print(f"round {r + 1}: " + " | ".join(line), flush=True)
                continue
            for pair in order:
                before = cpu_ticks(pair.pids)
                rate, done, errors = pair.load(args.requests, args)
                spent = cpu_ticks(pair.pids) - before
                ms_per_1k = spent * 1000.0 / TICK / done * 1000.0
                results[pair.name].append(ms_per_1k)
                rates[pair.name].append(rate)
                line.append(f"{pair.name} {ms_per_1k:7.1f} ms/1k {rate:8,.0f} req/s" + (f" {errors} errors" if errors else ""))
            print(f"round {r + 1}: " + " | ".join(line), flush=True)
        with open("/proc/loadavg") as f:
            print(f"load average at end: {f.read().split()[0]}")
        for pair in pairs[1:]:
            print(f"{pair.name}/{pairs[0].name}: {round_ratios(results[pair.name], results[pairs[0].name])}")
        base = statistics.median(results[pairs[0].name])
        for pair in pairs:
            median = statistics.median(results[pair.name])
            print(f"{pair.name:>12}: CPU {median:7.1f} ms per 1,000 requests (median of {args.rounds}; range {min(results[pair.name]):.1f}-{max(results[pair.name]):.1f}), "
                  f"x{median / base:.3f} of {pairs[0].name}; {statistics.median(rates[pair.name]):,.0f} req/s (noise); RSS {rss_kib(pair.pids) / 1024:.1f} MiB (peak {rss_kib(pair.pids, 'VmHWM:') / 1024:.1f}) of the two")
    finally:
        for pair in pairs:
            pair.stop()


if __name__ == "__main__":
    main()
