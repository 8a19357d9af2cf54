#!/usr/bin/python3
"""Runner benchmarks: ansible-runner-c next to Debian's ansible-runner 2.3.1.

Prints figures, never asserts.  Environment:
  RECEPTOR_BUILD   meson build dir (default <repo>/build)
  BENCH_MB         project size for the transmit bench (default 1024)
  BENCH_EVENTS     events in the recorded worker stream (default 10000)
  BENCH_ITEMS      loop items of the chatty playbook (default 300)

1. transmit of a BENCH_MB project dir (incompressible data): wall time, peak RSS.
2. process of a recorded worker stream with BENCH_EVENTS events: events/s, peak RSS.
3. worker CPU time of its own process (ansible-playbook excluded) per event
   on a chatty playbook, measured from /proc/<pid>/stat before reaping.
"""
import json
import os
import pathlib
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("RECEPTOR_BUILD", REPO / "build"))
OURS = str(BUILD / "src/cmd/ansible-runner-c")
REAL = shutil.which("ansible-runner") or "/usr/bin/ansible-runner"
VECTORS = REPO / "tests/vectors/runner"
ENV = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"}
TICK = os.sysconf("SC_CLK_TCK")


def measure(argv, stdin_path=None, stdout_path=os.devnull):
    """Runs argv; returns (wall seconds, peak RSS KiB, own CPU seconds).

    Peak RSS comes from GNU time (%M) in a second run, because the rusage
    of a child forked from this Python process also counts pages touched
    before exec."""
    wall, cpu = measure_cpu(argv, stdin_path, stdout_path)
    rss_file = tempfile.mktemp()
    with open(stdin_path or os.devnull, "rb") as fin, open(os.devnull, "wb") as fout:
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss_file] + argv, stdin=fin,
                       stdout=fout, stderr=subprocess.DEVNULL, env=ENV)
    rss = int(pathlib.Path(rss_file).read_text().split()[-1])
    os.unlink(rss_file)
    return wall, rss, cpu


def measure_cpu(argv, stdin_path=None, stdout_path=os.devnull):
    with open(stdin_path or os.devnull, "rb") as fin, open(stdout_path, "wb") as fout:
        start = time.monotonic()
        p = subprocess.Popen(argv, stdin=fin, stdout=fout, stderr=subprocess.DEVNULL, env=ENV)
        os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)
        wall = time.monotonic() - start
        fields = pathlib.Path(f"/proc/{p.pid}/stat").read_text().rsplit(")", 1)[1].split()
        own_cpu = (int(fields[11]) + int(fields[12])) / TICK
        os.waitpid(p.pid, 0)
    return wall, own_cpu


def bench_transmit(tmp):
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="runner-bench-big-"))  # too big for tmpfs
    mb = int(os.environ.get("BENCH_MB", "1024"))
    pdd = tmp / "big"
    (pdd / "project").mkdir(parents=True)
    (pdd / "project/demo.yml").write_text("- hosts: localhost\n  tasks: []\n")
    chunk = os.urandom(1 << 20)
    for i in range(mb // 16 or 1):
        with open(pdd / f"project/blob{i:04d}", "wb") as f:
            for _ in range(min(16, mb)):
                f.write(chunk)
    print(f"## transmit of a {mb} MiB project")
    for name, exe in (("ansible-runner-c", OURS), ("ansible-runner 2.3.1", REAL)):
        wall, rss, _ = measure([exe, "transmit", str(pdd), "-p", "demo.yml", "--ident", "b"])
        print(f"  {name:22s} {wall:8.2f} s   peak RSS {rss / 1024:8.1f} MiB")
    shutil.rmtree(tmp, ignore_errors=True)


def make_stream(path, n):
    raw = (VECTORS / "worker.stream").read_bytes()
    lines = raw.split(b"\n")
    ev = [json.loads(x) for x in lines if x.startswith(b'{"uuid"')]
    head = lines[:2]
    tail_start = raw.index(b'{"status": "successful"')
    with open(path, "wb") as f:
        f.write(b"\n".join(head) + b"\n")
        for i in range(n):
            e = dict(ev[i % len(ev)])
            e["counter"] = i + 1
            e["uuid"] = str(uuid.uuid4())
            f.write(json.dumps(e).encode() + b"\n")
        f.write(raw[tail_start:])


def bench_process(tmp):
    n = int(os.environ.get("BENCH_EVENTS", "10000"))
    stream = tmp / "w.stream"
    make_stream(stream, n)
    print(f"## process of a recorded worker stream with {n} events")
    rates = {}
    for name, exe in (("ansible-runner-c", OURS), ("ansible-runner 2.3.1", REAL)):
        out = tmp / f"p-{name.split()[0]}"
        wall, rss, _ = measure([exe, "process", str(out)], stdin_path=stream)
        shutil.rmtree(out, ignore_errors=True)
        wall, _ = measure_cpu([exe, "process", str(out)], stdin_path=stream)
        rates[name] = n / wall
        print(f"  {name:22s} {n / wall:10.0f} events/s   peak RSS {rss / 1024:6.1f} MiB")
        shutil.rmtree(out, ignore_errors=True)
    print(f"  speed-up {rates['ansible-runner-c'] / rates['ansible-runner 2.3.1']:.1f}x")


def bench_worker(tmp):
    items = int(os.environ.get("BENCH_ITEMS", "300"))
    pdd = tmp / "chatty"
    shutil.copytree(VECTORS / "pdd", pdd)
    for q in [pdd, *pdd.rglob("*")]:
        q.chmod(q.stat().st_mode | 0o200)
    (pdd / "project/chatty.yml").write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        f"    - debug: msg=\"item {{{{ item }}}}\"\n      loop: \"{{{{ range({items}) | list }}}}\"\n")
    stream = tmp / "chatty.stream"
    with open(stream, "wb") as f:
        subprocess.run([OURS, "transmit", str(pdd), "-p", "chatty.yml", "--ident", "c"],
                       stdout=f, env=ENV, check=True)
    print(f"## worker CPU per event, chatty playbook ({items} loop items)")
    per = {}
    for name, exe in (("ansible-runner-c", OURS), ("ansible-runner 2.3.1", REAL)):
        out = tmp / f"cw-{name.split()[0]}.out"
        wall, cpu = measure_cpu([exe, "worker"], stdin_path=stream, stdout_path=out)
        events = sum(1 for x in out.read_bytes().split(b"\n") if x.startswith(b'{"uuid"'))
        per[name] = cpu / max(events, 1)
        print(f"  {name:22s} {events:6d} events  own CPU {cpu:6.2f} s  "
              f"{per[name] * 1e6:8.0f} us/event  wall {wall:.1f} s")
    print(f"  ratio ours/real {per['ansible-runner-c'] / per['ansible-runner 2.3.1']:.2f}")


def main():
    which = sys.argv[1:] or ["transmit", "process", "worker"]
    # tmpfs when available, so the figures show the runners and not the disk
    base = os.environ.get("BENCH_TMP", "/dev/shm" if os.path.isdir("/dev/shm") else None)
    with tempfile.TemporaryDirectory(prefix="runner-bench-", dir=base) as t:
        tmp = pathlib.Path(t)
        for w in which:
            {"transmit": bench_transmit, "process": bench_process, "worker": bench_worker}[w](tmp)


if __name__ == "__main__":
    main()
