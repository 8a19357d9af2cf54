"""Progress lines for long transfers (core/progress.c): `receptorctl work
submit` / `work results` and `ansible-runner-c submit`.

Design: the programs decide from isatty(), so the tests give them a real
terminal: stderr is the slave side of a pty (python's pty module) and what
the terminal shows is read from the master.  The same command is then run
with stderr on a pipe, and with --quiet on the terminal: neither shows a
meter, and stdout is byte for byte the same in all three runs.  receptorctl
talks to the fake control server (test_receptorctl_fake.py), which keeps
every payload; ansible-runner-c submit runs a real job on a real node.
"""

import os
import pty
import re
import shutil
import subprocess
import threading

import pytest

from conftest import BUILD
from test_receptorctl import CTL, fake  # noqa: F401  (fake is a fixture)

ARC = os.path.join(BUILD, "src", "cmd", "ansible-runner-c")
BIG = 8 << 20  # past the meter's 4 MiB threshold

# "\rsent 4.1 MiB of 8.0 MiB (51%), 95.3 MiB/s" and the summary "sent 8.0 MiB in 0.1 s, 80.0 MiB/s"
RATE = r"[\d.]+ (B|KiB|MiB|GiB)/s"


def env_without_receptorctl():
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECEPTORCTL_")}
    env["PATH"] = "/usr/bin:/bin"
    return env


def drain(fd, sink):
    """Reads a pty master until the slave side is closed everywhere."""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: no slave left
            return
        if not chunk:
            return
        sink.append(chunk)


def run(argv, mode, stdin=b"", cwd=None, timeout=300, stdout_on_tty=False):
    """Runs argv with stderr on a terminal ("tty") or a pipe ("pipe");
    returns (rc, stdout bytes, stderr bytes as the terminal showed them)."""
    env = env_without_receptorctl()
    if mode == "pipe":
        p = subprocess.run(argv, input=stdin, capture_output=True, env=env, cwd=cwd, timeout=timeout)
        return p.returncode, p.stdout, p.stderr
    master, slave = pty.openpty()
    shown = []
    t = threading.Thread(target=drain, args=(master, shown), daemon=True)
    t.start()
    try:
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=slave if stdout_on_tty else subprocess.PIPE,
                             stderr=slave, env=env, cwd=cwd)
        os.close(slave)
        slave = -1
        out, _ = p.communicate(stdin, timeout=timeout)
        t.join(30)
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    return p.returncode, out or b"", b"".join(shown)


def meter_lines(shown, verb):
    return re.findall(rb"\r?" + verb.encode() + rb" [\d.]+ (?:B|KiB|MiB|GiB)[^\r\n]*", shown)


def test_submit_payload_file(fake, tmp_path):
    srv = fake()
    srv.unit_output = b"done\n"
    payload = tmp_path / "payload"
    data = os.urandom(BIG)
    payload.write_bytes(data)
    argv = [CTL, "--socket", srv.address, "work", "submit", "echo", "-p", str(payload)]
    rc, out, shown = run(argv, "tty")
    assert rc == 0, shown
    lines = meter_lines(shown, "sent")
    assert lines, shown
    assert re.fullmatch(rb"\rsent [\d.]+ MiB of 8\.0 MiB \(\d+%\), " + RATE.encode() + rb" *", lines[0]), lines
    assert re.fullmatch(rb"\r?sent 8\.0 MiB in [\d.]+ s, " + RATE.encode() + rb" *", lines[-1]), lines
    assert shown.endswith(b"\r\n")  # the summary ends its line (the pty adds the \r)
    assert out == b"Result: Job Started\nUnit ID: sUHen3zS\n"

    rc2, out2, err2 = run(argv, "pipe")
    assert (rc2, out2, err2) == (0, out, b"")
    rc3, out3, shown3 = run(argv[:-2] + ["-q", "-p", str(payload)], "tty")
    assert (rc3, out3, shown3) == (0, out, b"")
    assert srv.payloads == [data, data, data]


def test_submit_payload_stdin_has_no_total(fake):
    srv = fake()
    srv.unit_output = b"done\n"
    data = os.urandom(BIG)
    rc, out, shown = run([CTL, "--socket", srv.address, "work", "submit", "echo", "-p", "-"], "tty", stdin=data)
    assert rc == 0 and out == b"Result: Job Started\nUnit ID: sUHen3zS\n"
    lines = meter_lines(shown, "sent")
    assert lines and b" of " not in lines[0], shown
    assert re.fullmatch(rb"\r?sent 8\.0 MiB in [\d.]+ s, " + RATE.encode() + rb" *", lines[-1]), lines
    assert srv.payloads == [data]


