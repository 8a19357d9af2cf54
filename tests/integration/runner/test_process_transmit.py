"""process and transmit against the vectors, byte for byte where deterministic."""
import json
import os
import stat
import zipfile
import io
import base64

import pytest

from conftest import run
from streamutil import split_stream


def tree(d):
    return sorted(str(p.relative_to(d)) for p in d.rglob("*"))


def test_process_matches_vector(arc, vectors, tmp_path):
    out = tmp_path / "po"
    p = run([arc, "process", str(out)], stdin=(vectors / "worker.stream").read_bytes())
    assert p.returncode == 0
    assert p.stdout == (vectors / "process.out").read_bytes()
    assert tree(out) == tree(vectors / "proc_out")
    for f in (vectors / "proc_out").rglob("*"):
        if f.is_file():
            assert (out / f.relative_to(vectors / "proc_out")).read_bytes() == f.read_bytes(), f
    ev = out / "artifacts/job_events"
    assert stat.S_IMODE(ev.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in ev.iterdir())


def test_process_ident_and_fail(arc, vectors, tmp_path):
    p = run([arc, "process", str(tmp_path / "pi"), "--ident", "demo-ident"],
            stdin=(vectors / "worker.stream").read_bytes())
    assert p.stdout == (vectors / "process-ident.out").read_bytes()
    assert tree(tmp_path / "pi") == tree(vectors / "proc_out_ident")
    p = run([arc, "process", str(tmp_path / "pf")], stdin=(vectors / "worker-fail.stream").read_bytes())
    assert p.returncode == 0 and p.stdout == (vectors / "process-fail.out").read_bytes()
    assert (tmp_path / "pf/artifacts/status").read_text() == "failed"


def test_process_notjson_and_truncated_event(arc, vectors, tmp_path):
    p = run([arc, "process", str(tmp_path / "a")], stdin=b"this is not json\n")
    assert p.returncode == 0 and p.stdout == b""
    raw = (vectors / "worker.stream").read_bytes()
    cut = raw.index(b'"counter": 5') + 20   # the stream stops in the middle of an event line
    p = run([arc, "process", str(tmp_path / "b")], stdin=raw[:cut])
    assert p.returncode == 0
    assert len(list((tmp_path / "b/artifacts/job_events").iterdir())) == 4


def test_process_ignores_keepalive(arc, vectors, tmp_path):
    raw = (vectors / "worker-keepalive-upstream.stream").read_bytes()
    p = run([arc, "process", str(tmp_path / "k")], stdin=raw)
    assert p.returncode == 0
    names = os.listdir(tmp_path / "k/artifacts/job_events")
    assert "0-0.json" not in names and names


def zip_entries(z):
    return {i.filename: (i.external_attr >> 16, i.date_time, z.read(i.filename)) for i in z.infolist()}


def test_transmit_matches_vector(arc, vectors, tmp_path):
    for name, args in (("transmit.stream", ["-p", "demo.yml"]),
                       ("transmit-symlinks.stream", ["-p", "link.yml", "--ident", "links1"])):
        real = split_stream((vectors / name).read_bytes())
        ident = real[0]["kwargs"]["ident"]
        src = tmp_path / name
        src.mkdir()
        # rebuild the transmitted tree from the vector itself
        for info in real[1]["zip"].infolist():
            mode = info.external_attr >> 16
            dst = src / info.filename
            if stat.S_ISDIR(mode):
                dst.mkdir(parents=True, exist_ok=True)
            elif stat.S_ISLNK(mode):
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(real[1]["zip"].read(info.filename).decode(), dst)
            else:
                dst.parent.mkdir(parents=True, exist_ok=True)
                dst.write_bytes(real[1]["zip"].read(info.filename))
                os.chmod(dst, stat.S_IMODE(mode))
        for info in real[1]["zip"].infolist():
            mode = info.external_attr >> 16
            if not stat.S_ISLNK(mode):
                import time
                t = time.mktime(info.date_time + (0, 0, -1))
                os.utime(src / info.filename, (t, t))
        argv = [arc, "transmit", str(src)] + args
        if "--ident" not in args:
            argv += ["--ident", ident]
        p = run(argv)
        assert p.returncode == 0
        raw = p.stdout
        assert raw.split(b"\n")[0] == (vectors / name).read_bytes().split(b"\n")[0]
        ours = split_stream(raw)
        assert ours[-1] == {"eof": True} and raw.endswith(b'{"eof": true}\n')
        assert zip_entries(ours[1]["zip"]) == zip_entries(real[1]["zip"])
        # no newline between the blob and the eof line
        assert b"\n{\"eof\"" not in raw


