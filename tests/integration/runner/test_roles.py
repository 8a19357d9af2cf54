"""-r ROLE against the real ansible-runner 2.3.1.

2.3.1 turns a role into a generated playbook named uuid4().hex under project/;
transmit sends it in the zip with the kwargs naming it, run deletes it again
afterwards.  Ours must produce the same kwargs, zip entries and command lines,
and transmit must leave the source directory exactly as it was (2.3.1 writes
its env/ files and the playbook there).  As in 2.3.1, the generated playbook
finds roles next to it (project/roles) or on --roles-path."""
import os
import re
import shutil

from conftest import run
from streamutil import split_stream

HEX = re.compile(r"^[0-9a-f]{32}$")
ROLE = ["-r", "greeter", "--role-vars", "who=bob n=3", "--hosts", "localhost"]


def add_role(roles_dir):
    t = roles_dir / "greeter" / "tasks"
    t.mkdir(parents=True)
    (t / "main.yml").write_text('- debug:\n    msg: "hello {{ who }} {{ n + 1 }}"\n')


def snapshot(d):
    """Everything a user could notice: names, types, modes, sizes, times, bytes."""
    out = {}
    for p in [d, *sorted(d.rglob("*"))]:
        st = os.lstat(p)
        data = p.read_bytes() if p.is_file() and not p.is_symlink() else None
        out[str(p.relative_to(d))] = (st.st_mode, st.st_size, st.st_mtime_ns, data)
    return out


def no_dir_times(snap):
    return {k: (v if v[3] is not None else v[:2]) for k, v in snap.items()}


def norm(words, pdd, hexname):
    return [w.replace(str(pdd), "PDD").replace(hexname, "HEX") for w in words]


def transmit(exe, pdd, extra=()):
    p = run([exe, "transmit", str(pdd), *ROLE, "--ident", "r1", *extra])
    assert p.returncode == 0, (exe, p.stderr)
    objs = split_stream(p.stdout)
    return p.stdout, objs[0]["kwargs"], objs[1]["zip"]


def zip_view(z, hexname):
    return {i.filename.replace(hexname, "HEX"): (i.external_attr >> 16,
                                                  z.read(i) if not i.is_dir() else None)
            for i in z.infolist() if not i.filename.startswith("env/extravars")}


def worker(exe, stream):
    w = run([exe, "worker"], stdin=stream)
    assert w.returncode == 0, (exe, w.stderr)
    objs = split_stream(w.stdout)
    start = next(o for o in objs if o.get("status") == "starting")
    final = [o["status"] for o in objs if "status" in o][-1]
    out = "".join(o.get("stdout", "") for o in objs if "counter" in o)
    art = [o["zip"] for o in objs if "zip" in o][-1]
    return start, final, out, art


def test_transmit_role_matches_real_and_leaves_source_alone(real_runner, arc, pdd, tmp_path):
    add_role(pdd / "project" / "roles")
    real_src = tmp_path / "real_src"
    shutil.copytree(pdd, real_src)
    before = snapshot(pdd)
    extra = ["--cmdline=--diff"]  # dumped into env/cmdline by 2.3.1
    real_stream, real_kw, real_zip = transmit(real_runner, real_src, extra)
    our_stream, our_kw, our_zip = transmit(arc, pdd, extra)
    assert snapshot(pdd) == before
    assert HEX.match(real_kw["playbook"]) and HEX.match(our_kw["playbook"])
    assert our_kw["playbook"] != real_kw["playbook"]
    assert [(k, v) for k, v in our_kw.items() if k != "playbook"] == \
        [(k, v) for k, v in real_kw.items() if k != "playbook"]
    assert "cmdline" not in our_kw and "envvars" not in our_kw
    ours, real = zip_view(our_zip, our_kw["playbook"]), zip_view(real_zip, real_kw["playbook"])
    assert sorted(ours) == sorted(real)
    for name in ("project/HEX", "env/cmdline"):
        assert ours[name] == real[name], name
    assert ours["project/HEX"][0] == 0o100400
    assert b'"vars": {"who": "bob", "n": 3}' in ours["project/HEX"][1]

    # a real worker sees the same job from both transmits; ours runs it the same way
    results = [(worker(real_runner, real_stream), real_kw["playbook"]),
               (worker(real_runner, our_stream), our_kw["playbook"]),
               (worker(arc, our_stream), our_kw["playbook"])]
    commands = []
    for (start, final, out, art), hexname in results:
        assert final == "successful", out
        assert "hello bob 4" in out
        assert start["command"][-1] == hexname
        wpdd = os.path.dirname(start["cwd"])
        commands.append(norm(start["command"], wpdd, hexname))
        cmdfile = __import__("json").loads(art.read("command"))
        assert norm(cmdfile["command"], wpdd, hexname) == commands[-1]
    assert commands[0] == commands[1] == commands[2]
    assert "--diff" in commands[0]


