"""Hostile inputs, keep-alives and interop with the real ansible-runner 2.3.1."""
import base64
import io
import json
import os
import zipfile

import pytest

from conftest import run
from streamutil import event_keys, split_stream

PARSE_ERR = (b'{"status": "error", "job_explanation": "Failed to JSON parse a line from transmit '
             b'stream."}\n{"eof": true}\n')
EXTRACT_ERR = "Failed to extract private data directory on worker."


def blob_stream(zbytes, kwargs=None):
    head = json.dumps({"kwargs": kwargs or {"ident": "x", "playbook": "demo.yml"}}).encode()
    return (head + b"\n" + json.dumps({"zipfile": len(zbytes)}).encode() + b"\n" +
            base64.b64encode(zbytes) + b'{"eof": true}\n')


def make_zip(entries):
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return bio.getvalue()


def test_long_garbage_line(arc):
    p = run([arc, "worker"], stdin=b"x" * 10000 + b"\n")
    assert p.returncode == 0 and p.stdout == PARSE_ERR


@pytest.mark.parametrize("name", ["../evil", "a/../../evil", "/abs/evil"])
def test_zip_traversal_refused(arc, tmp_path, name):
    d = tmp_path / "w" / "pdd"
    p = run([arc, "worker", f"--private-data-dir={d}"],
            stdin=blob_stream(make_zip([(name, b"pwned", 0o100644)])))
    objs = [json.loads(x) for x in p.stdout.splitlines()]
    assert p.returncode == 0 and objs[0]["job_explanation"] == EXTRACT_ERR
    assert "unsafe zip entry" in objs[0]["result_traceback"] and objs[1] == {"eof": True}
    assert not (tmp_path / "w" / "evil").exists() and not (tmp_path / "evil").exists()


def test_zip_symlink_escape_refused(arc, tmp_path):
    d = tmp_path / "pdd"
    z = make_zip([("project/out", "../../../etc", 0o120777)])
    p = run([arc, "worker", f"--private-data-dir={d}"], stdin=blob_stream(z))
    objs = [json.loads(x) for x in p.stdout.splitlines()]
    assert objs[0]["job_explanation"] == EXTRACT_ERR
    assert "leaves the directory" in objs[0]["result_traceback"]


def test_zip_bomb_refused(arc, tmp_path):
    z = make_zip([("project/zeros", b"\0" * (32 << 20), 0o100644)])  # 32 MiB in ~32 KiB
    p = run([arc, "worker", f"--private-data-dir={tmp_path / 'pdd'}"], stdin=blob_stream(z),
            env={"RUNNER_C_MAX_UNZIP_BYTES": str(8 << 20)})
    objs = [json.loads(x) for x in p.stdout.splitlines()]
    assert objs[0]["job_explanation"] == EXTRACT_ERR
    assert "zip bomb refused" in objs[0]["result_traceback"]


def test_truncated_base64_body(arc, vectors):
    raw = (vectors / "transmit.stream").read_bytes()
    start = raw.index(b"UEsDB")
    p = run([arc, "worker"], stdin=raw[:start + 500])
    objs = [json.loads(x) for x in p.stdout.splitlines()]
    assert p.returncode == 0 and objs[0]["job_explanation"] == EXTRACT_ERR
    assert objs[1] == {"eof": True}


def test_keepalive_never_inside_a_line(arc, vectors, real_runner, have_ansible, tmp_path):
    p = run([arc, "worker", "--keepalive-seconds", "1e-9"],
            stdin=(vectors / "transmit-sleep.stream").read_bytes())
    assert p.returncode == 0
    objs = split_stream(p.stdout)  # every line parses
    assert sum(1 for o in objs if o.get("event") == "keepalive") > 0
    kept = [o for o in objs if o.get("event") == "keepalive"]
    assert all(o == {"event": "keepalive", "counter": 0, "uuid": 0} for o in kept)
    assert "eof" in objs[-1]
    real = event_keys(split_stream((vectors / "worker-keepalive-upstream.stream").read_bytes()))
    assert [k[0] for k in event_keys(objs)] == [k[0] for k in real]
    q = run([real_runner, "process", str(tmp_path / "p")], stdin=p.stdout)
    assert q.returncode == 0
    assert (tmp_path / "p/artifacts/status").read_text() == "successful"


