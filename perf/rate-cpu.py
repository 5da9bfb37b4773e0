#!/usr/bin/env python3
"""CPU, context switches and latency per request of two or more sidecar builds at a fixed request rate, alternated.

    python3 perf/rate-cpu.py [--rounds 5] [--rate 1000] [-d 8] [-c 32] [--warmup 20000] [--h2]
                             [--scenario belizemesh-pq] [--access-log] [--no-perf] [--events EVENT,...]
                             NAME=PROXY[:ENV=VALUE,...] ...

The fixed-rate companion of ab-cpu.py (same pairs: `compare --hold SCENARIO --proxy PROXY`, one per build, all
started at once, same NAME=PROXY[:ENV=VALUE,...] syntax; the pseudo setting SCENARIO=S holds that pair in scenario S instead of --scenario, e.g.
nginx=/tmp/new/belizemesh-proxy:SCENARIO=nginx-tls for the nginx pair in the same run; the harness wants an existing
proxy path even there). Each round sends an open-loop load (`load --rate R -d S
-c C`) through one pair after the other (the order rotates every round) and reports per request, for that pair's
two sidecar processes:

- CPU µs: perf's task-clock when perf is usable, else utime+stime from /proc (10 ms ticks);
- context switches: perf's context-switches, else the sum of voluntary+nonvoluntary switches over
  /proc/PID/task/*/status (threads that exit during the round are missed: a lower bound);
- futex calls (syscalls:sys_enter_futex; only with perf);
- the runtime's garbage collections and their total pause per 1,000 requests, from the sidecars' /metrics
  (`dotnet_gc_collections_total`, `dotnet_gc_pause_time_seconds_total`; found on the ports the processes listen on;
  not for nginx);
- the load generator's p50 and p99 (from each request's intended send time);
- and, with --events (perf only), each further perf event per request, e.g. system calls:
  --events raw_syscalls:sys_enter,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto

A rate well below the pair's capacity measures what a request costs when the sidecar is mostly idle between requests
(thread wake-ups, hops between threads), which a closed-loop run at saturation hides. Prints every round, then the
median per build and the ratio of each median to the first build's, then each build's CPU and p99 against the first
round by round (ab-cpu.py's round_ratios: rounds lower, sign-test p, 90% bootstrap interval of the median ratio).

Build the harness first: dotnet build -c Release perf/BelizeMesh.Perf
"""
import argparse
import glob
import importlib.util
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import urllib.request

_spec = importlib.util.spec_from_file_location("ab_cpu", os.path.join(os.path.dirname(os.path.abspath(__file__)), "ab-cpu.py"))
ab_cpu = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ab_cpu)

METRICS = ("cpu_us", "ctx", "futex", "p50", "p99", "gcs", "gc_pause")
RUNTIME = re.compile(r"^(dotnet_gc_collections_total|dotnet_gc_pause_time_seconds_total)(?:\{[^}]*\})? ([0-9.e+-]+)$", re.M)


def listening_ports(pid):
    """TCP ports PID listens on (127.0.0.1), from /proc: the sidecar's admin port is among them."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return []
    ports = []
    with open(f"/proc/{pid}/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                ports.append(int(fields[1].split(":")[1], 16))
    return ports


def metrics_urls(pids):
    """The /metrics URL of each .NET sidecar among PIDS that exports the runtime's GC counters (none for nginx)."""
    urls = []
    for pid in pids:
        for port in listening_ports(pid):
            url = f"http://127.0.0.1:{port}/metrics"
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if b"dotnet_gc_collections_total" in response.read():
                        urls.append(url)
                        break
            except (OSError, ValueError):
                continue
    return urls


def gc_counters(urls):
    """(collections, pause seconds) summed over URLS; None when there are none."""
    if not urls:
        return None
    collections = pause = 0.0
    for url in urls:
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        for name, value in RUNTIME.findall(text):
            if name == "dotnet_gc_collections_total":
                collections += float(value)
            else:
                pause += float(value)
    return collections, pause


