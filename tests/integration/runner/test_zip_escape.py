"""Hostile zips whose symlinks only escape once resolved on disk (issue 10 item 1).

Every link below passes a purely lexical check ("l2 -> l1/.." looks like it
stays at the top), yet l1 -> "." makes l2 the parent of the extraction
directory.  `process` (artifact zip) and `worker` (private data dir zip)
must refuse such archives with a clear error, leave no escaping link behind
and write nothing outside the directory."""
import base64
import io
import json
import os
import stat
import zipfile

import pytest

from conftest import run

LINK = 0o120777
EXTRACT_ERR = "Failed to extract private data directory on worker."


def make_zip(entries):
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            z.writestr(info, data)
    return bio.getvalue()


def chain(n):
    """l1 -> ., l2 -> l1/.., ... : l<k> is k-1 levels above the directory."""
    out = [("l1", ".", LINK)]
    out += [(f"l{k}", f"l{k - 1}/..", LINK) for k in range(2, n + 1)]
    return out


def zip_line(z):
    return json.dumps({"zipfile": len(z)}).encode() + b"\n" + base64.b64encode(z)


def event_line(counter, uuid, text="hello"):
    return json.dumps({"event": "verbose", "counter": counter, "uuid": uuid, "stdout": text,
                       "start_line": 0, "end_line": 1}).encode() + b"\n"


def escaping_links(root):
    """Links under root whose physical resolution is outside root."""
    real = os.path.realpath(root)
    bad = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            if os.path.islink(p):
                r = os.path.realpath(p)
                if r != real and not r.startswith(real + os.sep):
                    bad.append((p, os.readlink(p), r))
    return bad


def test_process_refuses_symlink_chain(arc, tmp_path):
    """The worker's artifact zip plants job_events/1-u.json -> ../l4/victim,
    which is tmp_path/victim; the event that follows must not be written
    there."""
    pdd = tmp_path / "pdd"
    art = pdd / "artifacts" / "ident"
    z = make_zip(chain(4) + [("job_events/1-u.json", "../l4/victim", LINK),
                             ("stdout", "l5/owned", LINK), ("l5", "l4/..", LINK)])
    stream = zip_line(z) + event_line(1, "u") + b'{"eof": true}\n'
    p = run([arc, "process", str(pdd), "--ident", "ident"], stdin=stream)
    assert not (tmp_path / "victim").exists()
    assert escaping_links(art) == []
    assert p.returncode != 0
    assert b"leaves the directory" in p.stderr


def test_worker_refuses_symlink_chain(arc, tmp_path):
    """The controller's private data dir zip plants
    artifacts/x/stdout -> ../../l2/victim, i.e. tmp_path/w/victim."""
    pdd = tmp_path / "w" / "pdd"
    z = make_zip(chain(3) + [("artifacts/x/stdout", "../../l2/victim", LINK),
                             ("fact_cache", "l2/facts", LINK)])
    kw = {"ident": "x", "binary": "/bin/echo", "cmdline": "pwned"}
    stream = (json.dumps({"kwargs": kw}).encode() + b"\n" + zip_line(z) + b'{"eof": true}\n')
    p = run([arc, "worker", f"--private-data-dir={pdd}"], stdin=stream)
    assert not (tmp_path / "w" / "victim").exists()
    assert escaping_links(pdd) == []
    objs = [json.loads(x) for x in p.stdout.splitlines()]
    assert objs[0]["status"] == "error" and objs[0]["job_explanation"] == EXTRACT_ERR
    assert "leaves the directory" in objs[0]["result_traceback"]
    assert objs[-1] == {"eof": True}


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_relinking_cannot_redirect_an_earlier_link(arc, tmp_path):
    """b -> a/.. is harmless while a is a real directory's link; replacing a
    with a -> . afterwards would make b escape.  The final state counts."""
    pdd = tmp_path / "w" / "pdd"
    z = make_zip([("sub/", b"", 0o40755), ("a", "sub", LINK), ("b", "a/..", LINK),
                  ("a", ".", LINK)])
    stream = json.dumps({"kwargs": {"ident": "x"}}).encode() + b"\n" + zip_line(z) + b'{"eof": true}\n'
    p = run([arc, "worker", f"--private-data-dir={pdd}"], stdin=stream)
    assert escaping_links(pdd) == []
    objs = [json.loads(x) for x in p.stdout.splitlines()]
    assert objs[0]["job_explanation"] == EXTRACT_ERR
    assert "leaves the directory" in objs[0]["result_traceback"]