def test_small_payload_shows_nothing(fake):
    srv = fake()
    srv.unit_output = b"done\n"
    rc, out, shown = run([CTL, "--socket", srv.address, "work", "submit", "echo", "-p", "-"], "tty",
                         stdin=b"x" * 100000)
    assert (rc, shown) == (0, b"")


def test_results(fake):
    srv = fake()
    data = os.urandom(BIG)
    srv.unit_output = data
    assert run([CTL, "--socket", srv.address, "work", "submit", "echo", "-l", "x"], "pipe")[0] == 0
    argv = [CTL, "--socket", srv.address, "work", "results", "sUHen3zS"]
    rc, out, shown = run(argv, "tty")
    assert rc == 0 and out == data
    lines = meter_lines(shown, "received")
    assert lines, shown
    assert re.fullmatch(rb"\r?received 8\.0 MiB in [\d.]+ s, " + RATE.encode() + rb" *", lines[-1]), lines
    assert run(argv, "pipe") == (0, data, b"")
    assert run(argv + ["--quiet"], "tty") == (0, data, b"")


def test_results_to_the_terminal_show_no_meter(fake):
    """When the results themselves go to the terminal, they are the progress:
    a meter would tear their lines."""
    srv = fake()
    srv.unit_output = b"line of output\n" * (BIG // 15)
    assert run([CTL, "--socket", srv.address, "work", "submit", "echo", "-l", "x"], "pipe")[0] == 0
    rc, _, shown = run([CTL, "--socket", srv.address, "work", "results", "sUHen3zS"], "tty",
                       stdout_on_tty=True)
    assert rc == 0
    assert shown == b"line of output\r\n" * (BIG // 15)


def test_submit_follow_shows_both_meters(fake, tmp_path):
    srv = fake()
    data = os.urandom(BIG)
    payload = tmp_path / "payload"
    payload.write_bytes(data)
    argv = [CTL, "--socket", srv.address, "work", "submit", "echo", "-p", str(payload), "-f"]
    rc, out, shown = run(argv, "tty")
    assert rc == 0 and out == data
    assert meter_lines(shown, "sent") and meter_lines(shown, "received"), shown
    assert run(argv, "pipe") == (0, data, b"")


# ---- ansible-runner-c submit ------------------------------------------------------------

PLAYBOOK = """---
- name: Small job, big project
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Say hi
      ansible.builtin.debug:
        msg: hi
"""


@pytest.mark.skipif(not shutil.which("ansible-playbook", path="/usr/bin:/bin"),
                    reason="ansible-playbook is not installed (scripts/install-deps)")
def test_runner_submit_upload(mesh, tmp_path):
    """A job whose private data dir holds 6 MiB that does not compress: the
    upload shows a meter with its size known once the zip is made."""
    node = mesh.node("ctl", extra=[{"work-command": {
        "worktype": "local", "command": ARC, "params": "worker", "allowruntimeparams": True}}])
    node.start()
    outs = []
    for i, (mode, extra) in enumerate([("tty", []), ("pipe", []), ("tty", ["-q"])]):
        pdd = tmp_path / f"job{i}"
        (pdd / "project").mkdir(parents=True)
        (pdd / "project" / "site.yml").write_text(PLAYBOOK)
        (pdd / "project" / "blob.bin").write_bytes(os.urandom(6 << 20))
        (pdd / "inventory").mkdir()
        (pdd / "inventory" / "hosts").write_text("localhost ansible_connection=local\n")
        argv = [ARC, "submit", str(pdd), "-p", "site.yml", "--socket", node.sock, "--ident", "p",
                "--worker-params", ""] + extra
        rc, out, shown = run(argv, mode)
        assert rc == 0, shown.decode(errors="replace")
        assert (pdd / "artifacts" / "p" / "status").read_text() == "successful"
        outs.append((out, shown))
    (out_tty, shown_tty), (out_pipe, err_pipe), (out_quiet, shown_quiet) = outs
    lines = meter_lines(shown_tty, "sent")
    assert lines, shown_tty
    assert re.fullmatch(rb"\rsent [\d.]+ MiB of [\d.]+ MiB \(\d+%\), " + RATE.encode() + rb" *",
                        lines[0]), lines
    assert re.fullmatch(rb"\r?sent [\d.]+ MiB in [\d.]+ s, " + RATE.encode() + rb" *", lines[-1]), lines
    assert not meter_lines(err_pipe, "sent") and b"\r" not in err_pipe
    assert shown_quiet == b"" and out_quiet == b""
    assert b"TASK [Say hi]" in out_tty and out_tty == out_pipe
