"""Prompt answers (env/passwords and the kwargs `passwords`) against 2.3.1.

AWX answers the prompts of ansible-playbook (become, SSH key, vault
passwords) through ansible-runner's pexpect loop: every key is a Python
regex searched in the last 100 characters of the job's output, and the
value is sent with a newline when it matches.  Each case here runs the
same private data dir through the real `ansible-runner run`, ours, our
transmit -> worker -> process and mixed pipelines, and compares what the
user sees: exit code, status, rc, the event names, and the sha1 of each
answer as the playbook printed it (so the answer really reached it).
Prompts that get no answer end the job through job_timeout/idle_timeout,
set to a few seconds."""
import hashlib
import json
import shutil
import subprocess

import pytest

from conftest import run
from streamutil import split_stream

PROMPTS = """- hosts: localhost
  gather_facts: false
  vars_prompt:
    - name: secret_word
      prompt: "Enter the secret word"
      private: true
  tasks:
    - pause:
        prompt: "Type the colour"
      register: colour
    - debug:
        msg: "word={{ secret_word | hash('sha1') }} colour={{ colour.user_input | hash('sha1') }}"
"""

VAULT = """- hosts: localhost
  gather_facts: false
  vars_files:
    - secret.yml
  tasks:
    - debug:
        msg: "vaulted={{ vaulted_value | hash('sha1') }}"
"""

PLAIN = """- hosts: localhost
  gather_facts: false
  tasks:
    - debug:
        msg: "plain play"
"""

ANSWERS = {"Enter the secret word": "swordfish", "Type the colour": "teal"}


def sha1(s):
    return hashlib.sha1(s.encode()).hexdigest()


def prompts_seen(word="swordfish", colour="teal"):
    return f"word={sha1(word)} colour={sha1(colour)}"


def yaml_map(d):
    return "".join(f"{json.dumps(k)}: {json.dumps(v)}\n" for k, v in d.items())


def make_pdd(tmp_path, playbook, passwords=None, settings=None, cmdline=None, vault=None):
    d = tmp_path / "src"
    (d / "project").mkdir(parents=True)
    (d / "env").mkdir()
    (d / "inventory").mkdir()
    (d / "inventory" / "hosts").write_text("localhost ansible_connection=local\n")
    (d / "project" / "play.yml").write_text(playbook)
    if passwords is not None:
        (d / "env" / "passwords").write_text(passwords if isinstance(passwords, str)
                                             else yaml_map(passwords))
    (d / "env" / "settings").write_text(json.dumps(settings or {"job_timeout": 60}))
    if cmdline:
        (d / "env" / "cmdline").write_text(cmdline)
    if vault:
        plain, password = vault
        pwfile = tmp_path / "vault-pw"
        pwfile.write_text(password)
        secret = d / "project" / "secret.yml"
        secret.write_text(plain)
        enc = subprocess.run(["/usr/bin/ansible-vault", "encrypt", "--vault-password-file",
                              str(pwfile), str(secret)], capture_output=True)
        assert enc.returncode == 0, enc.stderr
        assert secret.read_text().startswith("$ANSIBLE_VAULT")
    return d


def events_view(art):
    evs = [json.loads(f.read_text()) for f in (art / "job_events").iterdir()]
    evs.sort(key=lambda e: e["counter"])
    return [e["event"] for e in evs], "".join(e.get("stdout", "") + "\n" for e in evs)


def outcome(exit_code, art):
    names, text = events_view(art)
    # how the prompt's echo splits into verbose events depends on pty timing
    return {"exit": exit_code, "status": (art / "status").read_text(),
            "rc": (art / "rc").read_text(),
            "events": [n for n in names if n != "verbose"]}, text


def do_run(exe, tmp_path, src, tag):
    d = tmp_path / tag
    shutil.copytree(src, d)
    p = run([exe, "run", str(d), "-p", "play.yml", "--ident", "j1"], timeout=120)
    return outcome(p.returncode, d / "artifacts" / "j1")


def with_kwargs(stream, extra):
    """AWX's form: the passwords in the kwargs line of the transmit stream."""
    nl = stream.index(b"\n")
    first = json.loads(stream[:nl])
    first["kwargs"].update(extra)
    return json.dumps(first).encode() + stream[nl:]


