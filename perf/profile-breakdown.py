#!/usr/bin/env python3
"""Where the sidecar pair's CPU goes, from a `perf record -g` profile. A sample is charged to idle spinning or to the
GC when any frame of its stack is theirs; otherwise to the component of the innermost frame (leaf first) that matches
a category below, so a row is the time spent in that component's own code and what it calls from the runtime's
generic parts (collections, tasks, locks), not in the components it calls. Proportions of samples stay meaningful on
a loaded machine; absolute times do not.

    perf record -F 999 -g -p PID1,PID2 -o pair.data -- sleep 15     # while load runs through the pair
    perf buildid-cache -a path/to/belizemesh-proxy.dbg              # AOT symbols live in the .dbg beside the binary
    perf script -i pair.data > pair.txt && python3 perf/profile-breakdown.py pair.txt [more.txt ...]
"""
import collections
import re
import sys

from perf_stacks import stacks

# (category, pattern on a frame's symbol); first match over the whole stack wins, in this order.
CATEGORIES = [
    ("thread pool: idle spin/wait", r"LowLevelSpinWaiter|LowLevelLifoSemaphore|Thread__Yield|Thread__SpinWait|PortableThreadPool_GateThread"),
    ("GC", r"^WKS::|^SVR::|GCHeap|gc_heap|RhpNew|RhpGcAlloc|RhAllocate|GcAlloc"),
    ("access log / logging", r"Logging|AccessLog|Console_|JsonConsole"),
    ("metrics", r"Prometheus|ProxyMetrics|ChannelMetrics|Instrument_1<|MeterListener|RecordMeasurement|MetricsHandler|KestrelMetrics|HostingMetrics"),
    ("channel: AES-GCM records", r"AesGcm|EVP_|aesni|gcm_|RecordProtector|RecordLayer"),
    ("channel: pipes/stream", r"PqChannelDuplexPipe|PqChannelStream"),
    ("kernel: TCP send", r"__send$|__sys_sendto|tcp_sendmsg|sock_sendmsg"),
    ("kernel: TCP receive", r"__libc_recv|__sys_recvfrom|tcp_recvmsg|sock_recvmsg"),
    ("kernel: epoll", r"epoll_wait|do_epoll"),
    ("kernel: scheduler/yield", r"sched_yield|futex|schedule$|__schedule"),
    ("YARP", r"^Yarp_"),
    ("HttpClient (SocketsHttpHandler)", r"System_Net_Http_"),
    ("Kestrel", r"Kestrel"),
    ("sidecar handlers", r"belizemesh_proxy_"),
    ("socket engine", r"System_Net_Sockets_"),
    ("thread pool dispatch", r"ThreadPoolWorkQueue__Dispatch|ExecutionContext__Run|AsyncStateMachineBox|Task_1<.*>__TrySetResult|Task__RunContinuations"),
    ("pipelines", r"System_IO_Pipelines"),
]
INCLUSIVE = {"thread pool: idle spin/wait", "GC"}
DISPATCH = re.compile(r"ThreadPoolWorkQueue__Dispatch|SocketAsyncEngine__EventLoop|IThreadPoolWorkItem_Execute")
COMPILED = [(name, re.compile(p)) for name, p in CATEGORIES]


def main():
    for path in sys.argv[1:]:
        counts = collections.Counter()
        total = 0
        for stack in stacks(path):
            total += 1
            working = any(DISPATCH.search(s) for s in stack)
            charged = None
            for name, pattern in COMPILED:
                if name in INCLUSIVE and not (name.startswith("thread pool: idle") and working) and any(pattern.search(s) for s in stack):
                    charged = name
                    break
            if charged is None:
                for frame in stack:
                    charged = next((name for name, pattern in COMPILED if name not in INCLUSIVE and pattern.search(frame)), None)
                    if charged:
                        break
            counts[charged or "other"] += 1
        print(f"{path}: {total} samples")
        for name, _ in sorted(CATEGORIES + [("other", None)], key=lambda c: -counts[c[0]]):
            print(f"  {name:34} {100.0 * counts[name] / max(total, 1):5.1f}%")


if __name__ == "__main__":
    main()
