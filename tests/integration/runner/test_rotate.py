"""--rotate-artifacts N (kwargs rotate_artifacts) against the real ansible-runner 2.3.1.

Both runners run the same sequence of jobs, each in its own private data dir that
is reused from job to job, and the artifact directories left behind must be the
same: the N most recently modified ones, 0 keeping them all.  The jobs run
/usr/bin/true as their binary: rotation does not depend on what the job runs."""
import os
import shutil

from conftest import run
from streamutil import split_stream

JOB = ["-p", "demo.yml", "-b", "/usr/bin/true"]


def artifact_dirs(pdd):
    return sorted(os.listdir(pdd / "artifacts"))


def run_both(real_runner, arc, dirs, ident, rotate):
    for exe, pdd in zip((real_runner, arc), dirs):
        p = run([exe, "run", str(pdd), *JOB, "--ident", ident, "--rotate-artifacts", str(rotate)])
        assert p.returncode == 0, (exe, p.stdout, p.stderr)
        assert (pdd / "artifacts" / ident / "rc").read_text() == "0"


def test_run_rotates_like_ansible_runner(real_runner, arc, pdd, tmp_path):
    dirs = (tmp_path / "real", tmp_path / "ours")
    for d in dirs:
        shutil.copytree(pdd, d)
    for ident in ("a", "b", "c", "d"):
        run_both(real_runner, arc, dirs, ident, 2)
        assert artifact_dirs(dirs[0]) == artifact_dirs(dirs[1])
    assert artifact_dirs(dirs[1]) == ["c", "d"]
    # 0 keeps everything
    for ident in ("e", "f"):
        run_both(real_runner, arc, dirs, ident, 0)
    assert artifact_dirs(dirs[0]) == artifact_dirs(dirs[1]) == ["c", "d", "e", "f"]
    # the oldest go first, by modification time, not by name
    os.utime(dirs[1] / "artifacts" / "c", (1, 1))
    os.utime(dirs[0] / "artifacts" / "c", (1, 1))
    os.utime(dirs[1] / "artifacts" / "f", (2, 2))
    os.utime(dirs[0] / "artifacts" / "f", (2, 2))
    run_both(real_runner, arc, dirs, "g", 3)
    assert artifact_dirs(dirs[0]) == artifact_dirs(dirs[1]) == ["d", "e", "g"]
    # 1 keeps only the job's own dir
    run_both(real_runner, arc, dirs, "h", 1)
    assert artifact_dirs(dirs[0]) == artifact_dirs(dirs[1]) == ["h"]


def test_run_rotation_leaves_files_and_links_alone(arc, pdd, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("x")
    (pdd / "artifacts").mkdir()
    (pdd / "artifacts" / "note.txt").write_text("mine")
    os.symlink(outside, pdd / "artifacts" / "link")
    for ident in ("a", "b"):
        p = run([arc, "run", str(pdd), *JOB, "--ident", ident, "--rotate-artifacts", "1"])
        assert p.returncode == 0, p.stderr
    assert artifact_dirs(pdd) == ["b", "link", "note.txt"]
    assert (outside / "keep").read_text() == "x"


def test_worker_rotates_like_ansible_runner(real_runner, arc, pdd, tmp_path):
    """transmit -> worker --private-data-dir D, D reused: the kwargs carry rotate_artifacts."""
    dirs = (tmp_path / "wreal", tmp_path / "wours")
    for ident in ("a", "b", "c"):
        p = run([arc, "transmit", str(pdd), *JOB, "--ident", ident, "--rotate-artifacts", "2"])
        assert p.returncode == 0, p.stderr
        assert split_stream(p.stdout)[0]["kwargs"]["rotate_artifacts"] == 2
        for exe, d in zip((real_runner, arc), dirs):
            w = run([exe, "worker", "--private-data-dir", str(d)], stdin=p.stdout)
            assert w.returncode == 0, (exe, w.stderr)
            assert [o["status"] for o in split_stream(w.stdout) if "status" in o][-1] == "successful"
        assert artifact_dirs(dirs[0]) == artifact_dirs(dirs[1])
    assert artifact_dirs(dirs[1]) == ["b", "c"]


def test_worker_refuses_non_integer_rotate(arc, pdd):
    p = run([arc, "transmit", str(pdd), *JOB, "--ident", "s"])
    stream = p.stdout.replace(b'"rotate_artifacts": 0', b'"rotate_artifacts": "2"', 1)
    assert stream != p.stdout
    w = run([arc, "worker"], stdin=stream)
    assert w.returncode == 1
    assert b"rotate_artifacts must be an integer" in w.stderr
