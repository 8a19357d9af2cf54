"""Every option of `ansible-runner run` and every env/ setting, against 2.3.1.

Issue 12 item 4: nothing may be accepted and then silently ignored.  Each
case below runs the real ansible-runner 2.3.1 and ours on identical copies
of the same private data dir (the vector pdd with env/extravars, and a
one-task playbook on localhost with a local connection) and compares what a user sees:

* the exit code, and stdout (paths replaced; in -j mode each JSON line by its
  keys, event, counter, stdout and lines, since uuids, pids and times differ);
* artifacts/<ident>/command: the argv, the cwd and the environment given to
  ansible-playbook (except ANSIBLE_CALLBACK_PLUGINS, where each keeps its own
  callback plugin);
* status, rc and the stdout artifact; the names of all files left behind;
  the job events (event name and keys, in order).

A "refused" case instead checks that ours refuses with a clear message and a
non-zero exit before anything runs.  docs/runner.md has the resulting table.
The two runners run side by side, so the file takes about a minute."""
import json
import os
import shutil
import subprocess

import pytest

from conftest import clean_env

IDENT = "opt"
# one debug task: half the time of the vector's demo.yml (no module to run)
FAST = "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - debug:\n        var: greeting\n"
SETTINGS = "env/settings"


def settings(**kw):
    return {SETTINGS: json.dumps(kw)}


# (id, extra argv, files to add {relative path: text}, what to compare)
# "{D}" in an argument or a file is the directory holding the pdd (it differs
# between the two runs and is normalised away).
ALL = ("rc", "stdout", "command", "artifacts", "files", "events")
# -v output holds times; and 2.3.1 may lose the output of a child that exits
# at once (-b /bin/echo, args: the pexpect race runner.py mentions)
NO_STDOUT = ("rc", "command", "artifacts", "files")
# Options and settings that cannot interfere share a case, to keep the file
# fast (each case is two playbook runs).
SAME = [
    ("limit-forks-isolation-options-without-isolation-module-role-options-with-p",
     ["--limit", "localhost", "--forks", "3", "--process-isolation-path", "{D}/pi",
      "--process-isolation-hide-paths", "/etc", "--process-isolation-show-paths", "/srv",
      "--process-isolation-ro-paths", "/opt", "--container-image", "foo",
      "--container-option=--net=none", "--container-volume-mount", "/srv:/srv",
      # ignored with -p by both: they belong to -m and -r
      "-a", "x=1", "--role-vars", "a=1", "--role-skip-facts"], {}, ALL),
    ("cmdline", ["--cmdline=--check -e z=1"], {}, ALL),
    ("verbose", ["-vv"], {}, NO_STDOUT),
    ("quiet-and-event-data", ["-q", "--omit-event-data", "--only-failed-event-data"], {}, ALL),
    ("json", ["-j"], {}, ALL),
    ("artifact-dir-project-dir", ["--artifact-dir", "{D}/art", "--project-dir", "{D}/pdd/project"],
     {}, ALL),
    ("omit-env-files", ["--omit-env-files", "--cmdline=--check"], {}, ALL),
    ("module", ["-m", "command", "-a", "echo hi", "--hosts", "localhost"], {}, NO_STDOUT),
    ("inventory-name", ["--inventory", "hosts"], {}, ALL),
    ("binary-inventory-path-roles-path", ["-b", "/bin/echo", "--inventory", "{D}/pdd/inventory/hosts",
                                          "--roles-path", "{D}/roles"], {}, NO_STDOUT),
    ("debug-logfile", ["--debug", "--logfile", "{D}/log"], {}, ("rc", "debug", "artifacts", "files")),
    ("version", ["--version"], {}, ALL),
    ("settings-suppress_output_file-fact_cache-timeouts-pexpect-isolation-off", [],
     settings(suppress_output_file=True, fact_cache="myfc", pexpect_timeout=1,
              pexpect_use_poll=False, job_timeout=600, idle_timeout=600,
              process_isolation=False, container_image="x", container_options=["--a"],
              process_isolation_hide_paths=["/etc"]), ALL),
    ("settings-suppress_ansible_output-truthy", [], settings(suppress_ansible_output=1), ALL),
    ("settings-suppress_ansible_output-false-beats-q", ["-q"],
     settings(suppress_ansible_output=False), ALL),
    ("settings-fact_cache-absolute", [], settings(fact_cache="{D}/absfc"), ALL),
    ("settings-fact_cache-other-type", [], settings(fact_cache="myfc", fact_cache_type="redis"), ALL),
    ("env-envvars-cmdline", [], {"env/envvars": '{"FOO": "bar", "N": 3}',
                                 "env/cmdline": "--forks 2 -e z=1"}, ALL),
    ("env-cmdline-and-option", ["--cmdline=--forks 4"], {"env/cmdline": "--forks 2"}, ALL),
    ("env-ssh_key", [], {"env/ssh_key": "not a key"}, ("rc", "command", "files")),
    ("args-file", [], {"args": "ansible-playbook --version"}, NO_STDOUT),
    ("argparse-exclusive-p-m", ["-p", "demo.yml", "-m", "ping"], {}, ("rc", "argparse")),
    ("argparse-exclusive-p-r", ["-p", "demo.yml", "-r", "greeter"], {}, ("rc", "argparse")),
    ("argparse-rotate-not-int", ["--rotate-artifacts", "abc"], {}, ("rc", "argparse")),
    ("argparse-no-such-option", ["--tags", "x"], {}, ("rc",)),
]

