#!/usr/bin/python3
"""A large automation mesh on one machine (issue 13).  Prints figures;
asserts nothing.

Shape: one controller, H hop nodes peered to it, every other node an
execution node peered to two hops.  Control sockets on the controller, the
hops and a sample of execution nodes.  For each size it prints:

  converged   seconds from the last launch until every sampled node routes
              to every node (or "not in N s")
  status      slowest `status` answer of the hops and the controller while
              the mesh converges (which node, when), and beside it the slowest
              answer of a trivial responder process polled at the same times:
              the machine's own scheduling delay, the floor for any process
  work        a remote unit through a hop, submitted while the mesh converges
  PSS         per role (MB), at convergence and after the steady window;
              "sampled" execution nodes also serve a control socket and
              metrics, and one of them runs the remote unit
  CPU         per role and the whole mesh, over a steady window after
              convergence (cores)
  per hop     bytes in and out per second (its socket reads and writes, from
              /proc/<pid>/io), over the same window
  messages    routing messages per node (hops, sampled execution nodes; from
              their metrics endpoints): received, sent and dropped by reason,
              during convergence and per second in the steady window
  flaps       routing-table changes seen on the controller over the window,
              with when each came (seconds into the window)
  ping        the controller pinging sampled execution nodes

usage: large_mesh_bench.py [sizes...]   (default: 100 250 500 1000)
  LARGE_MESH_STEADY=seconds of the steady window (default 60)
  LARGE_MESH_TIMEOUT=seconds to wait for convergence (default 300)
  LARGE_MESH_KEEP=1 keeps the nodes' directories and logs (printed path)
"""
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
from conftest import RECEPTOR, Control  # noqa: E402
from ports import free_port  # noqa: E402
from benchlib import mem_kb  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


PROBE = """
import os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(16)
while True:
    c, _ = s.accept()
    c.sendall(c.recv(16))
    c.close()
"""


