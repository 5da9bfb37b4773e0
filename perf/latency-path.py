#!/usr/bin/env python3
"""Where a request's time goes on its way through a proxy pair at a fixed rate: per-hop latency from system calls.

    python3 perf/latency-path.py [--rounds 3] [--rate 1000] [-d 6] [-c 32] [--warmup 20000]
                                 [--scenario belizemesh-pq] NAME=PROXY[:ENV=VALUE,...] ...

Holds one pair per build as rate-cpu.py does (`compare --hold`, same NAME=PROXY[:ENV=VALUE,...] syntax, and the pseudo
setting SCENARIO=S, e.g. nginx=-:SCENARIO=nginx-tls for the nginx pair in the same run). Each round runs the harness's
open-loop load through one pair after the other and records, with `perf record -e syscalls:...` on the load
generator (L), the two proxies (O: the one the load enters, I: the one in front of the app) and the app (A), when
each process sends (entry of sendto/write/writev/sendmsg) and when it receives data (exit of
recvfrom/read/readv/recvmsg with a positive count). A request alone in the pipeline (no other request sent before it
came back) leaves the chain

    L send → O recv → O send → I recv → I send → A recv → A send → I recv → I send → O recv → O send → L recv

and its segments are: a process's own time from receiving to sending on ("O req", "I req", "I resp", "O resp", "A":
parsing, routing, crypto, its system calls, and any time it waited for a core), and the hand-overs between processes
("L→O", "O→I", …: the sender's send system call, loopback delivery, waking the receiver's thread and its getting to
its receive). Prints p50/p90/p99 of each segment per build (median over rounds), the sums over the pair's
processing and hand-over segments, and the mean split of the slowest 1% of requests: which segment holds the tail.
Requests that overlapped another are left out (at 1,000 req/s, a few per cent).

Needs perf with the syscalls tracepoints (root, or perf_event_paranoid ≤ 1 and tracefs readable).
Build the harness first: dotnet build -c Release perf/BelizeMesh.Perf
"""
import argparse
import collections
import importlib.util
import os
import re
import statistics
import subprocess
import tempfile
import time

_spec = importlib.util.spec_from_file_location("ab_cpu", os.path.join(os.path.dirname(os.path.abspath(__file__)), "ab-cpu.py"))
ab_cpu = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ab_cpu)

EVENTS = ",".join(f"syscalls:sys_enter_{s}" for s in ("sendto", "write", "writev", "sendmsg")) + "," + \
         ",".join(f"syscalls:sys_exit_{s}" for s in ("recvfrom", "read", "readv", "recvmsg"))
STEPS = [("L", "send"), ("O", "recv"), ("O", "send"), ("I", "recv"), ("I", "send"), ("A", "recv"), ("A", "send"),
         ("I", "recv"), ("I", "send"), ("O", "recv"), ("O", "send"), ("L", "recv")]
SEGMENTS = ["L→O", "O req", "O→I", "I req", "I→A", "A", "A→I", "I resp", "I→O", "O resp", "O→L"]
PROCESSING = ("O req", "I req", "I resp", "O resp")
HANDOVERS = ("O→I", "I→O")
LINE = re.compile(r"^\s*(?:\S.*?\s+)?(\d+)/(\d+)\s+([\d.]+):\s+syscalls:sys_(enter|exit)_(\w+):\s*(\S*)")


