"""The open-loop request dumps of the harness's load generator (BELIZEMESH_LOAD_DUMP=FILE, LoadGenerator's
RequestDump): reading one, and grouping its slow requests into clusters; shared by stall-clusters.py and
stall-pairs.py."""


def read(path):
    """(origin, rows): origin is the first due time on the monotonic clock in µs (None in a dump from before
    session 24), rows the (due, sent, done) of every request in µs from that first due time."""
    origin, rows = None, []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if line.startswith("# origin") and len(parts) == 3:
                origin = int(parts[2]) // 1000
            elif len(parts) == 3 and not line.startswith("#"):
                rows.append(tuple(int(p) for p in parts))
    return origin, rows


def clusters(rows, slow_us, gap_us):
    """The slow requests (done - due ≥ slow_us) in clusters: lists of rows, in due order, each less than gap_us after
    the one before it."""
    slow = sorted((r for r in rows if r[2] - r[0] >= slow_us), key=lambda r: r[0])
    groups = []
    for r in slow:
        if groups and r[0] - groups[-1][-1][0] < gap_us:
            groups[-1].append(r)
        else:
            groups.append([r])
    return groups
