#!/usr/bin/python3
"""Work benchmarks (issue 4).  Prints figures; asserts nothing.

  local units per second (submit, follow results to the end, release),
  one client after the other, then from 4 clients at once
  the AWX pattern: submit with payload, follow `work results` to the end,
  release, each on its own control connection, as latency per unit
  remote units per second through a hop
  results throughput of 256 MiB produced on a node two links away, end to
  end and re-read when complete, with the RSS of every node during it
"""
import multiprocessing
import os
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
import types

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
from conftest import Mesh, wait_for  # noqa: E402
from benchlib import mem_kb, rss_kb  # noqa: E402,F401


N_LOCAL = int(os.environ.get("BENCH_UNITS", 500))
BIG = int(os.environ.get("BENCH_RESULT_BYTES", 256 << 20))




class Conn:
    """One control connection with plain socket calls (a buffered file object
    per connection costs this client ~60 us of the ~2 ms a unit takes)."""

    def __init__(self, node):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(node.sock)
        self.buf = b""
        self.line()  # greeting

    def line(self):
        while b"\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                break
            self.buf += d
        line, _, self.buf = self.buf.partition(b"\n")
        return line

    def drain(self):
        """Reads to EOF; returns the byte count."""
        n = len(self.buf)
        self.buf = b""
        while True:
            d = self.s.recv(1 << 20)
            if not d:
                return n
            n += len(d)

    def close(self):
        self.s.close()


def submit(node, target, worktype, payload):
    c = Conn(node)
    c.s.sendall(f"work submit {target} {worktype}\n".encode())
    unit = re.search(rb"ID (\w+)\.", c.line()).group(1).decode()
    c.s.sendall(payload)
    c.s.shutdown(socket.SHUT_WR)
    c.drain()
    c.close()
    return unit


def follow(node, unit, sink=None):
    c = Conn(node)
    c.s.sendall(f"work results {unit} 0\n".encode())
    c.line()
    n = c.drain()
    c.close()
    return n


def release(node, unit):
    c = Conn(node)
    c.s.sendall(f"work release {unit}\n".encode())
    c.line()
    c.close()


def one_unit(node, target):
    t0 = time.perf_counter()
    unit = submit(node, target, "echo", b"payload line\n")
    follow(node, unit)
    release(node, unit)
    return time.perf_counter() - t0


def local_worker(args):
    sock, n = args
    node = types.SimpleNamespace(sock=sock)
    for _ in range(n):
        one_unit(node, "a")
    return n


def node_with_work(m, name, **kw):
    n = m.node(name, log="error", node_opts={"datadir": os.path.join(m.dir, name, "data")},
               extra=[{"work-command": {"worktype": "echo", "command": "cat"}},
                      {"work-command": {"worktype": "big", "command": "head",
                                        "params": f"-c {BIG} /dev/zero"}}], **kw)
    return n.serve_control_on_mesh()


def main():
    tmp = tempfile.mkdtemp(prefix="receptor-work-bench-")
    m = Mesh(tmp)
    try:
        a = node_with_work(m, "a")
        b = m.node("b", peers=["a"], log="error")
        c = node_with_work(m, "c", peers=["b"])
        for n in (a, b, c):
            n.start()
        wait_for(lambda: "c" in a.routes() and "a" in c.routes(), 30, "routes")
        a.wait_advert("c")
        for _ in range(20):
            one_unit(a, "a")
        t0 = time.perf_counter()
        lat = [one_unit(a, "a") for _ in range(N_LOCAL)]
        el = time.perf_counter() - t0
        print(f"local units: {N_LOCAL / el:.0f} units/s (submit, results to the end, release; sequential) "
              f"(upstream: 84 units/s; target >= 500)")
        print(f"AWX pattern (3 connections per unit): median {1000 * statistics.median(lat):.1f} ms, "
              f"p90 {1000 * sorted(lat)[int(len(lat) * 0.9)]:.1f} ms per unit (upstream: 755 ms; target <= 20 ms)")
        # The same loop from K clients at once (a controller runs many jobs):
        # throughput once the daemon, runners and commands share both cores.
        k = 4
        with multiprocessing.get_context("fork").Pool(k) as pool:
            pool.map(local_worker, [(a.sock, 5)] * k)  # warm the workers
            t0 = time.perf_counter()
            done = sum(pool.map(local_worker, [(a.sock, N_LOCAL // k)] * k))
            el = time.perf_counter() - t0
        print(f"local units, {k} clients at once: {done / el:.0f} units/s ({os.cpu_count()} CPUs)")
        n_remote = max(50, N_LOCAL // 5)
        t0 = time.perf_counter()
        rl = [one_unit(a, "c") for _ in range(n_remote)]
        el = time.perf_counter() - t0
        print(f"remote units through a hop: {n_remote / el:.0f} units/s, median {1000 * statistics.median(rl):.1f} ms per unit")
        # 256 MiB produced on c, fetched through b to a
        pids = {n.name: n.proc.pid for n in (a, b, c)}
        samples = {k: [] for k in pids}
        stop = threading.Event()

        def sampler():
            while not stop.is_set():
                for k, p in pids.items():
                    samples[k].append(rss_kb(p))
                time.sleep(0.1)
        th = threading.Thread(target=sampler, daemon=True)
        th.start()
        t0 = time.perf_counter()
        unit = submit(a, "c", "big", b"")
        got = follow(a, unit)
        el = time.perf_counter() - t0
        stop.set()
        th.join()
        t1 = time.perf_counter()
        again = follow(a, unit)
        el2 = time.perf_counter() - t1
        rss = ", ".join(f"{k} {min(v) / 1024:.1f}-{max(v) / 1024:.1f}" for k, v in samples.items())
        print(f"results of {got >> 20} MiB through 2 hops: {got / el / 1e6:.0f} MB/s end to end "
              f"(upstream: 5 MB/s; target >= 200 MB/s); re-read when complete: {again / el2 / 1e6:.0f} MB/s")
        print(f"RSS MB min-max during the transfer: {rss} (target: flat within 2 MB)")
        release(a, unit)
    finally:
        m.stop()


if __name__ == "__main__":
    main()