def do_pipeline(t_exe, w_exe, p_exe, tmp_path, src, tag, kwargs=None):
    t = run([t_exe, "transmit", str(src), "-p", "play.yml", "--ident", "j1"])
    assert t.returncode == 0, t.stderr
    stream = with_kwargs(t.stdout, kwargs) if kwargs else t.stdout
    w = run([w_exe, "worker"], stdin=stream, timeout=120)
    assert [o["status"] for o in split_stream(w.stdout) if "status" in o][:1] == ["starting"]
    out = tmp_path / tag
    p = run([p_exe, "process", str(out)], stdin=w.stdout)
    return outcome((w.returncode, p.returncode), out / "artifacts")


# Jobs whose prompt gets no answer end by this timeout.  Every way of running
# must reach the prompt first (its events are compared): at 3 s a loaded
# machine once started ansible-playbook too slowly for one way, which then
# had no events while the real runner had two.
UNANSWERED_TIMEOUT = 8


def all_ways(arc, real, tmp_path, src, mixed=True, kwargs=None):
    """{name: (outcome, text)} for every way of running src; kwargs go
    into the transmit stream, so the plain `run` ways are left out then."""
    res = {}
    if not kwargs:
        res["real run"] = do_run(real, tmp_path, src, "real-run")
        res["our run"] = do_run(arc, tmp_path, src, "our-run")
    res["real pipeline"] = do_pipeline(real, real, real, tmp_path, src, "rrr", kwargs)
    res["our pipeline"] = do_pipeline(arc, arc, arc, tmp_path, src, "ooo", kwargs)
    if mixed:
        res["real T, our W, real P"] = do_pipeline(real, arc, real, tmp_path, src, "ror", kwargs)
        res["our T, real W, our P"] = do_pipeline(arc, real, arc, tmp_path, src, "oro", kwargs)
    return res


def assert_same(res, status, seen):
    ref_name = "real run" if "real run" in res else "real pipeline"
    ref = res[ref_name][0]
    for name, (got, text) in res.items():
        kind = "real run" if name.endswith(" run") else "real pipeline"
        assert got["exit"] == res[kind][0]["exit"], (name, got, kind)
        assert {**got, "exit": 0} == {**ref, "exit": 0}, f"{name}: {got} != {ref_name}: {ref}"
        for s in seen:
            assert s in text, (name, s, text)
    assert ref["status"] == status, ref
    return ref


def test_vars_prompt_and_pause_answered_from_env_passwords(arc, real_runner, have_ansible, tmp_path):
    src = make_pdd(tmp_path, PROMPTS, ANSWERS)
    ref = assert_same(all_ways(arc, real_runner, tmp_path, src), "successful", [prompts_seen()])
    assert ref["events"][:2] == ["playbook_on_start", "playbook_on_vars_prompt"]


def test_vault_password_prompt_from_ask_vault_pass(arc, real_runner, have_ansible, tmp_path):
    src = make_pdd(tmp_path, VAULT, {"Vault password:": "opensesame"}, cmdline="--ask-vault-pass",
                   vault=('vaulted_value: "the-eagle-lands"\n', "opensesame"))
    assert_same(all_ways(arc, real_runner, tmp_path, src, mixed=False), "successful",
                [f"vaulted={sha1('the-eagle-lands')}"])


def test_become_password_prompt_answered(arc, real_runner, have_ansible, tmp_path):
    """-K prompts before the play; without a real sudo only the answer to
    the prompt is checked (no answer: the job would time out)."""
    src = make_pdd(tmp_path, PLAIN, {r"BECOME password.*:\s*?$": "s3cret"}, cmdline="-K",
                   settings={"job_timeout": 20})
    assert_same(all_ways(arc, real_runner, tmp_path, src, mixed=False), "successful",
                ["plain play"])


def test_kwargs_passwords_as_awx_sends_them(arc, real_runner, have_ansible, tmp_path):
    """AWX's regex keys (\\s*?$) in the kwargs; env/passwords is merged over
    them (its value wins for the same key)."""
    src = make_pdd(tmp_path, PROMPTS, {r"Type the colour:\s*?$": "teal"})
    kwargs = {"passwords": {r"Enter the secret word:\s*?$": "swordfish",
                            r"Type the colour:\s*?$": "crimson"}}
    assert_same(all_ways(arc, real_runner, tmp_path, src, kwargs=kwargs), "successful",
                [prompts_seen()])


