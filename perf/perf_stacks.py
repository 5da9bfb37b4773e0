"""The samples of a `perf script` text file (from `perf record -g`), each as its list of symbols, leaf first; shared by
profile-breakdown.py, profile-diff.py and profile-leaf.py."""
import re


def frames(block):
    for line in block.split("\n")[1:]:
        line = line.strip()
        if not line or " " not in line:
            continue
        symbol = line.split(" ", 1)[1].rsplit(" (", 1)[0]
        yield re.sub(r"\+0x[0-9a-f]+$", "", symbol)


def blocks(path):
    """Every sample's text (its header line, then one line per frame, leaf first), in file order."""
    with open(path, errors="replace") as f:
        text = f.read()
    yield from text.split("\n\n")


def stacks(path):
    """Every sample with at least one frame, in file order."""
    for block in blocks(path):
        stack = list(frames(block))
        if stack:
            yield stack