def test_links_inside_still_extract(arc, tmp_path):
    """Links that really stay inside (also through other links) are kept."""
    pdd = tmp_path / "pdd"
    art = pdd / "artifacts" / "ident"
    z = make_zip([("d/f", b"data", 0o100644), ("here", ".", LINK), ("d2", "here/d", LINK),
                  ("d/up", "../d2/f", LINK), ("dangling", "nothing/yet", LINK)])
    p = run([arc, "process", str(pdd), "--ident", "ident"], stdin=zip_line(z) + b'{"eof": true}\n')
    assert p.returncode == 0, p.stderr
    assert (art / "d" / "up").read_bytes() == b"data"
    assert os.readlink(art / "dangling") == "nothing/yet"


def test_setuid_bits_masked(arc, tmp_path):
    pdd = tmp_path / "pdd"
    art = pdd / "artifacts" / "ident"
    z = make_zip([("suid", b"#!/bin/sh\n", 0o106755), ("sticky/", b"", 0o41777)])
    p = run([arc, "process", str(pdd), "--ident", "ident"], stdin=zip_line(z) + b'{"eof": true}\n')
    assert p.returncode == 0, p.stderr
    assert stat.S_IMODE((art / "suid").stat().st_mode) == 0o755
    assert stat.S_IMODE((art / "sticky").stat().st_mode) == 0o777


def test_process_replaces_planted_event_link(arc, tmp_path):
    """A link that stays inside is extracted, but an event file is written
    in its place, not through it."""
    pdd = tmp_path / "pdd"
    art = pdd / "artifacts" / "ident"
    z = make_zip([("keep", b"original", 0o100644), ("job_events/1-u.json", "../keep", LINK)])
    p = run([arc, "process", str(pdd), "--ident", "ident"],
            stdin=zip_line(z) + event_line(1, "u") + b'{"eof": true}\n')
    assert p.returncode == 0, p.stderr
    assert (art / "keep").read_bytes() == b"original"
    ev = art / "job_events" / "1-u.json"
    assert not ev.is_symlink() and json.loads(ev.read_text())["uuid"] == "u"


def test_worker_does_not_write_through_planted_links(arc, tmp_path):
    """artifacts/x/stdout -> ../../project/keep stays inside, so it is
    extracted; the job's stdout must replace it, not overwrite project/keep."""
    pdd = tmp_path / "w" / "pdd"
    z = make_zip([("project/keep", b"original", 0o100644),
                  ("artifacts/x/stdout", "../../project/keep", LINK),
                  ("artifacts/x/status", "../../project/keep", LINK)])
    kw = {"ident": "x", "binary": "/bin/echo", "cmdline": "hello"}
    stream = json.dumps({"kwargs": kw}).encode() + b"\n" + zip_line(z) + b'{"eof": true}\n'
    p = run([arc, "worker", f"--private-data-dir={pdd}"], stdin=stream)
    assert p.returncode == 0, p.stderr
    assert (pdd / "project" / "keep").read_bytes() == b"original"
    out = pdd / "artifacts" / "x" / "stdout"
    assert not out.is_symlink() and b"hello" in out.read_bytes()
    st = pdd / "artifacts" / "x" / "status"
    assert not st.is_symlink() and st.read_text() == "successful"


def test_worker_refuses_symlinked_artifact_dir(arc, tmp_path):
    """artifacts -> project (inside) would put the job's files where the
    archive chose: refused with a clear error, nothing written there."""
    pdd = tmp_path / "w" / "pdd"
    z = make_zip([("project/", b"", 0o40755), ("artifacts", "project", LINK)])
    kw = {"ident": "x", "binary": "/bin/echo", "cmdline": "hello"}
    stream = json.dumps({"kwargs": kw}).encode() + b"\n" + zip_line(z) + b'{"eof": true}\n'
    p = run([arc, "worker", f"--private-data-dir={pdd}"], stdin=stream)
    assert p.returncode != 0
    assert b"cannot create the artifact directory" in p.stderr
    assert list((pdd / "project").iterdir()) == []


def test_link_loop_refused_with_its_own_message(arc, tmp_path):
    """a -> b, b -> a cannot be resolved at all: refused, and said so."""
    pdd = tmp_path / "pdd"
    z = make_zip([("a", "b", LINK), ("b", "a", LINK)])
    p = run([arc, "process", str(pdd), "--ident", "ident"], stdin=zip_line(z) + b'{"eof": true}\n')
    assert p.returncode != 0
    assert b"loops once the later entries are in place" in p.stderr
