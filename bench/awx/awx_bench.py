#!/usr/bin/python3
"""The AWX flow, measured (prints figures, never asserts).

Mesh: controller -> hop1 -> hop2 -> execution on loopback, from
examples/awx/*.yml (TLS with node-ID certificates between all nodes), our
worker as the `ansible-runner` work type.

1. Demo playbook (examples/demo): wall time from command start to the first
   line of playbook output and to exit, `ansible-runner-c submit` through two
   hops against Debian's `ansible-runner run` locally (the mesh's overhead).
2. A chatty playbook (BENCH_EVENTS events, default 10,000: a debug loop):
   events/s through the mesh against the same local run.
3. The pipe alone: the worker stream of (2) recorded once and replayed by a
   `cat` work type on the execution node, so ansible is out of the picture:
   events/s and MB/s that submit -> mesh -> results -> process carries.

Env: RECEPTOR_BUILD (default build/), BENCH_EVENTS, BENCH_RUNS (default 3).
"""
import json
import os
import re
import pathlib
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("RECEPTOR_BUILD", ROOT / "build"))
RECEPTOR = BUILD / "src" / "cmd" / "receptor"
ARC = BUILD / "src" / "cmd" / "ansible-runner-c"
EVENTS = int(os.environ.get("BENCH_EVENTS", "10000"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
ENV = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def ctl(sock, line):
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(sock))
    f = s.makefile("rb")
    f.readline()
    s.sendall(line.encode() + b"\n")
    r = f.readline().decode()
    s.close()
    return r


class Mesh:
    def __init__(self, base, replay_stream):
        self.base = base
        certs = base / "certs"
        subprocess.run([str(ROOT / "scripts" / "make-demo-certs"), str(certs),
                        "controller", "hop1", "hop2", "execution"],
                       env=dict(os.environ, RECEPTOR=str(RECEPTOR)), check=True, capture_output=True)
        ports = {n: free_port() for n in ("hop1", "hop2", "execution")}
        ex = (ROOT / "examples" / "awx")
        texts = {
            "controller": ex.joinpath("controller.yml").read_text()
            .replace("hop.example.com:27199", f"127.0.0.1:{ports['hop1']}"),
            "hop1": ex.joinpath("hop.yml").read_text().replace("id: hop", "id: hop1")
            .replace("/hop.", "/hop1.")
            .replace("execution.example.com:27199", f"127.0.0.1:{ports['hop2']}")
            .replace("port: 27199", f"port: {ports['hop1']}\n    bindaddr: 127.0.0.1"),
            "hop2": ex.joinpath("hop.yml").read_text().replace("id: hop", "id: hop2")
            .replace("/hop.", "/hop2.")
            .replace("execution.example.com:27199", f"127.0.0.1:{ports['execution']}")
            .replace("port: 27199", f"port: {ports['hop2']}\n    bindaddr: 127.0.0.1"),
            "execution": ex.joinpath("execution.yml").read_text()
            .replace("port: 27199", f"port: {ports['execution']}\n    bindaddr: 127.0.0.1")
            + "- work-command:\n    worktype: replay\n    command: /bin/sh\n"
              f"    params: \"-c 'cat >/dev/null; exec cat {replay_stream}'\"\n",
        }
        self.procs = []
        for name, text in texts.items():
            d = base / name
            d.mkdir()
            text = (text.replace("/etc/receptor/tls/", f"{certs}/")
                    .replace("/var/lib/receptor", str(d / "data"))
                    .replace("/var/run/receptor/receptor.sock", str(d / "ctl.sock"))
                    .replace("command: ansible-runner-c", f"command: {ARC}"))
            # signing/tls-client are used by the tests when receptor has them;
            # the bench measures the transport, so it runs without them
            text = re.sub(r"- work-(signing|verification):\n(    .*\n)+", "", text)
            text = text.replace("    verifysignature: true\n", "")
            (d / "receptor.yml").write_text(text)
            log = open(d / "receptor.log", "wb")
            self.procs.append(subprocess.Popen([str(RECEPTOR), "--config", str(d / "receptor.yml")],
                                               stdout=log, stderr=subprocess.STDOUT, env=ENV))
        self.sock = base / "controller" / "ctl.sock"
        deadline = time.time() + 30
        while True:
            try:
                st = json.loads(ctl(self.sock, "status"))
                if st["RoutingTable"].get("execution") == "hop1" and any(
                        a["NodeID"] == "execution" and a["Service"] == "control"
                        for a in st["Advertisements"]):
                    break
            except (OSError, ValueError, KeyError):
                pass
            if time.time() > deadline:
                raise SystemExit("mesh did not converge")
            time.sleep(0.1)

        # the controller reaches the execution node's control service with its
        # tls-client, when this receptor's work layer knows tls-clients
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(self.sock))
        f = s.makefile("rb")
        f.readline()
        s.sendall(b'{"command":"work","subcommand":"submit","node":"execution",'
                  b'"worktype":"probe","tlsclient":"mesh-client"}\n')
        line = f.readline().decode()
        self.flags = []
        if line.startswith("Work unit created with ID "):
            s.shutdown(socket.SHUT_WR)  # an empty payload: the node refuses the type
            f.readline()
            ctl(self.sock, "work release " + line.split()[5].rstrip("."))
            self.flags = ["--tls-client", "mesh-client"]
        s.close()

    def stop(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.wait()


def timed(argv):
    """(seconds to the first stdout line, seconds to exit, rc)"""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    first = None
    for _ in p.stdout:
        if first is None:
            first = time.perf_counter() - t0
    err = p.stderr.read()
    rc = p.wait()
    if rc != 0:
        print(f"  (exit {rc}: {err.decode(errors='replace').strip()[-600:]})")
    return first, time.perf_counter() - t0, rc


def fresh(src, dst):
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    return dst


def fmt(xs):
    xs = [x for x in xs if x is not None]
    return f"{statistics.median(xs):7.3f} s (min {min(xs):.3f}, max {max(xs):.3f})" if xs else "n/a"


def main():
    if not RECEPTOR.exists() or not ARC.exists():
        raise SystemExit(f"build first: {RECEPTOR}, {ARC}")
    real = shutil.which("ansible-runner", path="/usr/bin")
    base = pathlib.Path(tempfile.mkdtemp(prefix="awx-bench-"))
    try:
        chatty = base / "chatty"
        shutil.copytree(ROOT / "examples" / "demo", chatty)
        (chatty / "project" / "chatty.yml").write_text(
            "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
            "    - name: Chatter\n      ansible.builtin.debug:\n        msg: \"{{ item }}\"\n"
            f"      loop: \"{{{{ range(0, {EVENTS - 6}) | list }}}}\"\n")
        # (3)'s input: the worker stream of the chatty job, recorded once
        stream = base / "chatty.worker"
        t = subprocess.run([str(ARC), "transmit", str(chatty), "-p", "chatty.yml", "--ident", "rec"],
                           capture_output=True, env=ENV, check=True)
        with open(stream, "wb") as out:
            subprocess.run([str(ARC), "worker"], input=t.stdout, stdout=out, env=ENV, check=True)
        size = stream.stat().st_size
        mesh = Mesh(base, stream)
        try:
            print(f"AWX flow: controller -> hop1 -> hop2 -> execution (TLS), {RUNS} runs each, median")
            sub = lambda pdd, pb, *x: [str(ARC), "submit", str(pdd), "-p", pb, "--socket",
                                       str(mesh.sock), "--node", "execution", *mesh.flags, *x]
            # 1. demo playbook
            m_first, m_total, l_first, l_total, c_first, c_total = [], [], [], [], [], []
            for i in range(RUNS):
                f, tt, rc = timed([str(ARC), "run", str(fresh(ROOT / "examples" / "demo", base / "cr")),
                                   "-p", "demo.yml"])
                c_first.append(f)
                c_total.append(tt)
                f, tt, rc = timed(sub(fresh(ROOT / "examples" / "demo", base / "d"), "demo.yml"))
                m_first.append(f)
                m_total.append(tt)
                if real:
                    f, tt, rc = timed([real, "run", str(fresh(ROOT / "examples" / "demo", base / "l")),
                                       "-p", "demo.yml"])
                    l_first.append(f)
                    l_total.append(tt)
            print("demo playbook (facts, debug, 2 s pause):")
            print(f"  submit via 2 hops   first output {fmt(m_first)}   done {fmt(m_total)}")
            if real and all(m_first):
                print(f"  ansible-runner run  first output {fmt(l_first)}   done {fmt(l_total)}")
                print(f"  mesh vs ansible-runner run   first output {statistics.median(m_first) - statistics.median(l_first):+.3f} s"
                      f"   done {statistics.median(m_total) - statistics.median(l_total):+.3f} s")
            print(f"  ansible-runner-c run first output {fmt(c_first)}   done {fmt(c_total)}")
            if all(m_first) and all(c_first):
                print(f"  mesh vs ansible-runner-c run first output {statistics.median(m_first) - statistics.median(c_first):+.3f} s"
                      f"   done {statistics.median(m_total) - statistics.median(c_total):+.3f} s"
                      "  (transmit, 2 hops, process, release)")
            # 2. chatty playbook
            _, mt, rc = timed(sub(fresh(chatty, base / "c"), "chatty.yml", "-q"))
            evs = len(os.listdir(next((base / "c" / "artifacts").iterdir()) / "job_events"))
            print(f"chatty playbook ({evs} events):")
            print(f"  submit via 2 hops   {mt:7.2f} s   {evs / mt:8.0f} events/s (rc {rc})")
            if real:
                _, lt, _ = timed([real, "run", str(fresh(chatty, base / "cl")), "-p", "chatty.yml", "-q"])
                print(f"  ansible-runner run  {lt:7.2f} s   {evs / lt:8.0f} events/s")
            # 3. the pipe alone
            times = []
            for i in range(RUNS):
                _, tt, rc = timed(sub(fresh(ROOT / "examples" / "demo", base / "r"), "demo.yml",
                                      "--worktype", "replay", "-q", "--ident", "rec"))
                evs = len(os.listdir(base / "r" / "artifacts" / "rec" / "job_events"))
                times.append(tt)
            tt = statistics.median(times)
            print(f"replayed worker stream ({evs} events, {size / 1e6:.1f} MB) through 2 hops into process:")
            print(f"  {tt:7.3f} s   {evs / tt:8.0f} events/s   {size / tt / 1e6:6.1f} MB/s (rc {rc})")
        finally:
            mesh.stop()
    finally:
        if os.environ.get("BENCH_KEEP"):
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