class Probe:
    """A process that only echoes a byte on a unix socket: how long it takes
    to answer is how long the machine takes to run a process that has
    nothing else to do (no mesh node can answer faster)."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "probe.sock")
        self.proc = subprocess.Popen([sys.executable, "-c", PROBE, self.path])
        deadline = time.monotonic() + 10
        while not os.path.exists(self.path) and time.monotonic() < deadline:
            time.sleep(0.05)

    def poll(self):
        t0 = time.monotonic()
        try:
            with socket.socket(socket.AF_UNIX) as c:
                c.settimeout(30)
                c.connect(self.path)
                c.sendall(b"x")
                c.recv(16)
        except OSError:
            pass
        return time.monotonic() - t0

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def free_ports(n):
    """Listener ports from below the ephemeral range (tests/integration/ports.py):
    bind(0) handed out ports that the nodes' own outgoing connections, two
    thousand of them at 1000 nodes, could take before the listener bound
    (a hop failed to start with "address already in use")."""
    return [free_port() for _ in range(n)]


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / TICK


def io_bytes(pid):
    out = {}
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            k, v = line.split(":")
            out[k] = int(v)
    return out["rchar"], out["wchar"]


class LargeMesh:
    def __init__(self, n, hops, sample=10):
        self.dir = tempfile.mkdtemp(prefix=f"mesh{n}-")
        self.n = n
        self.names = ["controller"] + [f"hop{i}" for i in range(hops)] + \
                     [f"exec{i}" for i in range(n - 1 - hops)]
        self.hops = self.names[1:1 + hops]
        self.execs = self.names[1 + hops:]
        rnd = random.Random(n)
        self.sampled = rnd.sample(self.execs, min(sample, len(self.execs)))
        self.ports = dict(zip(["controller"] + self.hops, free_ports(1 + hops)))
        self.metrics = dict(zip(self.hops + self.sampled, free_ports(hops + len(self.sampled))))
        self.procs = {}
        self.socks = {}
        self.probe = None

    def config(self, name, idx):
        items = [f"- node:\n    id: {name}\n    datadir: {self.dir}/{name}",
                 "- log-level: warning"]
        if name in self.ports:
            items.append(f"- tcp-listener:\n    port: {self.ports[name]}")
        if name in self.hops:
            items.append(f"- tcp-peer:\n    address: 127.0.0.1:{self.ports['controller']}")
        elif name != "controller":
            h = len(self.hops)
            for hop in (self.hops[idx % h], self.hops[(idx + 1) % h]):
                items.append(f"- tcp-peer:\n    address: 127.0.0.1:{self.ports[hop]}")
        if name == "controller" or name in self.hops or name in self.sampled:
            sock = f"{self.dir}/{name}.sock"
            self.socks[name] = sock
            items.append(f"- control-service:\n    service: control\n    filename: {sock}")
        if name in self.metrics:
            items.append(f"- metrics:\n    port: {self.metrics[name]}")
        if name in self.sampled:
            items.append("- work-command:\n    worktype: echo\n    command: cat")
        return "---\n" + "\n".join(items) + "\n"

    def start(self):
        self.probe = Probe(self.dir)
        for idx, name in enumerate(self.names):
            path = f"{self.dir}/{name}.yml"
            with open(path, "w") as f:
                f.write(self.config(name, idx))
            log = open(f"{self.dir}/{name}.log", "ab")
            self.procs[name] = subprocess.Popen([RECEPTOR, "--config", path], stdout=log,
                                                stderr=subprocess.STDOUT)
            log.close()
        return time.monotonic()

    def cmd(self, name, text, timeout=10):
        c = Control(self.socks[name], timeout=timeout)
        try:
            return c.json(text)
        finally:
            c.close()

    def timed_status(self, name):
        t0 = time.monotonic()
        try:
            st = self.cmd(name, "status")
        except (OSError, ValueError, RuntimeError):
            return None, time.monotonic() - t0
        return st, time.monotonic() - t0

    def log_summary(self):
        """Warnings and errors of all nodes, counted by message (node names
        and numbers folded), most frequent first."""
        import re
        counts = {}
        for name in self.names:
            try:
                with open(f"{self.dir}/{name}.log", errors="replace") as f:
                    for line in f:
                        key = re.sub(r"\d+", "N", line.split(" ", 3)[-1].strip())[:110]
                        counts[key] = counts.get(key, 0) + 1
            except OSError:
                pass
        return sorted(counts.items(), key=lambda kv: -kv[1])

    def stop(self):
        if self.probe:
            self.probe.stop()
        for p in self.procs.values():
            p.terminate()
        for p in self.procs.values():
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if os.environ.get("LARGE_MESH_KEEP"):
            print(f"  kept:       {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def routing_counters(m, name):
    """receptor_routing_updates_* of one node: {"received": n, "sent": n,
    "dropped/<reason>": n}; {} when its endpoint does not answer."""
    import urllib.request
    out = {}
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{m.metrics[name]}/metrics", timeout=20) as r:
            text = r.read().decode()
    except OSError:
        return out
    for line in text.splitlines():
        if not line.startswith("receptor_routing_updates_"):
            continue
        key, value = line.rsplit(" ", 1)
        key = key[len("receptor_routing_updates_"):].replace("_total", "")
        key = key.replace('{reason="', "/").replace('"}', "")
        out[key] = float(value)
    return out


def role_counters(m, names):
    """Mean routing counters over the nodes that answered."""
    got = [c for c in (routing_counters(m, n) for n in names) if c]
    keys = sorted({k for c in got for k in c})
    return {k: sum(c.get(k, 0) for c in got) / len(got) for k in keys} if got else {}


def print_counters(label, counters, per=1.0):
    if not counters:
        print(f"  messages:   {label}: no answer")
        return
    unit = "/s" if per != 1.0 else ""
    parts = [f"{k} {v / per:.0f}{unit}" for k, v in counters.items() if v]
    print(f"  messages:   {label}: " + ", ".join(parts))


def remote_unit(m, target, payload=b"through the hops\n", timeout=120):
    """A remote work unit from the controller to target (work type echo:
    cat); returns the seconds until its results came back, or None."""
    t0 = time.monotonic()
    try:
        c = Control(m.socks["controller"], timeout=timeout)
        c.sock.sendall(f"work submit {target} echo\n".encode())
        first = c.f.readline().decode()
        if "Work unit created with ID" not in first:
            c.close()
            return None
        unit = first.split("ID ")[1].split(".")[0]
        c.sock.sendall(payload)
        c.sock.shutdown(socket.SHUT_WR)
        c.f.read()
        c.close()
        c = Control(m.socks["controller"], timeout=timeout)
        c.sock.sendall(f"work results {unit}\n".encode())
        c.f.readline()
        data = c.f.read()
        c.close()
    except (OSError, ValueError, RuntimeError):
        return None
    return time.monotonic() - t0 if data == payload else None


def converge(m, t_launch, timeout, work=None, slowest_probe=None):
    """work: a list that gets the remote unit's round trip, submitted as
    soon as the controller routes to the first sampled node (while the rest
    of the mesh still converges).  slowest_probe: a list that gets the
    probe's slowest answer and when."""
    if slowest_probe is None:
        slowest_probe = [0.0, 0.0]
    watched = ["controller"] + m.hops + m.sampled
    pending = set(watched)
    slowest = (0.0, "", 0.0)  # seconds, node, when (after the last launch)
    submitted = []
    deadline = t_launch + timeout
    while pending and time.monotonic() < deadline:
        if work is not None and not work and not submitted:
            st, _ = m.timed_status("controller")
            if st and m.sampled[0] in st["RoutingTable"]:
                # in a thread of its own: status polling must go on while
                # the unit runs (a blocking call hid the slowest answers)
                submitted.append(threading.Thread(target=lambda routed=len(st["RoutingTable"]):
                                                  work.append((routed, remote_unit(m, m.sampled[0])))))
                submitted[0].start()
        for name in list(pending):
            if m.probe and (name == "controller" or name in m.hops):
                took = m.probe.poll()
                if took > slowest_probe[0]:
                    slowest_probe[:] = [took, time.monotonic() - t_launch]
            st, took = m.timed_status(name)
            if (name == "controller" or name in m.hops) and took > slowest[0]:
                slowest = (took, name, time.monotonic() - t_launch)
            if st and len(st["RoutingTable"]) >= m.n - 1:
                pending.discard(name)
        time.sleep(0.5)
    result = (None if pending else time.monotonic() - t_launch), slowest, len(pending)
    if submitted:
        submitted[0].join()
    return result


