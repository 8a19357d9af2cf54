#!/usr/bin/python3
"""Metrics benchmark (issue 14): single-stream throughput through a 1-link
mesh (tcp-server -> a -> b -> tcp-client) with the metrics endpoint on both
nodes, without scraping and with both nodes scraped every second (as a
Prometheus with scrape_interval 1s would), runs alternated so the shared
machine's noise falls on both.  Prints figures; asserts nothing."""
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
sys.path.insert(0, os.path.dirname(__file__))
from conftest import Mesh, free_port, wait_for  # noqa: E402
from stream_bench import send_to, sink  # noqa: E402

SIZE = int(os.environ.get("BENCH_BYTES", 512 << 20))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 3))


def scraper(ports, stop, count, times):
    while not stop.wait(1.0):
        for p in ports:
            t0 = time.perf_counter()
            with urllib.request.urlopen(f"http://127.0.0.1:{p}/metrics", timeout=10) as r:
                r.read()
            times.append((time.perf_counter() - t0) * 1000)
            count[0] += 1


def run(tmp, scrape, times):
    m = Mesh(os.path.join(tmp, f"r{len(os.listdir(tmp))}"))
    sport, t, res = sink()
    in_port = m.port("in")
    mports = [free_port(), free_port()]
    a = m.node("a", log="error", extra=[
        {"tcp-server": {"port": in_port, "bindaddr": "127.0.0.1", "remotenode": "b", "remoteservice": "sink"}},
        {"metrics": {"port": mports[0]}}])
    b = m.node("b", peers=["a"], log="error", extra=[
        {"tcp-client": {"service": "sink", "address": f"127.0.0.1:{sport}"}},
        {"metrics": {"port": mports[1]}}])
    stop, count = threading.Event(), [0]
    try:
        a.start()
        b.start()
        wait_for(lambda: "b" in a.routes() and "a" in b.routes(), 30, "routes")
        th = threading.Thread(target=scraper, args=(mports, stop, count, times), daemon=True)
        if scrape:
            th.start()
        t0, _ = send_to(in_port, SIZE)
        t.join()
        stop.set()
        if scrape:
            th.join()
        return res["bytes"] / (res["end"] - t0) / 1e6, count[0]
    finally:
        m.stop()


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_per_scrape(tmp, n=2000):
    """The daemon's own CPU time per scrape (user + system), 2000 scrapes."""
    m = Mesh(os.path.join(tmp, "cpu"))
    port = free_port()
    a = m.node("a", log="error", extra=[{"metrics": {"port": port}}])
    b = m.node("b", peers=["a"], log="error")
    try:
        a.start()
        b.start()
        wait_for(lambda: "b" in a.routes(), 30, "routes")
        c0 = cpu_s(a.proc.pid)
        for _ in range(n):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
                size = len(r.read())
        return (cpu_s(a.proc.pid) - c0) / n * 1e6, size
    finally:
        m.stop()


def main():
    tmp = tempfile.mkdtemp(prefix="receptor-metrics-bench-")
    off, on, scrapes, times = [], [], 0, []
    for _ in range(ROUNDS):
        off.append(run(tmp, False, times)[0])
        mbps, n = run(tmp, True, times)
        on.append(mbps)
        scrapes += n
    print(f"1-link stream, metrics on, not scraped: median {statistics.median(off):.0f} MB/s "
          f"(runs: {', '.join(f'{x:.0f}' for x in off)})")
    print(f"1-link stream, both nodes scraped every 1 s: median {statistics.median(on):.0f} MB/s "
          f"(runs: {', '.join(f'{x:.0f}' for x in on)}; {scrapes} scrapes)")
    us, size = cpu_per_scrape(tmp)
    print(f"daemon CPU per scrape ({size} bytes of text, 2 nodes): {us:.0f} us, i.e. "
          f"{us / 1e4:.3f}% of one core at one scrape per second")
    print(f"one scrape while the stream runs (HTTP round trip, python client): median "
          f"{statistics.median(times):.2f} ms, max {max(times):.2f} ms")


if __name__ == "__main__":
    main()
