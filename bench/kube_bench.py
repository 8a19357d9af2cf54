#!/usr/bin/python3
"""Kubernetes work benchmark (issue 11).  Prints figures; asserts nothing.

One node with a kubernetes-runtime-auth work type against the test API
server (tests/integration/k8s/fake_kube.py, whose kubelet runs the worker
container as a local process and serves its log as the kubelet does: one
timestamped line at a time, from Python) and, beside it, a command work type
running the same job.  The job prints a line at once, then BENCH_KUBE_BYTES
(16 MiB) of 1000-character lines, then a last line.  For each: submit to
the first byte of `work results`, submit to the end of the results (the
unit complete), and the results' throughput from first byte to last, the
median of BENCH_KUBE_RUNS (3) runs.  The pod path's figures include pod
creation, the watch until Running, the stdin attach and the log follow with
timestamps; its throughput is bounded by the test server's Python, not by a
kubelet.
"""
import json
import os
import re
import shutil
import socket
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
os.environ.setdefault("RECEPTOR_BUILD", os.path.abspath(os.path.join(HERE, "..", "build")))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration", "k8s"))
import test_kubernetes as tk  # noqa: E402
from harness import FakeKubeServer  # noqa: E402

BYTES = int(os.environ.get("BENCH_KUBE_BYTES", 16 << 20))
RUNS = int(os.environ.get("BENCH_KUBE_RUNS", 3))


def session(sock):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    f = s.makefile("rb", buffering=0)
    line = b""
    while not line.endswith(b"\n"):
        line += s.recv(1)  # greeting, byte by byte so nothing is buffered here
    return s, f


def submit(sock, worktype, params):
    s, _ = session(sock)
    req = {"command": "work", "subcommand": "submit", "node": "localhost", "worktype": worktype}
    req.update(params)
    s.sendall(json.dumps(req).encode() + b"\n")
    buf = b""
    while b"\n" not in buf:
        buf += s.recv(4096)
    unit = re.search(rb"ID (\w+)\.", buf).group(1).decode()
    s.shutdown(socket.SHUT_WR)
    while s.recv(4096):
        pass
    s.close()
    return unit


def follow(sock, unit):
    """(time of the first result byte, time of the end, bytes)."""
    s, _ = session(sock)
    s.sendall(f"work results {unit} 0\n".encode())
    head = b""
    while b"\n" not in head:
        head += s.recv(1)
    first, n = None, 0
    while True:
        d = s.recv(1 << 20)
        if not d:
            break
        if first is None:
            first = time.perf_counter()
        n += len(d)
    s.close()
    return first, time.perf_counter(), n


def command(sock, line):
    s, _ = session(sock)
    s.sendall(line.encode() + b"\n")
    buf = b""
    while b"\n" not in buf:
        d = s.recv(4096)
        if not d:
            break
        buf += d
    s.close()
    return buf


def one(sock, worktype, params):
    t0 = time.perf_counter()
    unit = submit(sock, worktype, params)
    first, end, n = follow(sock, unit)
    command(sock, f"work release {unit}")
    return first - t0, end - t0, n / (end - first) / 1e6, n


def cpu_s(pid):
    """User + system CPU seconds of a process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def report(name, runs):
    fb = statistics.median(r[0] for r in runs)
    done = statistics.median(r[1] for r in runs)
    mbs = statistics.median(r[2] for r in runs)
    print(f"  {name:<26} first byte {fb:6.3f} s   complete {done:6.3f} s   "
          f"results {mbs:7.1f} MB/s ({runs[0][3] / 1e6:.1f} MB)")


def main():
    tmp = tempfile.mkdtemp(prefix="receptor-kube-bench-")
    job = os.path.join(tmp, "job.sh")
    with open(job, "w") as f:
        f.write("#!/bin/sh\necho started\n"
                f"head -c {BYTES * 3 // 4} /dev/zero | base64 -w 999\necho finished\n")
    os.chmod(job, 0o755)
    kube = FakeKubeServer(os.path.join(tmp, "kube"))
    text, sock = tk.kube_config(tmp, tk.RUNTIME)
    text += f"- work-command:\n    worktype: cmd\n    command: {job}\n"
    d = tk.Daemon(tmp, text.replace("log-level: debug", "log-level: error"), sock)
    try:
        pod = {"secret_kube_config": kube.kubeconfig(namespace="default"),
               "secret_kube_pod": tk.pod_yaml([job], name="bench").replace(
                   "namespace: awx", "namespace: default")}
        kube_runs, cmd_runs, cpu = [], [], []
        one(sock, "cmd", {})  # warm up
        for _ in range(RUNS):
            cmd_runs.append(one(sock, "cmd", {}))
            c0 = (cpu_s(d.proc.pid), cpu_s(kube.proc.pid))
            kube_runs.append(one(sock, "kubernetes-runtime-auth", pod))
            cpu.append((cpu_s(d.proc.pid) - c0[0], cpu_s(kube.proc.pid) - c0[1]))
        print(f"kubernetes unit vs command unit, the same job ({BYTES >> 20} MiB of output), "
              f"median of {RUNS}:")
        report("command unit (local)", cmd_runs)
        report("kubernetes unit (fake API)", kube_runs)
        print(f"  CPU per kubernetes unit: receptor {statistics.median(c[0] for c in cpu):.2f} s, "
              f"test API server {statistics.median(c[1] for c in cpu):.2f} s")
    finally:
        d.stop()
        kube.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