def artifacts_view(d):
    ev = list(json.loads(f.read_text()) for f in (d / "job_events").iterdir()
                if f.name != "0-0.json") if (d / "job_events").exists() else []
    ev = sorted(ev, key=lambda e: e["counter"])
    return {
        "status": (d / "status").read_text(), "rc": (d / "rc").read_text(),
        "fact_cache": sorted(os.listdir(d / "fact_cache")),
        "events": [(e["event"], e["counter"], e["start_line"], e["end_line"],
                    sorted(e), sorted(e.get("event_data", {}))) for e in ev],
        "stdout_lines": len((d / "stdout").read_text().splitlines()),
    }


@pytest.mark.parametrize("which", ["pdd", "pdd_fail"])
def test_interop_both_directions(arc, vectors, real_runner, have_ansible, tmp_path, which):
    import shutil
    src = tmp_path / "src"
    shutil.copytree(vectors / which, src)
    os.chmod(src, 0o755)
    for q in src.rglob("*"):
        q.chmod(q.stat().st_mode | 0o200)
    # all real
    t = run([real_runner, "transmit", str(src), "-p", "demo.yml", "--ident", "i1"]).stdout
    w = run([real_runner, "worker"], stdin=t).stdout
    run([real_runner, "process", str(tmp_path / "real")], stdin=w)
    ref = artifacts_view(tmp_path / "real/artifacts")
    # H1: our transmit -> real worker -> our process
    t1 = run([arc, "transmit", str(src), "-p", "demo.yml", "--ident", "i1"]).stdout
    w1 = run([real_runner, "worker"], stdin=t1).stdout
    p1 = run([arc, "process", str(tmp_path / "h1")], stdin=w1)
    assert p1.returncode == 0
    assert artifacts_view(tmp_path / "h1/artifacts") == ref
    # H2: real transmit -> our worker -> real process
    w2 = run([arc, "worker"], stdin=t)
    assert w2.stderr == b""
    p2 = run([real_runner, "process", str(tmp_path / "h2")], stdin=w2.stdout)
    assert p2.returncode == 0
    assert artifacts_view(tmp_path / "h2/artifacts") == ref


def test_awx_api_stream_into_our_worker(arc, vectors, real_runner, have_ansible, tmp_path):
    """AWX-style API transmit (non-container variant) processed by the real Processor."""
    import shutil
    src = tmp_path / "src"
    shutil.copytree(vectors / "pdd", src)
    for q in [src, *src.rglob("*")]:
        q.chmod(q.stat().st_mode | 0o200)
    code = f"""
import sys, ansible_runner.interface as i
i.run(streamer='transmit', _output=open(sys.argv[1], 'wb'), private_data_dir={str(src)!r},
      ident=42, playbook='demo.yml', inventory={str(src / 'inventory/hosts')!r},
      passwords={{'Vault password:\\\\s*?$': ''}}, suppress_env_files=True,
      envvars={{'JOB_ID': '42', 'ANSIBLE_FORCE_COLOR': 'True', 'MAX_EVENT_RES': '700000'}},
      fact_cache_type='jsonfile', settings={{'job_timeout': 0, 'suppress_ansible_output': True}})
"""
    stream = tmp_path / "api.stream"
    r = run(["/usr/bin/python3", "-c", code, str(stream)])
    assert r.returncode == 0, r.stderr
    w = run([arc, "worker", f"--private-data-dir={tmp_path / 'exec'}", "--delete"],
            stdin=stream.read_bytes())
    assert w.returncode == 0 and w.stderr == b""
    objs = split_stream(w.stdout)
    evs = [o for o in objs if "counter" in o]
    assert all(e["job_id"] == 42 and e["runner_ident"] == "42" for e in evs if "pid" in e)
    assert any("\x1b[0;32m" in e["stdout"] for e in evs)
    assert not (tmp_path / "exec").exists()
    # H3: the real Processor with AWX-like handlers
    h3 = f"""
import sys, ansible_runner.interface as i
seen = []
def st(d, runner_config):
    if d['status'] == 'starting':
        dict(runner_config.env); assert isinstance(runner_config.command, list)
def ev(e):
    if e['stdout'] == '': e['start_line'], e['end_line']
    assert isinstance(e.get('event_data', {{}}), dict); seen.append(e['counter']); return False
r = i.run(streamer='process', quiet=True, _input=open(sys.argv[1], 'rb'), private_data_dir=sys.argv[2],
          ident=42, event_handler=ev, status_handler=st)
assert r.status == 'successful', r.status
assert seen == list(range(1, len(seen) + 1)) and len(seen) == 9, seen
"""
    (tmp_path / "w.stream").write_bytes(w.stdout)
    r = run(["/usr/bin/python3", "-c", h3, str(tmp_path / "w.stream"), str(tmp_path / "ctl")])
    assert r.returncode == 0, r.stderr


