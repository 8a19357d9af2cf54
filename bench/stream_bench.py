#!/usr/bin/python3
"""Stream benchmarks (issue 3).  Prints figures; asserts nothing.

  single-stream throughput through tcp-server -> mesh -> tcp-client proxies,
  with the two ends 0, 1 and 3 mesh links apart, next to raw loopback TCP
  measured with the same client and sink in the same run;
  RSS of every node sampled while the data flows (it must stay flat);
  stream handshake latency (control `connect` until the remote greeting).
"""
import os
import socket
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
from conftest import Mesh, wait_for  # noqa: E402
from benchlib import mem_kb, rss_kb  # noqa: E402,F401


SIZE = int(os.environ.get("BENCH_BYTES", 1 << 30))
CHUNK = b"\x5a" * (1 << 20)




def sink():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    result = {}

    def run():
        c, _ = srv.accept()
        n = 0
        while True:
            d = c.recv(1 << 20)
            if not d:
                break
            n += len(d)
        result["bytes"] = n
        result["end"] = time.monotonic()
        c.close()
        srv.close()
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return srv.getsockname()[1], t, result


def send_to(port, size, pids=()):
    samples = {p: [] for p in pids}
    stop = threading.Event()

    def sampler():
        while not stop.is_set():
            for p in pids:
                try:
                    samples[p].append(rss_kb(p))
                except OSError:
                    pass
            time.sleep(0.1)
    st = threading.Thread(target=sampler, daemon=True)
    st.start()
    s = socket.create_connection(("127.0.0.1", port))
    t0 = time.monotonic()
    left = size
    while left > 0:
        n = min(left, len(CHUNK))
        s.sendall(CHUNK[:n])
        left -= n
    s.shutdown(socket.SHUT_WR)
    while s.recv(65536):
        pass
    s.close()
    stop.set()
    st.join()
    return t0, samples


def raw_tcp(size):
    port, t, res = sink()
    t0, _ = send_to(port, size)
    t.join()
    return size / (res["end"] - t0) / 1e6


def through_mesh(tmp, hops, size):
    m = Mesh(os.path.join(tmp, f"h{hops}"))
    sport, t, res = sink()
    in_port = m.port("in")
    names = [f"n{i}" for i in range(hops + 1)]
    nodes = []
    for i, name in enumerate(names):
        extra = []
        if i == 0:
            extra.append({"tcp-server": {"port": in_port, "bindaddr": "127.0.0.1",
                                         "remotenode": names[-1], "remoteservice": "sink"}})
        if i == hops:
            extra.append({"tcp-client": {"service": "sink", "address": f"127.0.0.1:{sport}"}})
        nodes.append(m.node(name, peers=[names[i - 1]] if i else [], extra=extra, log="error"))
    try:
        for n in nodes:
            n.start()
        if hops:
            wait_for(lambda: names[-1] in nodes[0].routes() and names[0] in nodes[-1].routes(), 30, "routes")
        pids = [n.proc.pid for n in nodes]
        t0, samples = send_to(in_port, size, pids)
        t.join()
        mbps = res["bytes"] / (res["end"] - t0) / 1e6
        rss = {n.name: (min(samples[n.proc.pid]) / 1024, max(samples[n.proc.pid]) / 1024) for n in nodes}
        return mbps, res["bytes"], rss
    finally:
        m.stop()


def handshake_ms(tmp):
    m = Mesh(os.path.join(tmp, "hs"))
    a = m.node("a", log="error")
    b = m.node("b", peers=["a"], log="error").serve_control_on_mesh()
    try:
        a.start()
        b.start()
        wait_for(lambda: "b" in a.routes() and "a" in b.routes(), 30, "routes")
        times = []
        for _ in range(30):
            c = a.ctl()
            t0 = time.perf_counter()
            c.sock.sendall(b"connect b control\n")
            c.f.readline()
            c.f.readline()
            times.append((time.perf_counter() - t0) * 1000)
            c.close()
        return statistics.median(times), min(times)
    finally:
        m.stop()


def main():
    tmp = tempfile.mkdtemp(prefix="receptor-stream-bench-")
    raw = raw_tcp(SIZE)
    print(f"raw loopback TCP (same python client and sink): {raw:.0f} MB/s")
    for hops in (0, 1, 3):
        mbps, got, rss = through_mesh(tmp, hops, SIZE)
        rss_txt = ", ".join(f"{k} {lo:.1f}-{hi:.1f}" for k, (lo, hi) in rss.items())
        print(f"single stream, ends {hops} mesh link(s) apart: {mbps:.0f} MB/s "
              f"({100 * mbps / raw:.1f}% of raw TCP; {got >> 20} MiB delivered); RSS MB min-max: {rss_txt}")
    med, lo = handshake_ms(tmp)
    print(f"stream handshake (connect + remote greeting, 1 link): median {med:.2f} ms, min {lo:.2f} ms")
    print("upstream Go receptor on this kind of machine: 5-11 MB/s across 2 hops (~0.3% of loopback TCP)")


if __name__ == "__main__":
    main()
