"""Process isolation (spec 7 and checklist 39-41), for real.

Two groups:

* The engine command line, without running a container: our worker is
  given a fake `podman`/`docker` first in PATH that records its argv, cwd,
  environment, the env.list and the registry credential files, and the
  result is compared with vectors/runner/container-commands.json and with
  what Debian's ansible-runner 2.3.1 `RunnerConfig.prepare()` builds for
  the same inputs (volume-mount rules, workdir, options, auth).  These run
  in every pass.

* Real containers (fixture `ee`, see isolation_env.py): an EE image built
  from Debian packages, pushed to a local docker-registry with htpasswd auth
  and a self-signed certificate; jobs pull it through container_auth_data
  with verify_ssl false (our worker from an AWX-style API transmit, and our
  `run` from env/settings), plus wrong credentials, verify_ssl true, cancel
  and timeout (the container must be gone).  Skipped only when podman
  cannot run a container on the machine (the reason is printed) or when
  the tools are not installed (scripts/install-deps).  They run in both
  passes of `make check` (about 40 s, 56 s under ASan, with the image
  cached); RECEPTOR_ISOLATION_SKIP_SANITIZED=1 skips them in the ASan pass.
"""
import base64
import io
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
import zipfile

import pytest

from conftest import clean_env, run
from streamutil import split_stream

sys.path.insert(0, os.path.dirname(__file__))
import isolation_env  # noqa: E402

VECTOR_PDD = "/run/vectors/runner/pi_pdd"
REGDIR_RE = re.compile(r"ansible_runner_registry_([^/\s\"]+?)_[a-z0-9_]{8}")


# ---- helpers ----------------------------------------------------------------

def make_stream(kwargs, src):
    """A transmit stream (kwargs line, zipped PDD, eof) as transmit writes it."""
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(pathlib.Path(src).rglob("*")):
            if p.is_file():
                info = zipfile.ZipInfo(str(p.relative_to(src)))
                info.external_attr = (p.stat().st_mode & 0o777 | 0o100000) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, p.read_bytes())
    blob = bio.getvalue()
    return (json.dumps({"kwargs": kwargs}).encode() + b"\n" +
            json.dumps({"zipfile": len(blob)}).encode() + b"\n" +
            base64.b64encode(blob) + b'{"eof": true}\n')


def copy_pdd(vectors, dst):
    shutil.copytree(vectors / "pdd", dst)
    for q in [dst, *dst.rglob("*")]:
        q.chmod(q.stat().st_mode | 0o200)
    return dst


def registry_dirs(tmpdir):
    return sorted(p.name for p in pathlib.Path(tmpdir).glob("ansible_runner_registry_*"))


def normalise(obj, pdd_from, pdd_to, tmp):
    """Replace a PDD path and the random registry-dir suffix."""
    s = json.dumps(obj).replace(pdd_from, pdd_to)
    s = s.replace(str(tmp) + "/ansible_runner_registry_", "/tmp/ansible_runner_registry_")
    s = REGDIR_RE.sub(r"ansible_runner_registry_\1_XXXXXXXX", s)
    return json.loads(s)


FAKE_ENGINE = r"""#!/usr/bin/python3
# A stand-in container engine: records what it was given, runs nothing.
import json, os, sys
if sys.argv[1:] == ["--version"]:
    print(os.path.basename(sys.argv[0]) + " version 0.0-fake")
    sys.exit(0)
rec = {"argv": sys.argv, "cwd": os.getcwd(), "files": {}, "dir_mode": None,
       "env": {k: os.environ.get(k) for k in ("CONTAINERS_REGISTRIES_CONF",
                                              "REGISTRIES_CONFIG_PATH", "FAKE_ENGINE_LOG")}}
for i, a in enumerate(sys.argv):
    d = None
    if a.startswith("--authfile="):
        d = os.path.dirname(a.split("=", 1)[1])
    elif a.startswith("--config="):
        d = a.split("=", 1)[1]
    elif a == "--env-file":
        rec["env_list"] = open(sys.argv[i + 1]).read()
    if d:
        rec["dir"] = d
        rec["dir_mode"] = oct(os.stat(d).st_mode & 0o777)
        for f in sorted(os.listdir(d)):
            p = os.path.join(d, f)
            rec["files"][f] = [open(p).read(), oct(os.stat(p).st_mode & 0o777)]
with open(os.environ["FAKE_ENGINE_LOG"], "a") as f:
    f.write(json.dumps(rec) + "\n")
"""