def parent(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def children(pid):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if parent(int(entry)) == pid:
                    found.append(int(entry))
            except (FileNotFoundError, ProcessLookupError, IndexError):
                pass
    return found


def app_pid(pair):
    for pid in children(pair.process.pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"\0app\0" in f.read():
                    return pid
        except FileNotFoundError:
            pass
    raise SystemExit(f"{pair.name}: the app process of the scenario was not found")


def instances(pair):
    """The pair's proxy processes grouped per instance (nginx: a master and its workers): {pid: group index}."""
    groups = {}
    for pid in pair.pids:
        top = pid
        while (p := parent(top)) != pair.process.pid and p > 1:
            top = p
        groups.setdefault(top, []).append(pid)
    return {pid: i for i, members in enumerate(groups.values()) for pid in members}


def record(pair, app, groups, args):
    """One open-loop run under perf: the list of (time, process, 'send'|'recv') and the load generator's summary."""
    load = subprocess.Popen(["dotnet", ab_cpu.HARNESS, "load", "--target", pair.target, "--host", pair.host,
                             "-c", str(args.c), "--rate", str(args.rate), "-d", str(args.d)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(1.0)  # connected and sending
    pids = [load.pid, app] + list(groups)
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "perf.data")
        recorded = subprocess.run(["perf", "record", "-q", "-e", EVENTS, "-p", ",".join(map(str, pids)), "-o", data,
                                   "--", "sleep", str(max(1.0, args.d - 2))], capture_output=True, text=True)
        if recorded.returncode != 0:
            load.communicate()
            return [], f"perf record failed ({recorded.returncode}): {recorded.stderr.strip()[-300:]}"

        script = subprocess.run(["perf", "script", "-i", data, "-F", "pid,tid,time,event,trace"],
                                capture_output=True, text=True).stdout
    out = load.communicate()[0]
    roles = {load.pid: "L", app: "A"}
    events = []
    for line in script.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        pid = int(m.group(1))
        if m.group(4) == "exit":
            value = int(m.group(6), 16)
            if value >= 1 << 63 or value == 0:
                continue  # an error (EAGAIN) or end of stream: no data
            kind = "recv"
        else:
            kind = "send"
        who = roles.get(pid) or (f"P{groups[pid]}" if pid in groups else None)
        if who:
            events.append((float(m.group(3)), who, kind))
    events.sort()
    return events, out


def chains(events):
    """Whole request chains (lists of 12 timestamps), with the proxy instance the load enters found first."""
    first = collections.Counter()
    waiting = False
    for _, who, kind in events:
        if (who, kind) == ("L", "send"):
            waiting = True
        elif waiting and who.startswith("P") and kind == "recv":
            first[who] += 1
            waiting = False
    if not first:
        return []
    outer = first.most_common(1)[0][0]
    role = {"L": "L", "A": "A", outer: "O"}
    found, current = [], None
    for t, who, kind in events:
        step = (role.get(who, "I" if who.startswith("P") else who), kind)
        if step == ("L", "send"):
            current = [t]  # a send before the last chain finished: that one overlapped, drop it
            continue
        if current is not None and step == STEPS[len(current)]:
            current.append(t)
            if len(current) == len(STEPS):
                found.append(current)
                current = None
    return found


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def summarize(found):
    figures = {}
    for i, name in enumerate(SEGMENTS):
        values = [(c[i + 1] - c[i]) * 1e6 for c in found]
        figures[name] = {p: percentile(values, p) for p in (50, 90, 99)}
    for name, parts in (("pair processing", PROCESSING), ("pair hand-overs", HANDOVERS)):
        idx = [SEGMENTS.index(s) for s in parts]
        values = [sum((c[i + 1] - c[i]) * 1e6 for i in idx) for c in found]
        figures[name] = {p: percentile(values, p) for p in (50, 90, 99)}
    values = [(c[-1] - c[0]) * 1e6 for c in found]
    figures["total"] = {p: percentile(values, p) for p in (50, 90, 99)}
    slow = sorted(found, key=lambda c: c[-1] - c[0])[-max(1, len(found) // 100):]
    figures["slowest 1%"] = {name: statistics.mean((c[i + 1] - c[i]) * 1e6 for c in slow) for i, name in enumerate(SEGMENTS)}
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("builds", nargs="+", help="NAME=PATH[:ENV=VALUE,...] of a belizemesh-proxy executable")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("-d", type=float, default=6)
    parser.add_argument("-c", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=20000)
    parser.add_argument("--scenario", default="belizemesh-pq")
    parser.add_argument("--access-log", action="store_true")
    args = parser.parse_args()
    args.h2 = False
    if not os.path.exists(ab_cpu.HARNESS):
        raise SystemExit(f"{ab_cpu.HARNESS} not found: dotnet build -c Release perf/BelizeMesh.Perf")
    pairs = []
    try:
        for spec in args.builds:
            name, _, rest = spec.partition("=")
            path, _, env = rest.partition(":")
            settings = [e for e in env.split(",") if e]
            scenarios = [e.partition("=")[2] for e in settings if e.startswith("SCENARIO=")]
            pair_args = argparse.Namespace(**{**vars(args), "scenario": scenarios[-1]}) if scenarios else args
            pairs.append(ab_cpu.Pair(name, path, [e for e in settings if not e.startswith("SCENARIO=")], pair_args))
        setup = {p.name: (app_pid(p), instances(p)) for p in pairs}
        for pair in pairs:
            pair.load(args.warmup, argparse.Namespace(c=64, h2=False))
        with open("/proc/loadavg") as f:
            print(f"load average at start: {f.read().split()[0]}; {args.rounds} rounds at {args.rate} req/s, -c {args.c}, "
                  f"{args.d:g} s each (perf records {max(1.0, args.d - 2):g} s)", flush=True)
        results = {p.name: [] for p in pairs}
        for r in range(args.rounds):
            order = pairs[r % len(pairs):] + pairs[:r % len(pairs)]
            for pair in order:
                app, groups = setup[pair.name]
                events, out = record(pair, app, groups, args)
                found = chains(events)
                if len(found) < 100:
                    print(f"round {r + 1} {pair.name}: only {len(found)} whole chains; load generator said: {out.strip()}")
                    continue
                figures = summarize(found)
                results[pair.name].append(figures)
                latency = re.search(r"p50 ([0-9.]+) .*p99 ([0-9.]+) ", out)
                print(f"round {r + 1} {pair.name}: {len(found)} chains; total p50 {figures['total'][50]:.0f} p99 {figures['total'][99]:.0f} µs; "
                      f"pair processing p50 {figures['pair processing'][50]:.0f} p99 {figures['pair processing'][99]:.0f} µs"
                      + (f"; load generator p50 {latency.group(1)} p99 {latency.group(2)} ms" if latency else ""), flush=True)
        with open("/proc/loadavg") as f:
            print(f"load average at end: {f.read().split()[0]}")
        names = [p.name for p in pairs if results[p.name]]
        rows = SEGMENTS + ["pair processing", "pair hand-overs", "total"]
        print("\nmedian over rounds, µs: " + " | ".join(f"{n} p50/p90/p99" for n in names))
        for row in rows:
            cells = []
            for n in names:
                cells.append("/".join(f"{statistics.median(f[row][p] for f in results[n]):.0f}" for p in (50, 90, 99)))
            print(f"  {row:16} " + " | ".join(f"{c:>16}" for c in cells))
        print("slowest 1% of requests, mean µs per segment (median over rounds):")
        for n in names:
            print(f"  {n:12} " + ", ".join(f"{s} {statistics.median(f['slowest 1%'][s] for f in results[n]):.0f}" for s in SEGMENTS))
    finally:
        for pair in pairs:
            pair.stop()


if __name__ == "__main__":
    main()