@pytest.mark.parametrize("settings", [{"job_timeout": UNANSWERED_TIMEOUT}, {"idle_timeout": UNANSWERED_TIMEOUT}])
def test_prompt_without_answer_times_out(arc, real_runner, have_ansible, tmp_path, settings):
    src = make_pdd(tmp_path, PROMPTS, {"nothing prints this": "x"}, settings=settings)
    ref = assert_same(all_ways(arc, real_runner, tmp_path, src, mixed=False), "timeout", [])
    assert ref["rc"] == "254"
    assert ref["events"] == ["playbook_on_start", "playbook_on_vars_prompt"]


def test_one_bad_pattern_drops_every_answer(arc, real_runner, have_ansible, tmp_path):
    """2.3.1 compiles the patterns in one go: one that is not a regex
    loses all of them, so the prompt goes unanswered."""
    src = make_pdd(tmp_path, PROMPTS, {"(unclosed": "x", **ANSWERS}, settings={"job_timeout": UNANSWERED_TIMEOUT})
    assert_same(all_ways(arc, real_runner, tmp_path, src, mixed=False), "timeout", [])


def test_null_answer_is_not_sent(arc, real_runner, have_ansible, tmp_path):
    """A pattern whose value is null matches but sends nothing (2.3.1
    treats it like its TIMEOUT/EOF entries)."""
    src = make_pdd(tmp_path, PROMPTS, "Enter the secret word: null\nType the colour: teal\n",
                   settings={"job_timeout": UNANSWERED_TIMEOUT})
    assert_same(all_ways(arc, real_runner, tmp_path, src, mixed=False), "timeout", [])


def test_kwargs_passwords_not_a_mapping_answers_nothing(arc, real_runner, have_ansible, tmp_path):
    """A truthy non-mapping kwargs `passwords` is kept over env/passwords
    by 2.3.1 and then answers no prompt."""
    src = make_pdd(tmp_path, PROMPTS, ANSWERS, settings={"job_timeout": UNANSWERED_TIMEOUT})
    res = all_ways(arc, real_runner, tmp_path, src, mixed=False, kwargs={"passwords": "x"})
    assert_same(res, "timeout", [])


FLUSHING_CHILD = """#!/usr/bin/python3
# Does what ansible's pause action does: the prompt is shown, then the
# terminal is set up and its input flushed (termios.tcflush TCIFLUSH), and
# only then is the answer read.  An answer typed before the flush is lost.
# The flushing lasts 10 ms after the prompt by the clock, checked before
# each flush, so a child the scheduler holds up does not stretch it (a
# single flush after a 20 ms sleep once came after the real runner's
# answer on a loaded machine).
import sys, termios, time
sys.stdout.write("Type the colour: ")
sys.stdout.flush()
t0 = time.monotonic()
while time.monotonic() - t0 < 0.010:
    termios.tcflush(sys.stdin, termios.TCIFLUSH)
    time.sleep(0.001)
print("got " + sys.stdin.readline().strip())
"""


def test_answer_survives_the_flush_after_the_prompt(arc, real_runner, tmp_path):
    """pexpect waits 50 ms (delaybeforesend) before every answer, so a
    prompt followed by a flush of the terminal's input, as ansible's
    `pause` does, still gets its answer.  Ours answered within microseconds,
    and the flush threw the answer away: the job then hung until its
    timeout (seen once under load with the real `pause` task)."""
    fake = tmp_path / "fake-playbook"
    fake.write_text(FLUSHING_CHILD)
    fake.chmod(0o755)
    outs = {}
    for name, tool in (("real", real_runner), ("ours", arc)):
        d = tmp_path / name
        (d / "project").mkdir(parents=True)
        (d / "project" / "play.yml").write_text(PLAIN)
        (d / "env").mkdir()
        (d / "env" / "passwords").write_text(yaml_map({r"Type the colour:\s*?$": "teal"}))
        (d / "env" / "settings").write_text(json.dumps({"job_timeout": 10}))
        r = run([tool, "run", str(d), "-p", "play.yml", "--binary", str(fake), "--ident", "j1"])
        art = d / "artifacts" / "j1"
        outs[name] = (r.returncode, (art / "status").read_text(),
                      "got teal" in (art / "stdout").read_text())
    # Only ours is asserted: with this child 2.3.1's answer was flushed in 3
    # of 5 runs here (cause not found; with one flush 20 ms after the prompt
    # it got through, except once in CI under load).  Both runs must finish.
    assert outs["ours"] == (0, "successful", True), outs
    assert outs["real"][0] == 0, outs
