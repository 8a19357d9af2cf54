"""Our worker against the captured streams of the real 2.3.1 worker."""
import json
import signal
import subprocess
import time

import pytest

from conftest import clean_env, run
from streamutil import event_keys, split_stream

GARBAGE = ["notjson", "empty", "kwargs-only", "truncated-b64", "b64-then-newline",
           "zip-too-long", "bad-kwargs", "eof-only", "keepalive-kwarg"]


def status_lines(out: bytes):
    """status + job_explanation of each line (result_traceback is Python's own text)."""
    lines = []
    for line in out.splitlines():
        o = json.loads(line)
        lines.append({k: o[k] for k in o if k != "result_traceback"})
    return lines


@pytest.mark.parametrize("name", GARBAGE)
def test_garbage_same_status_and_rc(arc, vectors, name):
    g = vectors / "garbage"
    p = run([arc, "worker"], stdin=(g / f"{name}.in").read_bytes())
    assert p.returncode == int((g / f"{name}.rc").read_text())
    assert status_lines(p.stdout) == status_lines((g / f"{name}.out").read_bytes())
    if name == "truncated-b64":
        assert json.loads(p.stdout.splitlines()[0])["result_traceback"].endswith(
            "zipfile.BadZipFile: File is not a zip file\n")


@pytest.mark.parametrize("name", ["b64-wrapped", "extra-keys-crlf"])
def test_garbage_that_works(arc, vectors, have_ansible, name):
    p = run([arc, "worker"], stdin=(vectors / "garbage" / f"{name}.in").read_bytes())
    assert p.returncode == 0
    ours = event_keys(split_stream(p.stdout))
    real = event_keys(split_stream((vectors / "garbage" / f"{name}.out").read_bytes()))
    assert ours == real


def assert_timeout_stream_matches(ours, real):
    def split(view):
        events = [k for k in view if k[0] not in ("status", "zip", "eof")]
        rest = [k if k[0] != "zip" else ("zip", k[2], k[3]) for k in view if k[0] in ("status", "zip", "eof")]
        return events, rest
    our_events, our_rest = split(ours)
    real_events, real_rest = split(real)
    assert our_rest == real_rest
    assert our_events == real_events[:len(our_events)]


@pytest.mark.parametrize("scenario", ["", "-fail", "-missing", "-nobinary", "-timeout"])
def test_worker_matches_vector(arc, vectors, have_ansible, scenario):
    p = run([arc, "worker"], stdin=(vectors / f"transmit{scenario}.stream").read_bytes())
    assert p.stderr == b""
    assert p.returncode == int((vectors / f"worker{scenario}.rc").read_text())
    ours = split_stream(p.stdout)
    real = split_stream((vectors / f"worker{scenario}.stream").read_bytes())
    if scenario == "-timeout":
        # job_timeout is 2 s: how far ansible-playbook gets before it is killed
        # depends on the machine's load (on a loaded machine it may not reach
        # its first task), so the events are a prefix of the capture's; the
        # statuses, the artifacts' status and rc, and eof are the same.
        assert_timeout_stream_matches(event_keys(ours), event_keys(real))
        return
    assert event_keys(ours) == event_keys(real)
    # stdout text equal except the timings inside the failing task's result
    if scenario != "-fail":
        assert [o.get("stdout") for o in ours] == [o.get("stdout") for o in real]
    st = ours[0]
    assert st["status"] == "starting" and isinstance(st["env"], dict) and isinstance(st["command"], list)


def test_worker_cancel(arc, vectors, have_ansible):
    with open(vectors / "transmit-cancel.stream", "rb") as stdin:
        proc = subprocess.Popen([arc, "worker"], stdin=stdin, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=clean_env())
    time.sleep(4)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 254
    objs = split_stream(out)
    assert [o["status"] for o in objs if "status" in o][-1] == "canceled"
    z = [o for o in objs if "zip" in o][0]["zip"]
    assert z.read("status") == b"canceled" and z.read("rc") == b"254"
    assert "eof" in objs[-1]


def test_worker_symlinks_listing(arc, vectors, have_ansible, tmp_path):
    d = tmp_path / "w"
    p = run([arc, "worker", f"--private-data-dir={d}"],
            stdin=(vectors / "transmit-symlinks.stream").read_bytes())
    assert p.returncode == 0
    assert (d / "toplink").is_symlink() and str((d / "toplink").readlink()) == "project"
    assert str((d / "project/link.yml").readlink()) == "demo.yml"
    assert (d / "project/tool.sh").stat().st_mode & 0o777 == 0o750
    assert (d / "env/extravars").stat().st_mode & 0o777 == 0o600
    assert not (d / "project/a.fifo").exists()
    assert int((d / "inventory/hosts").stat().st_mtime) == int(
        time.mktime((2024, 1, 1, 0, 0, 0, 0, 0, -1)))
    real = split_stream((vectors / "worker-symlinks.stream").read_bytes())
    assert event_keys(split_stream(p.stdout)) == event_keys(real)


def test_only_kwargs_runs_in_place(arc, vectors, have_ansible, pdd):
    p = run([arc, "worker", f"--private-data-dir={pdd}"],
            stdin=(vectors / "transmit-only-kwargs.stream").read_bytes())
    assert p.returncode == 0
    real = split_stream((vectors / "worker-only-kwargs.stream").read_bytes())
    assert event_keys(split_stream(p.stdout)) == event_keys(real)
    assert (pdd / "artifacts/ko1/status").read_text() == "successful"


def test_noexec_reports_error_status(arc, vectors):
    p = run([arc, "worker"], stdin=(vectors / "transmit-noexec.stream").read_bytes())
    assert p.returncode == int((vectors / "worker-noexec.rc").read_text())
    objs = [json.loads(x) for x in p.stdout.splitlines()]
    assert objs[0]["status"] == "error"
    assert objs[0]["job_explanation"] == "Unable to find process isolation executable: nonexistent-podman"
    assert objs[1] == {"eof": True}


def test_worker_info(arc, tmp_path):
    p = run([arc, "worker", "--worker-info"], env={"HOME": str(tmp_path)})
    assert p.returncode == 0 and p.stdout.endswith(b"}\n\n")
    import yaml
    info = yaml.safe_load(p.stdout)
    assert set(info) == {"cpu_count", "errors", "mem_in_bytes", "runner_version", "uuid"}
    assert info["runner_version"] == "2.3.1" and info["errors"] == []
    assert (tmp_path / ".ansible_runner_uuid").read_text().strip() == info["uuid"]
    assert (tmp_path / ".ansible_runner_uuid").stat().st_mode & 0o777 == 0o600


def test_worker_cleanup(arc, vectors, tmp_path):
    for n in ("awx_1", "awx_2"):
        (tmp_path / n / "artifacts").mkdir(parents=True)
    pat = f"{tmp_path}/awx_*"
    p = run([arc, "worker", "cleanup", f"--file-pattern={pat}", "--grace-period=0"])
    assert p.returncode == 0
    assert p.stdout.decode() == f"Removed 2 private data dir(s) in pattern {pat}\n(changed: True)\n"
    p = run([arc, "worker", "cleanup", f"--file-pattern={pat}", "--grace-period=0"])
    assert p.stdout == (vectors / "worker-cleanup-again.out").read_bytes()
