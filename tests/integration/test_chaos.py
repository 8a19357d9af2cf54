"""Chaos: a remote unit on controller -> hop -> execution streams 200 MiB of
deterministic pseudo-random output back to a `work results` follower on the
controller (as AWX does) while the hop is killed -9 twenty times and the
execution node's daemon five times, at moments drawn from a seeded generator
(printed; CHAOS_SEED=n reproduces a run), each restarted with the same config
and data dir.

Asserted: the follower's bytes are exactly the command's output (sha256 and
length), the unit succeeds; after `work release` no unit directory, runner,
command or temporary file is left on either node; every node's fd count and
RSS are back near what they were before the job.

The command writes at a steady pace but never more than the budget the test
gives it (a few MiB ahead of what the follower has), and its last MiB only
after the last kill: each kill lands while bytes flow and the unit runs."""
import hashlib
import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import BUILD, SANITIZED, SLOW, fd_count, rss_kb, wait_for

RECEPTORCTL = os.path.join(BUILD, "src", "cmd", "receptorctl")

pytestmark = pytest.mark.long

MIB = 1 << 20
TOTAL_MIB = 200
DATA_SEED = 1206
HOP_KILLS, EXEC_KILLS = 20, 5
PACE = 0.25         # s per MiB the command writes
BUDGET_AHEAD = 2    # MiB the command may be ahead of the follower
RSS_SLACK_KB = 8192

# The command: TOTAL_MIB one-MiB chunks from random.Random(seed), one per
# `pace` s, chunk i only once the budget file says more than i (bounded wait:
# the unit fails rather than hang).
GENERATOR = r'''
import random, sys, time
seed, total, pace, budget = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
rng = random.Random(seed)
out = sys.stdout.buffer
allowed = 0
for i in range(total):
    deadline = time.time() + 900
    while i >= allowed:
        if time.time() > deadline:
            sys.exit("no budget for 900 s")
        time.sleep(0.05)
        try:
            allowed = int(open(budget).read() or 0)
        except (OSError, ValueError):
            pass
    out.write(rng.randbytes(1 << 20))
    out.flush()
    time.sleep(pace)
'''


def expected_digest(seed, total):
    rng = random.Random(seed)
    h = hashlib.sha256()
    for _ in range(total):
        h.update(rng.randbytes(MIB))
    return h.hexdigest()


def procs_mentioning(text):
    """Live (not zombie) processes whose command line contains text."""
    found = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{p}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmd and state != "Z":
            found[int(p)] = cmd
    return found


def files_under(path):
    out = []
    for root, dirs, files in os.walk(path):
        out.extend(os.path.join(root, x) for x in dirs + files)
    return sorted(out)


def node_with_data(mesh, name, peers=(), extra=()):
    n = mesh.node(name, peers=peers, extra=list(extra),
                  node_opts={"datadir": os.path.join(mesh.dir, name, "data")})
    n.serve_control_on_mesh()
    n.tmp = os.path.join(mesh.dir, name, "tmp")
    os.makedirs(n.tmp)
    n.env = dict(os.environ, TMPDIR=n.tmp)
    if SANITIZED:  # ASan's quarantine would be measured, not the daemon
        n.env["ASAN_OPTIONS"] = os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=1"
    return n


def ctl(node, *args, timeout=120):
    return subprocess.run([RECEPTORCTL, "--socket", node.sock, *args], capture_output=True,
                          timeout=timeout * SLOW)