# (id, extra argv, files, a phrase of our message); ours exits non-zero and
# never starts the job.
REFUSED = [
    ("directory-isolation-base-path", ["--directory-isolation-base-path", "{D}/dib"], {},
     "directory_isolation_base_path is not supported"),
    ("settings-directory_isolation_base_path", [], settings(directory_isolation_base_path="{D}/dib"),
     "directory_isolation_base_path is not supported"),
    # 2.3.1 crashes on these once the job runs (TypeError); not "no timeout"
    ("settings-job_timeout-text", [], settings(job_timeout="10"),
     "job_timeout must be a number, not str"),
    ("settings-idle_timeout-list", [], settings(idle_timeout=[1]),
     "idle_timeout must be a number, not list"),
    ("settings-pexpect_timeout-text", [], settings(pexpect_timeout="x"),
     "pexpect_timeout must be a number, not str"),
    ("settings-fact_cache-null", [], settings(fact_cache=None),
     "fact_cache must be a string, not NoneType"),
    ("bwrap", ["--process-isolation", "--process-isolation-executable", "/bin/true"], {},
     "is not supported by ansible-runner-c"),
]


def prepare(base, vectors, extra, files):
    d = base
    shutil.copytree(vectors / "pdd", d / "pdd")
    for p in [d / "pdd", *(d / "pdd").rglob("*")]:
        p.chmod(p.stat().st_mode | 0o200)
    (d / "pdd" / "project" / "fast.yml").write_text(FAST)
    for rel, text in files.items():
        (d / "pdd" / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / "pdd" / rel).write_text(text.replace("{D}", str(d)))
    (d / "dib").mkdir()
    (d / "dib" / "keep").write_text("mine\n")
    argv = ["run", str(d / "pdd"), "-i", IDENT]
    if not {"-m", "-r", "-p"} & set(extra):
        argv += ["-p", "fast.yml"]
    return argv + [a.replace("{D}", str(d)) for a in extra]