def test_transmit_only_the_kwargs_keys(arc, tmp_path, vectors):
    p = run([arc, "transmit", str(tmp_path / "new"), "-p", "x.yml", "--cmdline", "--check"])
    objs = split_stream(p.stdout)
    kw = objs[0]["kwargs"]
    assert len(kw["ident"]) == 32 and "cmdline" not in kw
    # 2.3.1 dumps it into env/cmdline (0400); ours puts it only in the zip
    assert objs[1]["zip"].read("env/cmdline") == b"--check"
    assert objs[1]["zip"].getinfo("env/cmdline").external_attr >> 16 == 0o100400
    assert not (tmp_path / "new/env").exists()
    p = run([arc, "transmit", str(tmp_path / "new"), "-p", "x.yml", "--inventory", "nope"])
    assert p.returncode == 1 and b"nope" in p.stderr


# Every option of 2.3.1's `transmit` (its --help), one per case; the kwargs
# line must be the real one (types included: --forks stays the string
# argparse made), and an option the real transmit refuses is refused.
TRANSMIT_OPTIONS = [
    [], ["--forks", "1"], ["--forks", "0"], ["--limit", "web"], ["-v"], ["-vvv"], ["-m", "ping"],
    ["-m", "ping", "-a", "data=x"], ["-m", "ping", "--hosts", "h1"], ["--cmdline=--check"],
    ["--rotate-artifacts", "3"], ["--artifact-dir", "/tmp/a"], ["--project-dir", "/tmp/p"],
    ["--inventory", "/etc/hostname"], ["-j"], ["--json"], ["--omit-event-data"],
    ["--only-failed-event-data"], ["--omit-env-files"], ["-q"], ["--roles-path", "/tmp/r"],
    ["--logfile", "/dev/null"], ["-b", "/bin/true"], ["--binary", "/bin/true"], ["--ident", "myid"],
    ["-i", "myid"], ["--container-image", "img:1"], ["--container-volume-mount", "/a:/b"],
    ["--container-volume-mount", "/a:/b", "--container-volume-mount", "/c:/d"],
    ["--container-option=--net=host"], ["-r", "greeter"], ["-r", "greeter", "--role-skip-facts"],
    ["-r", "greeter", "--role-vars", "a=1 b=True c=x"],
    # refused by 2.3.1's transmit parser
    ["--process-isolation"], ["--process-isolation-executable", "docker"],
    ["--process-isolation-path", "/tmp"], ["--process-isolation-show-paths", "/c"],
    ["--directory-isolation-base-path", "/tmp/x"],
]


def transmit_kwargs(exe, args, pdd):
    p = run([exe, "transmit", str(pdd)] + (["-p", "x.yml"] if "-m" not in args and "-r" not in args
                                             else []) + args)
    if p.returncode != 0:
        return p.returncode, None
    kw = json.loads(p.stdout.split(b"\n", 1)[0])["kwargs"]
    if "--ident" not in args and "-i" not in args:
        assert len(kw.pop("ident")) == 32
    if "-r" in args:
        kw.pop("playbook")  # a fresh uuid4().hex name each time (test_roles.py checks its shape)
    return 0, kw


@pytest.mark.parametrize("args", TRANSMIT_OPTIONS, ids=" ".join)
def test_transmit_option_kwargs_match_the_real_transmit(arc, real_runner, tmp_path, args):
    """Issue 12 item 2: each option's kwargs (type, default, omission)."""
    got = {}
    for who, exe in (("real", real_runner), ("ours", arc)):
        pdd = tmp_path / who  # a fresh source each: 2.3.1 writes env/cmdline into it
        (pdd / "project").mkdir(parents=True)
        (pdd / "project" / "x.yml").write_text("- hosts: localhost\n")
        got[who] = transmit_kwargs(exe, args, pdd)
    assert got["ours"] == got["real"]
    if got["real"][0] != 0:
        assert got["real"][0] == 2