def role_of(m, name):
    return "controller" if name == "controller" else "hop" if name in m.hops else "exec"


def steady(m, seconds):
    pids = {name: p.pid for name, p in m.procs.items()}
    msg0 = {role: role_counters(m, names) for role, names in (("hop", m.hops), ("exec", m.sampled))}
    cpu0 = {name: cpu_s(pid) for name, pid in pids.items()}
    io0 = {h: io_bytes(pids[h]) for h in m.hops}
    routes = json.dumps(m.cmd("controller", "status")["RoutingTable"], sort_keys=True)
    flaps, slowest = [], 0.0
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        time.sleep(2)
        st, took = m.timed_status("controller")
        slowest = max(slowest, took)
        if st:
            now = json.dumps(st["RoutingTable"], sort_keys=True)
            if now != routes:
                flaps.append(time.monotonic() - t0)
                routes = now
    dt = time.monotonic() - t0
    cpu = {}
    for name, pid in pids.items():
        cpu.setdefault(role_of(m, name), []).append((cpu_s(pid) - cpu0[name]) / dt)
    io = [((io_bytes(pids[h])[0] - io0[h][0]) / dt, (io_bytes(pids[h])[1] - io0[h][1]) / dt)
          for h in m.hops]
    msgs = {}
    for role, names in (("hop", m.hops), ("exec", m.sampled)):
        now = role_counters(m, names)
        msgs[role] = {k: (v - msg0[role].get(k, 0)) / dt for k, v in now.items()}
    return cpu, io, flaps, slowest, msgs


def pss(m):
    """MB per role; "sampled" are the execution nodes that also serve a
    control socket and metrics and run the remote unit, "exec" the rest."""
    out = {}
    for name, p in m.procs.items():
        role = "sampled" if name in m.sampled else role_of(m, name)
        out.setdefault(role, []).append(mem_kb(p.pid)["pss"] / 1024)
    return out