def test_run_matches_vector(arc, vectors, have_ansible, pdd):
    p = run([arc, "run", str(pdd), "-p", "demo.yml", "--ident", "run1"])
    assert p.returncode == 0
    assert p.stdout == (vectors / "run.out").read_bytes()
    art = pdd / "artifacts/run1"
    ref = vectors / "run_artifacts"
    assert sorted(os.listdir(art)) == sorted(os.listdir(ref))
    assert (art / "stdout").read_bytes() == (ref / "stdout").read_bytes()
    assert len(os.listdir(art / "job_events")) == len(os.listdir(ref / "job_events"))
    assert (art / "status").read_text() == "successful" and (art / "rc").read_text() == "0"
    assert oct((art / "stdout").stat().st_mode & 0o777) == "0o600"


KW = b'{"kwargs": {"ident": "x", "playbook": "demo.yml"}}\n'
ERROR_CLASSES = {
    # the zipfile header promises more than follows
    "truncated": KW + b'{"zipfile": 100}\nUEsDBA==',
    "bad-base64": KW + b'{"zipfile": 8}\n!!!!!!!!{"eof": true}\n',
    "bad-zip": KW + b'{"zipfile": 8}\n' + base64.b64encode(b"ABCDEFGH") + b'{"eof": true}\n',
    "bad-json": b"{not json\n",
    "json-not-an-object": b'[1, 2]\n{"eof": true}\n',
    "no-kwargs": b'{"eof": true}\n',
    "zipfile-not-a-number": KW + b'{"zipfile": "eight"}\n{"eof": true}\n',
}


def worker_answer(exe, data, tmp_path, tag):
    pdd = tmp_path / tag
    pdd.mkdir()
    r = run([exe, "worker", "--private-data-dir", str(pdd)], stdin=data, timeout=120)
    lines = []
    for line in r.stdout.splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        # the traceback names the implementation's own files; the rest must agree
        obj.pop("result_traceback", None)
        lines.append(obj)
    return r.returncode, lines, r.stdout


@pytest.mark.parametrize("case", sorted(ERROR_CLASSES))
def test_worker_error_classes_match_the_real_runner(arc, real_runner, tmp_path, case):
    """Every class of broken transmit stream gets the real worker's status
    line, job_explanation and exit code (issue 12 item 3; docs/runner.md)."""
    data = ERROR_CLASSES[case]
    rc_real, real, raw_real = worker_answer(real_runner, data, tmp_path, "real")
    rc_ours, ours, raw_ours = worker_answer(arc, data, tmp_path, "ours")
    assert ours == real, (raw_ours, raw_real)
    assert rc_ours == rc_real, (rc_ours, rc_real, raw_ours, raw_real)
