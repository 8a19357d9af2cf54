"""A full disk under the artifacts (issue 10 item 5).

Each command runs in its own mount namespace (unshare -m) with a small
tmpfs at $M, so the mount vanishes with the process.  Event, stdout,
status and rc writes that fail must make the job fail: a message naming
the file and the errno on stderr, a non-zero exit and, for `worker`, an
"error" status with the explanation in the stream instead of
"successful"."""
import json
import os
import shutil

import pytest

from conftest import run
from streamutil import split_stream

SEQ = "-c 'seq 1 20000'"  # ~20000 events: megabytes of job_events


def in_tmpfs(tmp_path, argv, stdin=b"", setup="", size="1m", fill=False, env=None):
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare for a private tmpfs")
    mnt = tmp_path / "m"
    mnt.mkdir()
    script = f"""set -e
mount -t tmpfs -o size={size} tmpfs "$M"
{setup}
{'dd if=/dev/zero of="$M/fill" bs=4096 2>/dev/null || true' if fill else ''}
exec "$@"
"""
    e = {"M": str(mnt)}
    e.update(env or {})
    return run(["unshare", "-m", "sh", "-c", script, "sh", *argv], stdin=stdin, env=e)


def statuses(stdout):
    return [o for o in split_stream(stdout) if "status" in o]


def worker_stream(cmdline=SEQ):
    kw = {"ident": "x", "binary": "/bin/sh", "cmdline": cmdline}
    return json.dumps({"kwargs": kw}).encode() + b'\n{"eof": true}\n'


@pytest.mark.parametrize("fill", [True, False], ids=["full-at-start", "fills-during-run"])
def test_worker_reports_full_disk(arc, tmp_path, fill):
    p = in_tmpfs(tmp_path, [arc, "worker", f"--private-data-dir={tmp_path / 'm' / 'pdd'}"],
                 stdin=worker_stream(), fill=fill, size="64k")  # stdout alone is ~108k
    st = statuses(p.stdout)
    assert p.returncode != 0
    assert "successful" not in [s["status"] for s in st]
    final = [s for s in st if s["status"] == "error"]
    assert final and "No space left on device" in final[0]["job_explanation"]
    assert "/artifacts/x/" in final[0]["job_explanation"]
    assert b"cannot write " in p.stderr and b"No space left on device" in p.stderr
    assert p.stdout.endswith(b'{"eof": true}\n')


def test_worker_reports_unsendable_artifacts(arc, tmp_path):
    """The job's own files are fine, but the artifact zip is built in a full
    $TMPDIR: the stream must say the artifacts are missing, not succeed."""
    pdd = tmp_path / "pdd"
    p = in_tmpfs(tmp_path, [arc, "worker", f"--private-data-dir={pdd}"],
                 stdin=worker_stream("-c 'echo hi'"), fill=True,
                 env={"TMPDIR": str(tmp_path / "m")})
    st = statuses(p.stdout)
    assert p.returncode != 0
    assert st[-1]["status"] == "error"
    assert st[-1]["job_explanation"].startswith("Failed to send the job artifacts")
    assert p.stdout.endswith(b'{"eof": true}\n')


def test_process_reports_full_disk(arc, vectors, tmp_path):
    pdd = tmp_path / "m" / "pdd"
    p = in_tmpfs(tmp_path, [arc, "process", str(pdd)],
                 stdin=(vectors / "worker.stream").read_bytes(),
                 setup=f'mkdir -p "{pdd}/artifacts/job_events"', fill=True)
    assert p.returncode != 0
    assert b"cannot write " in p.stderr and b"/job_events/" in p.stderr
    assert b"No space left on device" in p.stderr


def test_run_reports_full_disk(arc, tmp_path):
    pdd = tmp_path / "m" / "pdd"
    p = in_tmpfs(tmp_path, [arc, "run", str(pdd), "-p", "x.yml", "--ident", "x"],
                 setup=f'mkdir -p "{pdd}" && printf "%s" "/bin/sh {SEQ}" > "{pdd}/args"')
    assert p.returncode != 0
    assert b"cannot write " in p.stderr and b"/artifacts/x/" in p.stderr
    assert b"No space left on device" in p.stderr