def print_pss(mem, when):
    for role in ("controller", "hop", "exec", "sampled"):
        v = mem.get(role, [0])
        print(f"  PSS {role:10s} mean {sum(v) / len(v):.2f} MB, max {max(v):.2f} MB ({when})")


def pings(m):
    ok, times = 0, []
    for name in m.sampled:
        try:
            r = m.cmd("controller", f"ping {name}", timeout=20)
        except (OSError, ValueError, RuntimeError):
            continue
        if r.get("Success"):
            ok += 1
            times.append(r["Time"] / 1e6)
    return ok, times


def run(n, steady_s, timeout):
    hops = 10 if n <= 250 else 20
    m = LargeMesh(n, hops)
    try:
        t_launch = m.start()
        work, probe = [], [0.0, 0.0]
        conv, slow_status, missing = converge(m, t_launch, timeout, work, probe)
        print(f"{n} nodes ({hops} hops, {len(m.execs)} execution nodes, {len(m.sampled)} sampled)")
        if conv is None:
            print(f"  converged:  not in {timeout} s ({missing} sampled nodes incomplete)")
        else:
            print(f"  converged:  {conv:.1f} s after the last launch")
        took, who, when = slow_status
        print(f"  status:     slowest answer of controller/hops while converging {took * 1000:.0f} ms "
              f"({who}, {when:.1f} s after the last launch); a process that only echoes: "
              f"{probe[0] * 1000:.0f} ms at worst ({probe[1]:.1f} s)")
        if work:
            routed, took = work[0]
            print(f"  work:       a remote unit through a hop, submitted when the controller routed "
                  f"{routed} of {m.n - 1} nodes: " + (f"results in {took:.2f} s" if took else "FAILED"))
        for role, names in (("hop", m.hops), ("exec", m.sampled)):
            print_counters(f"per {role} while converging", role_counters(m, names))
        print_pss(pss(m), "at convergence")
        cpu, io, flaps, slow, msgs = steady(m, steady_s)
        total = sum(sum(v) for v in cpu.values())
        for role in ("controller", "hop", "exec"):
            v = cpu.get(role, [0])
            print(f"  CPU {role:10s} mean {sum(v) / len(v):.4f} cores, sum {sum(v):.3f} cores")
        print(f"  CPU mesh total {total:.3f} cores (steady, {steady_s} s window)")
        rin = sum(r for r, _ in io) / len(io)
        wout = sum(w for _, w in io) / len(io)
        print(f"  per hop:    {rin / 1024:.1f} KiB/s in, {wout / 1024:.1f} KiB/s out (mean)")
        for role in ("hop", "exec"):
            print("  messages:   per %s, steady: " % role +
                  ", ".join(f"{k} {v:.1f}/s" for k, v in msgs[role].items() if v))
        when = ", ".join(f"{t:.0f}" for t in flaps[:10]) + (", ..." if len(flaps) > 10 else "")
        print(f"  flaps:      {len(flaps)} routing-table changes on the controller" +
              (f" (at {when} s into the window)" if flaps else "") +
              f"; slowest status {slow * 1000:.0f} ms")
        print_pss(pss(m), "after the steady window")
        ok, times = pings(m)
        med = sorted(times)[len(times) // 2] if times else 0
        print(f"  ping:       {ok}/{len(m.sampled)} sampled nodes answer, median {med:.2f} ms")
        for msg, count in m.log_summary()[:6]:
            print(f"  log:        {count:6d} x {msg}")
        sys.stdout.flush()
    finally:
        m.stop()


def main():
    sizes = [int(a) for a in sys.argv[1:]] or [100, 250, 500, 1000]
    steady_s = int(os.environ.get("LARGE_MESH_STEADY", "60"))
    timeout = int(os.environ.get("LARGE_MESH_TIMEOUT", "300"))
    print(f"large mesh: {os.cpu_count()} cores; receptor {RECEPTOR}")
    for n in sizes:
        run(n, steady_s, timeout)


if __name__ == "__main__":
    main()