@pytest.fixture
def fake_engine(tmp_path):
    b = tmp_path / "fakebin"
    b.mkdir()
    for name in ("podman", "docker"):
        (b / name).write_text(FAKE_ENGINE)
        (b / name).chmod(0o755)
    log = tmp_path / "engine.log"
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {"PATH": f"{b}:/usr/bin:/bin", "FAKE_ENGINE_LOG": str(log), "TMPDIR": str(tmp)}
    return env, log, tmp


def fake_worker(arc, kwargs, vectors, tmp_path, env):
    pdd = tmp_path / "exec"
    p = run([arc, "worker", f"--private-data-dir={pdd}"],
            stdin=make_stream(kwargs, vectors / "pdd"), env=env)
    return pdd, p


# ---- the command line: vector and 2.3.1 ---------------------------------------

VECTOR_KWARGS = {
    "ident": 42, "playbook": "demo.yml", "process_isolation": True,
    "container_image": "quay.io/ansible/awx-ee:latest",
    "container_options": ["--user=root", "--network", "slirp4netns:enable_ipv6=true",
                          "--pull=missing"],
    "container_volume_mounts": ["/etc/ssl/certs:/etc/pki/ca-trust/extracted/pem:O"],
    "container_auth_data": {"host": "registry.example.com", "username": "user",
                            "password": "pass", "verify_ssl": False},
}


@pytest.mark.parametrize("engine", ["podman", "docker"])
def test_engine_command_matches_vector(arc, vectors, tmp_path, fake_engine, engine):
    if not os.path.isdir("/etc/ssl/certs"):
        pytest.skip("the vector mounts /etc/ssl/certs, which this machine does not have")
    env, log, tmp = fake_engine
    want = json.loads((vectors / "container-commands.json").read_text())[engine]
    kwargs = dict(VECTOR_KWARGS, process_isolation_executable=engine)
    pdd, p = fake_worker(arc, kwargs, vectors, tmp_path, env)
    assert p.returncode == 0, p.stderr
    objs = split_stream(p.stdout)
    starting = [o for o in objs if o.get("status") == "starting"][0]
    want = normalise(want, VECTOR_PDD, str(pdd), tmp)
    if engine == "docker":
        want["command"] = [f"--user={os.getuid()}" if a == "--user=0" else a
                           for a in want["command"]]
    got = normalise(starting, "", "", tmp)
    assert got["command"] == want["command"]
    assert got["cwd"] == want["cwd"] == "/runner/project"
    assert list(got["env"].items()) == list(want["env"].items())  # same keys, same order
    # what the engine itself saw (the files are gone once the job ended)
    rec = json.loads(log.read_text().splitlines()[0])
    assert normalise(rec["argv"][1:], "", "", tmp) == want["command"][1:]
    assert rec["files"] == {k: [v, "0o600"] for k, v in want["registry_auth_dir_files"].items()}
    assert rec["dir_mode"] == "0o700"
    assert os.path.dirname(rec["dir"]) == str(tmp)
    conf = rec["dir"] + "/registries.conf"
    assert rec["env"]["CONTAINERS_REGISTRIES_CONF"] == conf == rec["env"]["REGISTRIES_CONFIG_PATH"]
    assert rec["env_list"] == "\n".join(f"{k}={v}" for k, v in starting["env"].items())
    # cleanup of the temporary authfile and registries.conf
    assert registry_dirs(tmp) == []
    z = [o for o in objs if "zip" in o][0]["zip"]
    names = z.namelist()
    assert "env.list" in names and "callback/awx_display.py" in names
    assert z.read("status") == b"successful"