def test_transmit_role_without_project_or_env_dir(real_runner, arc, pdd, tmp_path):
    """The generated dirs only exist in the zip: 0700, as makedirs() makes them."""
    shutil.rmtree(pdd / "project")
    shutil.rmtree(pdd / "env")
    real_src = tmp_path / "real_src"
    shutil.copytree(pdd, real_src)
    before = snapshot(pdd)
    _, real_kw, real_zip = transmit(real_runner, real_src, ["--cmdline=--diff"])
    _, our_kw, our_zip = transmit(arc, pdd, ["--cmdline=--diff"])
    assert snapshot(pdd) == before
    ours, real = zip_view(our_zip, our_kw["playbook"]), zip_view(real_zip, real_kw["playbook"])
    assert ours == real
    assert ours["project/"][0] == ours["env/"][0] == 0o40700


def run_role(exe, pdd, extra=()):
    p = run([exe, "run", str(pdd), *ROLE, "--ident", "x", *extra])
    cmd = __import__("json").loads((pdd / "artifacts" / "x" / "command").read_text())
    hexname = os.path.basename(cmd["command"][-1])
    assert HEX.match(hexname), cmd["command"]
    shutil.rmtree(pdd / "artifacts")
    return p, norm(cmd["command"], pdd, hexname)


def test_run_role_matches_real_and_cleans_up(real_runner, arc, pdd, tmp_path):
    add_role(pdd / "project" / "roles")
    real = tmp_path / "real"
    shutil.copytree(pdd, real)
    before = snapshot(pdd)
    rp, rcmd = run_role(real_runner, real)
    op, ocmd = run_role(arc, pdd)
    assert rp.returncode == op.returncode == 0, (rp.stdout, op.stdout, op.stderr)
    assert b"hello bob 4" in op.stdout
    assert ocmd == rcmd
    assert ocmd[-1] == "PDD/project/HEX"
    # the playbook (and artifacts/) came and went: only directory times moved
    assert no_dir_times(snapshot(pdd)) == no_dir_times(before)
    assert sorted(os.listdir(real)) == sorted(os.listdir(pdd))


def test_run_role_removes_the_project_dir_it_made(real_runner, arc, pdd, tmp_path):
    shutil.rmtree(pdd / "project")
    roles = tmp_path / "shared_roles"
    add_role(roles)
    real = tmp_path / "real"
    shutil.copytree(pdd, real)
    rp, rcmd = run_role(real_runner, real, ["--roles-path", str(roles)])
    op, ocmd = run_role(arc, pdd, ["--roles-path", str(roles)])
    assert rp.returncode == op.returncode == 0, (rp.stdout, op.stdout, op.stderr)
    assert b"hello bob 4" in op.stdout
    assert ocmd == rcmd
    assert not (pdd / "project").exists() and not (real / "project").exists()
    assert sorted(os.listdir(real)) == sorted(os.listdir(pdd))


def test_role_errors(arc, pdd):
    before = snapshot(pdd)
    p = run([arc, "transmit", str(pdd), "-r", "greeter", "--project-dir", str(pdd / "project")])
    assert p.returncode == 1 and b"--project-dir" in p.stderr and p.stdout == b""
    p = run([arc, "transmit", str(pdd), "-r", "greeter", "--role-vars", "a=b=c"])
    assert p.returncode == 1 and b"not one key=value" in p.stderr and p.stdout == b""
    p = run([arc, "run", str(pdd), "-r", "greeter", "--inventory", "nope"])
    assert p.returncode == 1 and b"--inventory does not exist" in p.stderr
    assert snapshot(pdd) == before


def test_transmit_role_into_a_linked_project_dir_fails_clearly(arc, pdd, tmp_path):
    """The zip would hold the link, not the playbook: refused, nothing sent."""
    shutil.move(pdd / "project", tmp_path / "elsewhere")
    os.symlink(tmp_path / "elsewhere", pdd / "project")
    before = snapshot(tmp_path)
    p = run([arc, "transmit", str(pdd), "-r", "greeter"])
    assert p.returncode == 1 and p.stdout.count(b"\n") <= 1  # at most the kwargs line
    assert b"not a plain directory" in p.stderr
    assert snapshot(tmp_path) == before


def test_run_keeps_an_absolute_playbook_as_given(real_runner, arc, pdd, tmp_path):
    """run does not make paths relative (only the streaming roles do): the generated
    playbook above, or any -p under project/, runs by the path given."""
    real = tmp_path / "real"
    shutil.copytree(pdd, real)
    cmds = []
    for exe, d in ((real_runner, real), (arc, pdd)):
        run([exe, "run", str(d), "-p", str(d / "project" / "nope.yml"), "--ident", "i"])
        cmd = __import__("json").loads((d / "artifacts" / "i" / "command").read_text())
        cmds.append([w.replace(str(d), "PDD") for w in cmd["command"]])
    assert cmds[0] == cmds[1]
    assert cmds[1][-1] == "PDD/project/nope.yml"
