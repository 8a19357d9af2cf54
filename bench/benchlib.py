"""Shared helpers of the benchmarks: process memory figures."""


def rss_kb(pid):
    """Resident set size of a process, in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def mem_kb(pid):
    """RSS, anonymous RSS and PSS (shared library pages divided among users)."""
    out = {"rss": rss_kb(pid), "anon": 0, "pss": 0}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                out["anon"] = int(line.split()[1])
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    out["pss"] = int(line.split()[1])
    except OSError:
        pass
    return out