REAL_CONFIG = r"""
import json, sys
from ansible_runner.config.runner import RunnerConfig
from ansible_runner.exceptions import ConfigurationError
kw = json.loads(sys.argv[2])
try:
    rc = RunnerConfig(private_data_dir=sys.argv[1], **kw)
    rc.prepare()
    print(json.dumps({"command": rc.command, "cwd": rc.cwd, "env": rc.env}))
except ConfigurationError as e:
    print(json.dumps({"error": str(e)}))
"""


def mount_cases(base):
    f = base / "files" / "one.cfg"
    d = base / "files" / "dir"
    return {
        "file-and-dir": [f"{f}:/etc/one.cfg:ro", f"{d}:/data", f"{d}/../dir:/data2:z"],
        "relative-dest-with-workdir": [f"{d}:rel/dir", f"{f}:cfg/one.cfg"],
        "duplicates-and-missing": [f"{d}:/data", f"{d}/:/data/", f"{base}/missing:/x",
                                   "$HOME:/h"],
        "labels": [f"{d}:/d1:Z", f"{d}:/d2:", f"{d}:/d3:ro,Z", f"{d}:/d4::z"],
        "usr-refused": ["/usr:/usr2"],
        "home-dest-refused": [f"{d}:/home"],
        "root-source-refused": [f"/:/x"],
    }


@pytest.mark.parametrize("engine", ["podman", "docker"])
@pytest.mark.parametrize("case", ["file-and-dir", "relative-dest-with-workdir",
                                  "duplicates-and-missing", "labels", "usr-refused",
                                  "home-dest-refused", "root-source-refused", "auth-verify",
                                  "settings-override"])
def test_engine_command_matches_runner_231(arc, vectors, real_runner, tmp_path, fake_engine,
                                           engine, case):
    """Our command line and environment == RunnerConfig.prepare() of 2.3.1 for the same inputs."""
    env, log, tmp = fake_engine
    base = tmp_path / "m"
    (base / "files" / "dir").mkdir(parents=True)
    (base / "files" / "one.cfg").write_text("x")
    kw = {"ident": "iso-cmd", "playbook": "demo.yml", "process_isolation": True,
          "process_isolation_executable": engine, "container_image": "example.test/ee:1"}
    settings = None
    if case == "auth-verify":
        kw["container_auth_data"] = {"host": "reg.test:5000", "username": "u",
                                     "password": "p:w\"d", "verify_ssl": True}
        kw["container_options"] = ["--pull=always"]
    elif case == "settings-override":
        kw["container_options"] = ["--from-kwargs"]
        settings = {"container_options": ["--from-settings", "-e", "X=1"],
                    "container_image": "example.test/ee:settings",
                    "container_auth_data": {"host": "h.test", "username": "su",
                                            "password": "sp", "verify_ssl": False}}
    else:
        kw["container_volume_mounts"] = mount_cases(base)[case]
        if case == "relative-dest-with-workdir":
            kw["container_workdir"] = "/work/dir"
    src = tmp_path / "src"
    copy_pdd(vectors, src)
    if settings:
        (src / "env" / "settings").write_text(json.dumps(settings))
    real_pdd = tmp_path / "real"
    copy_pdd(vectors, real_pdd)
    if settings:
        (real_pdd / "env" / "settings").write_text(json.dumps(settings))
    ref = run(["/usr/bin/python3", "-c", REAL_CONFIG, str(real_pdd), json.dumps(kw)], env=env)
    assert ref.returncode == 0, ref.stderr
    ref = normalise(json.loads(ref.stdout), str(real_pdd), "<PDD>", tmp)
    ours_pdd = tmp_path / "exec"
    p = run([arc, "worker", f"--private-data-dir={ours_pdd}"],
            stdin=make_stream(kw, src), env=env, cwd=str(tmp_path))
    if "error" in ref:
        assert ref["error"] in p.stderr.decode(), p.stderr
        assert not log.exists()  # the engine was never started
    else:
        assert p.returncode == 0, p.stderr
        starting = [o for o in split_stream(p.stdout) if o.get("status") == "starting"][0]
        got = normalise({k: starting[k] for k in ("command", "cwd", "env")}, str(ours_pdd),
                        "<PDD>", tmp)
        assert got["command"] == ref["command"]
        assert got["cwd"] == ref["cwd"]
        assert list(got["env"].items()) == list(ref["env"].items())
    assert registry_dirs(tmp) == []