def context_switches(pids):
    total = 0
    for pid in pids:
        for status in glob.glob(f"/proc/{pid}/task/*/status"):
            try:
                with open(status) as f:
                    for line in f:
                        if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                            total += int(line.split()[1])
            except (FileNotFoundError, ProcessLookupError):
                pass  # the thread exited between the listing and the read
    return total


def perf_usable():
    if not shutil.which("perf"):
        return False
    probe = subprocess.run(["perf", "stat", "-x,", "-e", "context-switches,task-clock,syscalls:sys_enter_futex", "--", "true"],
                           capture_output=True, text=True)
    return probe.returncode == 0 and "not supported" not in probe.stderr and "<not counted>" not in probe.stderr


def load_command(pair, args):
    command = ["dotnet", ab_cpu.HARNESS, "load", "--target", pair.target, "--host", pair.host,
               "-c", str(args.c), "--rate", str(args.rate), "-d", str(args.d)]
    if args.h2:
        command.append("--h2")
    return command


def measure(pair, args, use_perf):
    """One fixed-rate run through PAIR: a dict of the per-request figures."""
    if not hasattr(pair, "metrics_urls"):
        pair.metrics_urls = metrics_urls(pair.pids)
    gc_before = gc_counters(pair.metrics_urls)
    ticks_before = ab_cpu.cpu_ticks(pair.pids)
    ctx_before = context_switches(pair.pids)
    counters = {}
    if use_perf:
        with tempfile.NamedTemporaryFile("r", suffix=".perf") as stat:
            events = "context-switches,task-clock,syscalls:sys_enter_futex" + "".join("," + e for e in args.events)
            command = ["perf", "stat", "-x,", "-e", events,
                       "-p", ",".join(str(p) for p in pair.pids), "-o", stat.name, "--"] + load_command(pair, args)
            run = subprocess.run(command, capture_output=True, text=True)
            for line in stat.read().splitlines():
                fields = line.split(",")
                if len(fields) > 2 and fields[0] and fields[0][0].isdigit():
                    counters[fields[2]] = float(fields[0])
    else:
        run = subprocess.run(load_command(pair, args), capture_output=True, text=True)
    ticks = ab_cpu.cpu_ticks(pair.pids) - ticks_before
    gc_after = gc_counters(pair.metrics_urls)
    ctx = context_switches(pair.pids) - ctx_before
    out = run.stdout + run.stderr
    if run.returncode != 0:
        raise SystemExit(f"{pair.name}: the load generator failed:\n{out}")
    _, done, errors = pair.parse(out)
    latency = re.search(r"p50 ([0-9.]+) .*p99 ([0-9.]+) ", out)
    if not latency or done == 0:
        raise SystemExit(f"{pair.name}: cannot read the load generator's output:\n{out}")
    figures = {
        "cpu_us": (counters["task-clock"] * 1000.0 if "task-clock" in counters else ticks * 1e6 / ab_cpu.TICK) / done,
        "ctx": counters.get("context-switches", ctx) / done,
        "futex": counters["syscalls:sys_enter_futex"] / done if "syscalls:sys_enter_futex" in counters else None,
        "p50": float(latency.group(1)),
        "p99": float(latency.group(2)),
        "errors": errors,
        # the runtime's collections and total pause of the two sidecars per 1,000 requests (scraped from /metrics
        # before and after; the scrape's own allocation is a few KB)
        "gcs": (gc_after[0] - gc_before[0]) * 1000.0 / done if gc_before else None,
        "gc_pause": (gc_after[1] - gc_before[1]) * 1e6 / done if gc_before else None,
    }
    # --events: each extra perf event per request, under its short name (syscalls:sys_enter_recvfrom -> recvfrom)
    for event in args.events:
        figures[short_event(event)] = counters[event] / done if event in counters else None
    return figures


def short_event(event):
    return event.split(":")[-1].removeprefix("sys_enter_")