def start(exe, base, argv):
    return subprocess.Popen([exe, *argv], cwd=base, env=clean_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def run_pair(real_runner, arc, vectors, tmp_path, extra, files):
    out = {}
    procs = {}
    for tag, exe in (("real", real_runner), ("ours", arc)):
        base = tmp_path / tag
        base.mkdir()
        procs[tag] = (base, start(exe, base, prepare(base, vectors, extra, files)))
    for tag, (base, p) in procs.items():
        so, se = p.communicate(timeout=300)
        out[tag] = (base, p.returncode, so, se)
    return out


def norm(text, base):
    return text.replace(str(base), "<D>")


def stdout_view(text, base):
    """Lines; a JSON event line (-j) by what does not vary between runs."""
    view = []
    for line in norm(text, base).splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            ev = None
        if isinstance(ev, dict):
            view.append(("event", list(ev), ev.get("event"), ev.get("counter"), ev.get("stdout"),
                         ev.get("start_line"), ev.get("end_line")))
        else:
            view.append(line)
    return view


def command_view(base):
    c = base / "pdd" / "artifacts" / IDENT / "command"
    art = base / "art" / IDENT / "command"
    for f in (c, art):
        if f.exists():
            j = json.loads(f.read_text())
            env = {k: norm(v, base) for k, v in j["env"].items() if k != "ANSIBLE_CALLBACK_PLUGINS"}
            return [norm(w, base) for w in j["command"]], norm(j["cwd"], base), env
    return None


def artifact_dir(base):
    for d in (base / "pdd" / "artifacts" / IDENT, base / "art" / IDENT):
        if d.is_dir():
            return d
    return None


def artifacts_view(base):
    d = artifact_dir(base)
    if not d:
        return None
    view = {}
    for name in ("status", "rc", "stderr"):
        view[name] = (d / name).read_text() if (d / name).exists() else None
    return view


def stdout_artifact(base):
    d = artifact_dir(base)
    so = d / "stdout" if d else None
    return stdout_view(so.read_text(), base) if so and so.exists() else None


def files_view(base):
    skip = ("job_events/", "fact_cache/", "myfc/", "absfc/")
    return sorted(str(p.relative_to(base)) for p in base.rglob("*")
                  if not any(s in str(p.relative_to(base)) + "/" for s in skip))


def events_view(base):
    d = artifact_dir(base)
    if not d or not (d / "job_events").is_dir():
        return None
    evs = []
    for f in (d / "job_events").iterdir():
        e = json.loads(f.read_text())
        evs.append((e["counter"], e["event"], list(e), sorted(e.get("event_data", {}))))
    return sorted(evs)


def debug_view(text, base):
    """--debug: from the last "env:" to "command:" (2.3.1 prints its loader's
    messages and a first, partial env before them; ours does not)."""
    lines = norm(text, base).splitlines()
    start = max(i for i, l in enumerate(lines) if l == "env:")
    end = next(i for i, l in enumerate(lines) if l.startswith("command: "))
    return lines[0], [l for l in lines[start:end + 1]
                      if not l.startswith((" ANSIBLE_CALLBACK_PLUGINS:", " LC_CTYPE:"))]


@pytest.mark.parametrize("case", SAME, ids=[c[0] for c in SAME])
def test_run_option_works_like_2_3_1(real_runner, arc, have_ansible, vectors, tmp_path, case):
    name, extra, files, what = case
    res = run_pair(real_runner, arc, vectors, tmp_path, extra, files)
    (rb, rrc, rout, rerr), (ob, orc, oout, oerr) = res["real"], res["ours"]
    ctx = f"\nreal stderr: {rerr[-800:]}\nours stderr: {oerr[-800:]}"
    if "rc" in what:
        assert orc == rrc, ctx
    if "stdout" in what:
        assert stdout_view(oout, ob) == stdout_view(rout, rb), ctx
        assert stdout_artifact(ob) == stdout_artifact(rb), ctx
    if "command" in what:
        assert command_view(ob) == command_view(rb), ctx
    if "artifacts" in what:
        assert artifacts_view(ob) == artifacts_view(rb), ctx
    if "files" in what:
        assert files_view(ob) == files_view(rb), ctx
    if "events" in what:
        assert events_view(ob) == events_view(rb), ctx
    if "debug" in what:
        assert debug_view(oout, ob) == debug_view(rout, rb), ctx
        assert (ob / "log").exists() and (rb / "log").exists()
        assert "command: ansible-playbook" in (ob / "log").read_text()
    if "argparse" in what:
        # the same argparse complaint, after our own "ansible-runner-c run:"
        assert rrc == 2 and "error: argument" in rerr
        assert rerr.strip().splitlines()[-1].split("error: ", 1)[1] == \
            oerr.strip().splitlines()[-1].split("error: ", 1)[1], ctx
        assert not (ob / "pdd" / "artifacts").exists()
    if name == "inventory-name":
        # 2.3.1 also writes the text "hosts" over inventory/hosts; ours leaves it
        assert (ob / "pdd" / "inventory" / "hosts").read_text() == \
            (vectors / "pdd" / "inventory" / "hosts").read_text()


@pytest.mark.parametrize("case", REFUSED, ids=[c[0] for c in REFUSED])
def test_run_option_refused_clearly(arc, vectors, tmp_path, case):
    name, extra, files, phrase = case
    base = tmp_path / "ours"
    base.mkdir()
    p = start(arc, base, prepare(base, vectors, extra, files))
    out, err = p.communicate(timeout=120)
    assert p.returncode != 0
    assert phrase in err, err
    assert not (base / "pdd" / "artifacts" / IDENT / "command").exists()
    assert (base / "dib" / "keep").read_text() == "mine\n"


def test_worker_json_mode_writes_events_to_the_stdout_artifact(real_runner, arc, have_ansible,
                                                                vectors, tmp_path):
    """kwargs json_mode (transmit -j): the stdout artifact a worker sends back
    holds the events as JSON lines, in 2.3.1's worker and in ours."""
    src = tmp_path / "src"
    shutil.copytree(vectors / "pdd", src)
    (src / "project" / "fast.yml").write_text(FAST)
    t = subprocess.run([real_runner, "transmit", str(src), "-p", "fast.yml", "-i", IDENT, "-j"],
                       env=clean_env(), capture_output=True, check=True)
    views = []
    for tag, exe in (("real", real_runner), ("ours", arc)):
        w = subprocess.run([exe, "worker"], input=t.stdout, env=clean_env(), capture_output=True,
                           timeout=300)
        assert w.returncode == 0, w.stderr
        out = tmp_path / f"proc-{tag}"
        subprocess.run([real_runner, "process", str(out), "-i", IDENT], input=w.stdout,
                       env=clean_env(), capture_output=True, check=True)
        views.append(stdout_view((out / "artifacts" / IDENT / "stdout").read_text(), out))
    assert views[1] == views[0]
    assert all(v[0] == "event" for v in views[1])


def test_submit_refuses_directory_isolation_base_path(arc, vectors, tmp_path):
    """submit sends run options to a worker; this one is refused before that
    (a 2.3.1 worker would run the job in the directory and delete it)."""
    base = tmp_path / "ours"
    base.mkdir()
    argv = prepare(base, vectors, ["--directory-isolation-base-path", "{D}/dib"], {})
    argv[0] = "submit"
    p = subprocess.run([arc, *argv, "--socket", str(tmp_path / "no.sock")], env=clean_env(),
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert "--directory-isolation-base-path is not supported" in p.stderr, p.stderr
    assert (base / "dib" / "keep").read_text() == "mine\n"
