#!/usr/bin/python3
"""Mesh benchmarks (issue 2).  Prints figures; asserts nothing.

  idle RSS of one node
  RSS of a hop with 100 leaves, and the time from the last leaf connecting
  until the hop's routing table holds all 100
  ping reply time over 1 and 3 hops (the node's own measurement, as
  `receptorctl ping` shows it), next to raw loopback TCP round trips
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


def fmt_mem(m):
    return (f"RSS {m['rss'] / 1024:.2f} MB (anonymous {m['anon'] / 1024:.2f} MB, "
            f"PSS {m['pss'] / 1024:.2f} MB)")


def loopback_rtt_us(n=2000):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def echo():
        c, _ = srv.accept()
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            d = c.recv(64)
            if not d:
                break
            c.sendall(d)
    t = threading.Thread(target=echo, daemon=True)
    t.start()
    s = socket.create_connection(srv.getsockname())
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    times = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        s.sendall(b"x" * 36)
        s.recv(64)
        times.append((time.perf_counter_ns() - t0) / 1000)
    s.close()
    return statistics.median(times)


def ping_us(node, target, n=200):
    c = node.ctl()
    times = []
    for _ in range(n):
        r = c.json(f"ping {target}")
        times.append(r["Time"] / 1000)
    c.close()
    return statistics.median(times), min(times)


def main():
    tmp = tempfile.mkdtemp(prefix="receptor-bench-")
    m = Mesh(tmp)
    try:
        # idle RSS and ping over 1 and 3 hops on a 4-node line
        names = ["n0", "n1", "n2", "n3"]
        nodes = [m.node(n, peers=[names[i - 1]] if i else [], log="error") for i, n in enumerate(names)]
        for nd in nodes:  # the control service on the mesh too, as upstream's default config has it
            nd.serve_control_on_mesh()
        for nd in nodes:
            nd.start()
        for nd in nodes:
            wait_for(lambda: len(nd.routes()) == 3, 30, "line")
        time.sleep(1)
        idle = mem_kb(nodes[3].proc.pid)
        print(f"idle node (a leaf, 1 link): {fmt_mem(idle)}   (upstream Go: RSS 28.5 MB; target <= 3 MB)")
        # The daemon maps GnuTLS on first use (TLS, QUIC, signing).  Open one
        # QUIC connection to the leaf's mesh control service and measure again.
        c = nodes[0].ctl()
        c.sock.sendall(b"connect n3 control\n")
        wait_for(lambda: c.f.readline().startswith(b"Receptor Control, node n3"), 30, "n3 over QUIC")
        c.close()
        time.sleep(1)
        print(f"the same leaf after serving one QUIC stream (GnuTLS mapped): {fmt_mem(mem_kb(nodes[3].proc.pid))}")
        med1, min1 = ping_us(nodes[0], "n1")
        med3, min3 = ping_us(nodes[0], "n3")
        raw = loopback_rtt_us()
        print(f"ping reply time, 1 hop:  median {med1:7.1f} us  min {min1:6.1f} us   (upstream: 80 us; target <= 40 us)")
        print(f"ping reply time, 3 hops: median {med3:7.1f} us  min {min3:6.1f} us   (upstream: 280 us; target <= 140 us)")
        print(f"raw loopback TCP round trip (python echo, same run): median {raw:.1f} us")
        m.stop()

        # a hop with 100 leaves
        m2 = Mesh(os.path.join(tmp, "star"))
        hop = m2.node("hop", log="error")
        hop.start()
        base = rss_kb(hop.proc.pid)
        leaves = [m2.node(f"leaf{i:03d}", listen=False, peers=["hop"], log="error") for i in range(100)]
        for lf in leaves:
            lf.start(wait=False)
        # wait until every leaf process has its control socket (started)
        for lf in leaves:
            wait_for(lambda: os.path.exists(lf.sock), 30, "leaf start")
        last_connect = None
        t0 = time.monotonic()
        while True:
            st = hop.status()
            conns = len(st["Connections"])
            if conns == 100 and last_connect is None:
                last_connect = time.monotonic()
            if len(st["RoutingTable"]) == 100:
                done = time.monotonic()
                break
            if time.monotonic() - t0 > 60:
                print("hop did not converge within 60 s")
                break
            time.sleep(0.01)
        if last_connect is None:
            last_connect = done
        time.sleep(1)
        print(f"hop with 100 leaves, 1 s after convergence: {fmt_mem(mem_kb(hop.proc.pid))}; empty hop RSS {base / 1024:.2f} MB")
        time.sleep(11)
        print(f"hop with 100 leaves, steady state (12 s later): {fmt_mem(mem_kb(hop.proc.pid))}; target <= 10 MB")
        print(f"hop routing table complete {1000 * (done - last_connect):.0f} ms after the 100th connection was established"
              f" ({1000 * (done - t0):.0f} ms after all leaves started; target <= 2000 ms)")
        m2.stop()
    finally:
        m.stop()


if __name__ == "__main__":
    main()