def describe(f):
    futex = f"{f['futex']:5.1f}" if f["futex"] is not None else "    -"
    gc = (f" gc {f['gcs']:4.2f}/1k {f['gc_pause']:5.2f} ms/1k" if f.get("gcs") is not None else "")
    return (f"{f['cpu_us']:6.0f} µs/req ctx {f['ctx']:5.1f} futex {futex} p50 {f['p50']:.3f} p99 {f['p99']:.3f} ms{gc}"
            + "".join(f" {k} {f[k]:.2f}" for k in f.get("extra", ()) if f.get(k) is not None)
            + (f" {f['errors']} errors" if f["errors"] else ""))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("builds", nargs="+", help="NAME=PATH[:ENV=VALUE,...] of a belizemesh-proxy executable")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("-d", type=float, default=8)
    parser.add_argument("-c", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=20000, help="closed-loop requests through each pair before the rounds")
    parser.add_argument("--h2", action="store_true")
    parser.add_argument("--scenario", default="belizemesh-pq")
    parser.add_argument("--access-log", action="store_true")
    parser.add_argument("--no-perf", action="store_true", help="count from /proc only, even when perf is usable")
    parser.add_argument("--events", default="", help="further perf events to count per request, comma-separated "
                        "(e.g. syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto,raw_syscalls:sys_enter)")
    args = parser.parse_args()
    args.events = [e for e in args.events.split(",") if e]
    extra = tuple(short_event(e) for e in args.events)
    if not os.path.exists(ab_cpu.HARNESS):
        raise SystemExit(f"{ab_cpu.HARNESS} not found: dotnet build -c Release perf/BelizeMesh.Perf")
    use_perf = not args.no_perf and perf_usable()

    pairs = []
    try:
        for spec in args.builds:
            name, _, rest = spec.partition("=")
            path, _, env = rest.partition(":")
            settings = [e for e in env.split(",") if e]
            # SCENARIO=S (a pseudo setting) holds this pair in scenario S instead of --scenario, so that e.g. the
            # nginx pair is measured in the same run: nginx=-:SCENARIO=nginx-tls
            scenarios = [e.partition("=")[2] for e in settings if e.startswith("SCENARIO=")]
            pair_args = argparse.Namespace(**{**vars(args), "scenario": scenarios[-1]}) if scenarios else args
            pairs.append(ab_cpu.Pair(name, path, [e for e in settings if not e.startswith("SCENARIO=")], pair_args))
        for pair in pairs:
            pair.load(args.warmup, argparse.Namespace(c=64, h2=args.h2))
        results = {p.name: [] for p in pairs}
        with open("/proc/loadavg") as f:
            print(f"load average at start: {f.read().split()[0]}; {args.rounds} rounds at {args.rate} req/s for {args.d:g} s, -c {args.c}"
                  f"{' h2' if args.h2 else ''}, {args.scenario}, access log {'on' if args.access_log else 'off'}, "
                  f"counters from {'perf stat' if use_perf else '/proc'}", flush=True)
        for r in range(args.rounds):
            order = pairs[r % len(pairs):] + pairs[:r % len(pairs)]
            line = []
            for pair in order:
                figures = measure(pair, args, use_perf)
                figures["extra"] = extra
                results[pair.name].append(figures)
                line.append(f"{pair.name} {describe(figures)}")
            print(f"round {r + 1}: " + " | ".join(line), flush=True)
        with open("/proc/loadavg") as f:
            print(f"load average at end: {f.read().split()[0]}")

        def median(name, metric):
            values = [f[metric] for f in results[name] if f[metric] is not None]
            return statistics.median(values) if values else None

        base = pairs[0].name
        for pair in pairs:
            medians = {m: median(pair.name, m) for m in METRICS + extra}
            ratios = ", ".join(f"{m} x{medians[m] / median(base, m):.2f}" for m in METRICS
                               if medians[m] is not None and median(base, m))
            print(f"{pair.name:>12}: median of {args.rounds}: {describe({**medians, 'errors': 0, 'extra': extra})}"
                  + (f"  ({ratios} of {base})" if pair.name != base else ""))
        for pair in pairs[1:]:
            for metric in ("cpu_us", "p99"):
                print(f"{pair.name}/{base} {metric}: "
                      + ab_cpu.round_ratios([f[metric] for f in results[pair.name]], [f[metric] for f in results[base]]))
    finally:
        for pair in pairs:
            pair.stop()


if __name__ == "__main__":
    main()