class Follower:
    """`receptorctl work results UNIT` on the controller, read by a thread
    into a running sha256 as fast as it comes."""

    def __init__(self, node, unit):
        self.proc = subprocess.Popen([RECEPTORCTL, "--socket", node.sock, "work", "results", unit],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.count = 0
        self.hash = hashlib.sha256()
        self.err = b""
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()

    def read(self):
        while True:
            d = self.proc.stdout.read1(MIB)
            if not d:
                break
            self.hash.update(d)
            self.count += len(d)
        self.err = self.proc.stderr.read()

    def wait_progress(self, count, what, budget=None):
        """Waits for count bytes; budget(): called meanwhile to feed the command."""
        def done():
            if budget:
                budget(self.count)
            return self.count >= count or self.proc.poll() is not None
        wait_for(done, 120, what)
        assert self.count >= count, (self.count, self.proc.returncode, self.err)

    def finish(self, timeout):
        rc = self.proc.wait(timeout * SLOW)
        self.thread.join(30)
        return rc

    def digest(self):
        return self.hash.hexdigest()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.thread.join(30)


def resources(n):
    pid = n.proc.pid
    return fd_count(pid), rss_kb(pid)


def test_chaos_remote_results_survive_kills(mesh):
    seed = int(os.environ.get("CHAOS_SEED", "20261206"))
    print(f"chaos seed {seed} (CHAOS_SEED={seed} reproduces this run)")
    rng = random.Random(seed)

    gen = os.path.join(mesh.dir, "gen.py")
    budget_path = os.path.join(mesh.dir, "budget")
    with open(gen, "w") as f:
        f.write(GENERATOR)

    def budget(have, mib=None):
        """Lets the command write up to BUDGET_AHEAD MiB more than the
        follower has (never the last MiB before every kill was done)."""
        if mib is None:
            mib = min(TOTAL_MIB - 1, have // MIB + BUDGET_AHEAD)
        with open(budget_path + ".tmp", "w") as f:
            f.write(str(mib))
        os.replace(budget_path + ".tmp", budget_path)
    budget(0)
    work = {"work-command": {"worktype": "chaos", "command": sys.executable,
                             "params": f"{gen} {DATA_SEED} {TOTAL_MIB} {PACE} {budget_path}"}}
    echo = {"work-command": {"worktype": "warm", "command": "echo", "params": "warm"}}
    ctrl = node_with_data(mesh, "controller")
    hop = node_with_data(mesh, "hop", peers=["controller"])
    exe = node_with_data(mesh, "execution", peers=["hop"], extra=[work, echo])
    nodes = (ctrl, hop, exe)
    for n in nodes:
        n.start()
    wait_for(lambda: "execution" in ctrl.routes() and "controller" in exe.routes(), 30, "routes")
    ctrl.wait_advert("execution")
    # a first remote unit warms every path up (streams, libraries, tables)
    # so that the baseline is a node's idle state, not its first moments
    warm = ctl(ctrl, "work", "submit", "--node", "execution", "--no-payload", "-f", "--rm", "warm")
    assert warm.returncode == 0 and warm.stdout.startswith(b"warm\n"), warm
    base = {n.name: resources(n) for n in nodes}
    print("baseline (fds, RSS kB):", base)
    want = expected_digest(DATA_SEED, TOTAL_MIB)

    sub = ctl(ctrl, "work", "submit", "--node", "execution", "--no-payload", "chaos")
    assert sub.returncode == 0, sub
    unit = sub.stdout.decode().split()[-1]
    follower = Follower(ctrl, unit)
    t0 = time.time()
    try:
        follower.wait_progress(4 * MIB, "the first bytes", budget)
        plan = ["hop"] * HOP_KILLS + ["execution"] * EXEC_KILLS
        rng.shuffle(plan)
        for i, name in enumerate(plan):
            n = hop if name == "hop" else exe
            pause = rng.uniform(0.0, 1.5)
            deadline = time.time() + pause
            while time.time() < deadline:
                budget(follower.count)
                time.sleep(0.05)
            at = follower.count
            assert at + MIB < TOTAL_MIB * MIB, "the command got too far before the last kill"
            n.stop(signal.SIGKILL)
            time.sleep(rng.uniform(0.0, 1.0))
            n.start()
            print(f"{time.time() - t0:6.1f}s kill {i + 1}/{len(plan)}: {name} at {at} bytes")
            # the stream resumes after every restart
            follower.wait_progress(at + MIB, f"bytes after kill {i + 1} ({name})", budget)
        budget(0, TOTAL_MIB)
        rc = follower.finish(600)
        assert rc == 0, follower.err
        assert follower.count == TOTAL_MIB * MIB
        assert follower.digest() == want, "results differ from the command's output"
    finally:
        budget(0, TOTAL_MIB)
        follower.kill()
        print(f"{time.time() - t0:6.1f}s follower has {follower.count} bytes")
    st = ctrl.cmd(f"work status {unit}")
    assert st["State"] == 2, st

    rel = ctl(ctrl, "work", "release", unit)
    assert rel.returncode == 0, rel
    assert ctrl.cmd("work list") == {}
    assert exe.cmd("work list") == {}
    for n in nodes:
        assert files_under(os.path.join(n.dir, "data", n.name)) == [], n.name
        assert files_under(n.tmp) == [], n.name
    assert procs_mentioning(gen) == {}, "the command is still running"
    # runners are forked from the daemon, so they have its command line: the
    # daemon (and on the execution node its runner spawner) only, no runner
    # and no spawner of a killed daemon stays behind
    for n, count in ((ctrl, 1), (hop, 1), (exe, 2)):
        left = procs_mentioning(n.config_path)
        assert len(left) == count and n.proc.pid in left, (n.name, left)

    def settled():
        now = {n.name: resources(n) for n in nodes}
        ok = all(now[k][0] <= base[k][0] + 2 and now[k][1] <= base[k][1] + RSS_SLACK_KB for k in now)
        return now if ok else None
    try:
        wait_for(settled, 30, "fds and RSS back near the baseline")
    finally:
        print("after (fds, RSS kB):", {n.name: resources(n) for n in nodes})