def test_engine_kill_on_cancel_uses_container_name(arc, vectors, tmp_path, fake_engine):
    """Cancel runs `<engine> kill ansible_runner_<ident>` (spec 7.5), even with a fake engine."""
    env, log, tmp = fake_engine
    slow = tmp_path / "fakebin" / "podman"
    slow.write_text(FAKE_ENGINE.replace('with open(os.environ["FAKE_ENGINE_LOG"]',
                                        'import time\nif sys.argv[1] == "run":\n'
                                        '    open(os.environ["FAKE_ENGINE_LOG"], "a").write('
                                        'json.dumps(rec) + "\\n"); time.sleep(600)\n'
                                        'with open(os.environ["FAKE_ENGINE_LOG"]'))
    kw = {"ident": "a.b c", "playbook": "demo.yml", "process_isolation": True,
          "container_image": "x/y:z",
          "container_auth_data": {"host": "h", "username": "u", "password": "p"}}
    proc = subprocess.Popen([arc, "worker", f"--private-data-dir={tmp_path / 'exec'}"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=clean_env(env))
    proc.stdin.write(make_stream(kw, vectors / "pdd"))
    proc.stdin.close()
    deadline = time.time() + 30
    while not (log.exists() and log.read_text()):
        assert time.time() < deadline, "the engine never started"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out = proc.stdout.read()
    proc.wait(60)
    assert proc.returncode == 254
    calls = [json.loads(l)["argv"][1:] for l in log.read_text().splitlines()]
    assert ["kill", "ansible_runner_a_b_c"] in calls
    assert [o["status"] for o in split_stream(out) if "status" in o][-1] == "canceled"
    assert registry_dirs(tmp) == []


def test_bwrap_refused_not_run_unconfined(arc, vectors, tmp_path):
    kw = {"ident": "bw", "playbook": "demo.yml", "process_isolation": True,
          "process_isolation_executable": "true"}
    p = run([arc, "worker", f"--private-data-dir={tmp_path / 'exec'}"],
            stdin=make_stream(kw, vectors / "pdd"))
    assert p.returncode != 0 and b"bwrap sandbox) is not supported" in p.stderr
    assert not (tmp_path / "exec" / "artifacts" / "bw" / "job_events").exists() or \
        not any((tmp_path / "exec" / "artifacts" / "bw" / "job_events").iterdir())


def test_run_without_engine(arc, vectors, tmp_path):
    pdd = copy_pdd(vectors, tmp_path / "pdd")
    p = run([arc, "run", str(pdd), "-p", "demo.yml", "--process-isolation",
             "--process-isolation-executable", "no-such-engine-here"])
    assert p.returncode == 1
    assert p.stdout == b"Unable to find process isolation executable: no-such-engine-here\n"


# ---- real containers ----------------------------------------------------------

def _report(config, msg):
    """A line in the test log even under -q and output capture (timings for CI)."""
    tr = config.pluginmanager.get_plugin("terminalreporter")
    cap = config.pluginmanager.get_plugin("capturemanager")
    if tr is None or cap is None:
        print(msg)
        return
    with cap.global_and_fixture_disabled():
        tr.write_line(msg)


@pytest.fixture(scope="session")
def ee(request):
    if os.environ.get("RECEPTOR_ISOLATION_SKIP_SANITIZED") and os.environ.get("RECEPTOR_SANITIZED"):
        pytest.skip("real-container isolation tests: RECEPTOR_ISOLATION_SKIP_SANITIZED is set")
    report = lambda m: _report(request.config, m)  # noqa: E731
    try:
        with isolation_env.prepared_ee(report) as e:
            yield e
    except isolation_env.CannotRunContainers as why:
        pytest.skip(str(why))


@pytest.fixture
def node_env(ee, tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(ee.node.env, TMPDIR=str(tmp))
    return env, tmp


def ident(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def wait_gone(node, name, timeout=30):
    deadline = time.time() + timeout
    while node.container_exists(name):
        assert time.time() < deadline, f"container {name} is still there"
        time.sleep(0.2)


def sleeper_pdd(vectors, dst, seconds):
    pdd = copy_pdd(vectors, dst)
    (pdd / "project" / "sleep.yml").write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - name: Nap\n"
        f"      ansible.builtin.command: sleep {seconds}\n")
    return pdd


def host_has_process(argv):
    for p in pathlib.Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if (p / "cmdline").read_bytes().split(b"\0")[:-1] == argv:
                    return True
            except OSError:
                pass
    return False


def artifacts_view(d):
    ev = sorted((json.loads(f.read_text()) for f in (d / "job_events").iterdir()),
                key=lambda e: e["counter"])
    return {
        "status": (d / "status").read_text(), "rc": (d / "rc").read_text(),
        "events": [(e["event"], e["counter"], e["start_line"], e["end_line"],
                    sorted(e), sorted(e.get("event_data", {}))) for e in ev],
        "stdout_lines": len((d / "stdout").read_text().splitlines()),
    }


AWX_TRANSMIT = """
import json, sys, ansible_runner.interface as i
kw = json.loads(sys.argv[3])
i.run(streamer='transmit', _output=open(sys.argv[1], 'wb'), private_data_dir=sys.argv[2],
      playbook='demo.yml', inventory=sys.argv[2] + '/inventory/hosts', suppress_env_files=True,
      envvars={'JOB_ID': '42', 'ANSIBLE_FORCE_COLOR': 'True'}, fact_cache_type='jsonfile',
      process_isolation=True, process_isolation_executable='podman', **kw)
"""


def test_worker_pulls_the_ee_with_container_auth_data(arc, vectors, real_runner, ee, node_env,
                                                      tmp_path):
    """AWX-style API transmit (real) -> our worker in podman -> real process, = real worker."""
    env, tmp = node_env
    src = copy_pdd(vectors, tmp_path / "src")
    jid = ident("iso-w")
    kw = {"ident": jid, "container_image": ee.remote, "container_auth_data": ee.auth}
    stream = tmp_path / "api.stream"
    r = run(["/usr/bin/python3", "-c", AWX_TRANSMIT, str(stream), str(src), json.dumps(kw)])
    assert r.returncode == 0, r.stderr
    assert b'"container_auth_data"' in stream.read_bytes()
    ee.node("rmi", "-f", ee.remote, check=False)
    assert ee.node("image", "exists", ee.remote, check=False).returncode == 1
    mark = len(ee.registry.log_text())
    t0 = time.monotonic()
    w = run([arc, "worker", f"--private-data-dir={tmp_path / 'exec'}", "--delete"],
            stdin=stream.read_bytes(), env=env, timeout=600)
    took = time.monotonic() - t0
    assert w.returncode == 0, w.stderr
    objs = split_stream(w.stdout)
    statuses = [o["status"] for o in objs if "status" in o]
    assert statuses == ["starting", "running", "successful"], (statuses, w.stdout[-3000:])
    cmd = objs[0]["command"]
    assert cmd[:2] == ["podman", "run"] and ee.remote in cmd
    assert any(a.startswith("--authfile=" + str(tmp) + "/ansible_runner_registry_") for a in cmd)
    assert objs[0]["env"]["CONTAINERS_REGISTRIES_CONF"].endswith("/registries.conf")
    evs = [o for o in objs if "counter" in o and o.get("event") != "keepalive"]
    assert any("hello-from-extravars" in e["stdout"] for e in evs)
    assert all(e["runner_ident"] == jid for e in evs if "runner_ident" in e)
    # it really pulled: the node has the image now, the registry saw our user fetch it
    assert ee.node("image", "exists", ee.remote).returncode == 0
    pulls = [l for l in ee.registry.log_text()[mark:].splitlines()
             if 'msg="authorized request"' in l and "http.request.method=GET" in l
             and "/v2/receptor-c-ee/manifests/" in l]
    assert pulls, "the registry log shows no authorized manifest GET during the job"
    # no container left, no credentials left
    wait_gone(ee.node, "ansible_runner_" + jid)
    assert registry_dirs(tmp) == []
    assert not (tmp_path / "exec").exists()
    # the real Processor takes our stream; the all-real pipeline gives the same artifacts
    p = run([real_runner, "process", str(tmp_path / "ours"), "--ident", jid], stdin=w.stdout)
    assert p.returncode == 0, p.stderr
    rw = run([real_runner, "worker"], stdin=stream.read_bytes(), env=env, timeout=600)
    assert rw.returncode == 0, rw.stderr
    p = run([real_runner, "process", str(tmp_path / "real"), "--ident", jid], stdin=rw.stdout)
    assert p.returncode == 0
    ours = artifacts_view(tmp_path / "ours" / "artifacts" / jid)
    assert ours == artifacts_view(tmp_path / "real" / "artifacts" / jid)
    assert ours["status"] == "successful" and len(ours["events"]) == 9
    print(f"worker with a pull: {took:.1f} s")


def test_run_pulls_the_ee_from_settings(arc, vectors, ee, node_env, tmp_path):
    """Our `run` with container_auth_data in env/settings pulls and runs the EE."""
    env, tmp = node_env
    pdd = copy_pdd(vectors, tmp_path / "pdd")
    (pdd / "env" / "settings").write_text(
        "container_auth_data: " + json.dumps(ee.auth) + "\n")
    ee.node("rmi", "-f", ee.remote, check=False)
    jid = ident("iso-r")
    p = run([arc, "run", str(pdd), "-p", "demo.yml", "--ident", jid, "--process-isolation",
             "--container-image", ee.remote], env=env, timeout=600)
    art = pdd / "artifacts" / jid
    assert p.returncode == 0, (p.stdout[-2000:], p.stderr)
    assert b"hello-from-extravars" in p.stdout
    assert (art / "status").read_text() == "successful" and (art / "rc").read_text() == "0"
    assert len(list((art / "job_events").iterdir())) == 9
    assert (art / "env.list").exists() and (art / "callback" / "awx_display.py").exists()
    cmd = json.loads((art / "command").read_text())["command"]
    assert any(a.startswith("--authfile=") for a in cmd)
    assert ee.node("image", "exists", ee.remote).returncode == 0
    wait_gone(ee.node, "ansible_runner_" + jid)
    assert registry_dirs(tmp) == []


@pytest.mark.parametrize("what", ["wrong-password", "verify-ssl-true"])
def test_pull_failures_are_clear(arc, vectors, ee, node_env, tmp_path, what):
    env, tmp = node_env
    auth = dict(ee.auth)
    if what == "wrong-password":
        auth["password"] = "not-the-password"
    else:
        auth["verify_ssl"] = True
    pdd = copy_pdd(vectors, tmp_path / "pdd")
    (pdd / "env" / "settings").write_text("container_auth_data: " + json.dumps(auth) + "\n")
    ee.node("rmi", "-f", ee.remote, check=False)
    jid = ident("iso-f")
    p = run([arc, "run", str(pdd), "-p", "demo.yml", "--ident", jid, "--process-isolation",
             "--container-image", ee.remote], env=env, timeout=600)
    art = pdd / "artifacts" / jid
    assert p.returncode != 0
    assert (art / "status").read_text() == "failed"
    out = (art / "stdout").read_text()
    if what == "wrong-password":
        assert "unauthorized" in out.lower() or "authentication required" in out.lower(), out
    else:
        assert "certificate" in out.lower() or "x509" in out.lower(), out
        env_seen = json.loads((art / "command").read_text())["env"]
        assert "CONTAINERS_REGISTRIES_CONF" not in env_seen
    assert ee.node("image", "exists", ee.remote, check=False).returncode == 1
    assert registry_dirs(tmp) == []


def test_cancel_kills_the_container(arc, vectors, ee, node_env, tmp_path):
    env, tmp = node_env
    secs = 3000 + uuid.uuid4().int % 600
    src = sleeper_pdd(vectors, tmp_path / "src", secs)
    jid = ident("iso-c")
    kw = {"ident": jid, "playbook": "sleep.yml", "process_isolation": True,
          "container_image": ee.remote, "container_auth_data": ee.auth}
    (tmp_path / "in.stream").write_bytes(make_stream(kw, src))
    with open(tmp_path / "in.stream", "rb") as stdin:
        proc = subprocess.Popen([arc, "worker", f"--private-data-dir={tmp_path / 'exec'}"],
                                stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=clean_env(env))
    name = "ansible_runner_" + jid
    argv = [b"sleep", str(secs).encode()]
    deadline = time.time() + 120
    while not host_has_process(argv):
        assert proc.poll() is None, proc.stderr.read()
        assert time.time() < deadline, "the task never started in the container"
        time.sleep(0.2)
    assert ee.node.container_exists(name)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 254, err
    objs = split_stream(out)
    assert [o["status"] for o in objs if "status" in o][-1] == "canceled"
    z = [o for o in objs if "zip" in o][0]["zip"]
    assert z.read("status") == b"canceled" and z.read("rc") == b"254"
    wait_gone(ee.node, name)
    assert not host_has_process(argv)
    assert registry_dirs(tmp) == []


def test_timeout_kills_the_container(arc, vectors, ee, node_env, tmp_path):
    env, tmp = node_env
    secs = 3600 + uuid.uuid4().int % 600
    pdd = sleeper_pdd(vectors, tmp_path / "pdd", secs)
    (pdd / "env" / "settings").write_text(
        "job_timeout: 8\ncontainer_auth_data: " + json.dumps(ee.auth) + "\n")
    jid = ident("iso-t")
    t0 = time.monotonic()
    p = run([arc, "run", str(pdd), "-p", "sleep.yml", "--ident", jid, "--process-isolation",
             "--container-image", ee.remote], env=env, timeout=300)
    took = time.monotonic() - t0
    art = pdd / "artifacts" / jid
    assert p.returncode == 254, (p.stdout[-2000:], p.stderr)
    assert (art / "status").read_text() == "timeout" and (art / "rc").read_text() == "254"
    assert took < 120
    wait_gone(ee.node, "ansible_runner_" + jid)
    assert not host_has_process([b"sleep", str(secs).encode()])
    assert registry_dirs(tmp) == []


def test_worker_cleanup_removes_leftover_credentials(arc, tmp_path):
    """A worker killed mid-job leaves its registry dir; `worker cleanup` removes it (spec 7.4)."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    pdd = tmp_path / "awx_1_x"
    (pdd / "artifacts" / "77").mkdir(parents=True)
    left = tmp / "ansible_runner_registry_77_abcd_123"
    left.mkdir(mode=0o700)
    (left / "auth.json").write_text("{}")
    other = tmp / "ansible_runner_registry_78_abcd_123"
    other.mkdir()
    p = run([arc, "worker", "cleanup", f"--file-pattern={tmp_path}/awx_*", "--grace-period=0"],
            env={"TMPDIR": str(tmp)})
    assert p.returncode == 0, p.stderr
    assert not pdd.exists() and not left.exists()
    assert other.exists()  # another job's credentials stay
