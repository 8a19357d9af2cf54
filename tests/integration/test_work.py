"""Work units with real daemons: local and remote work through hops, payloads,
results, cancel, release, TTL, resilience to restarts, hostile input."""
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest

from conftest import BUILD, SANITIZED, fd_count, rss_kb, wait_for

RECEPTORCTL = os.path.join(BUILD, "src", "cmd", "receptorctl")


def work_node(mesh, name, peers=(), listen=True, extra=(), mesh_control=True):
    items = list(extra)
    n = mesh.node(name, peers=peers, listen=listen, extra=items,
                  node_opts={"datadir": os.path.join(mesh.dir, name, "data")})
    if mesh_control:
        n.serve_control_on_mesh()
    return n


def echo_type(name="echo", command="cat", **kw):
    opts = {"worktype": name, "command": command}
    opts.update(kw)
    return {"work-command": opts}


def ctl(node, *args, input=None, timeout=120):
    return subprocess.run([RECEPTORCTL, "--socket", node.sock, *args], input=input,
                          capture_output=True, timeout=timeout * (3 if SANITIZED else 1))


def submit_raw(node, line, payload=b""):
    c = node.ctl()
    c.sock.sendall(line.encode() + b"\n")
    first = c.f.readline().decode()
    m = re.match(r"Work unit created with ID (\w+)\. Send stdin data and EOF\.\n", first)
    if not m:
        c.close()
        return None, first
    if payload:
        c.sock.sendall(payload)
    c.sock.shutdown(socket.SHUT_WR)
    reply = c.f.read().decode()
    c.close()
    return m.group(1), reply


def results(node, unit, startpos=0):
    c = node.ctl()
    c.sock.sendall(f"work results {unit} {startpos}\n".encode())
    head = c.f.readline()
    assert head == f"Streaming results for work unit {unit}\n".encode(), head
    data = c.f.read()
    c.close()
    return data


def status(node, unit):
    return node.cmd(f"work status {unit}")


def line3(mesh, c_extra=(), a_extra=()):
    a = work_node(mesh, "a", extra=a_extra)
    b = work_node(mesh, "b", peers=["a"], mesh_control=False)
    c = work_node(mesh, "c", peers=["b"], extra=list(c_extra) or [echo_type()])
    for n in (a, b, c):
        n.start()
    wait_for(lambda: "c" in a.routes() and "a" in c.routes(), 20, "routes")
    a.wait_advert("c")
    return a, b, c


# ---- local work ------------------------------------------------------------------------

def test_local_submit_results_list_release(mesh):
    a = work_node(mesh, "a", extra=[echo_type(), echo_type("sleep", "sleep", allowruntimeparams=True)])
    a.start()
    unit, reply = submit_raw(a, '{"command": "work", "subcommand": "submit", "node": "a", "worktype": "echo"}',
                             b"hello\n")
    assert json.loads(reply) == {"result": "Job Started", "unitid": unit}
    assert results(a, unit) == b"hello\n"
    assert results(a, unit, 3) == b"lo\n"
    # the runner writes the final state; the daemon clears ExtraData when
    # the runner process has exited (upstream's final file has null)
    wait_for(lambda: status(a, unit)["ExtraData"] is None, 10, "runner exit noticed")
    st = status(a, unit)
    assert st["State"] == 2 and st["StateName"] == "Succeeded" and st["Detail"] == "exit status 0"
    assert st["StdoutSize"] == 6 and st["WorkType"] == "echo" and st["ExtraData"] is None
    # upstream's on-disk layout and file format
    d = os.path.join(mesh.dir, "a", "data", "a", unit)
    assert sorted(os.listdir(d)) == ["status", "status.lock", "stdin", "stdout"]
    assert oct(os.stat(os.path.join(d, "stdout")).st_mode & 0o777) == "0o600"
    with open(os.path.join(d, "status")) as f:
        text = f.read()
    assert text == '{"State":2,"Detail":"exit status 0","StdoutSize":6,"WorkType":"echo","ExtraData":null}\n'
    assert unit in a.cmd("work list")
    assert a.cmd(f"work release {unit}") == {"released": unit}
    assert not os.path.exists(d)
    assert unit not in a.cmd("work list")
    reply = a.ctl().line(f"work status {unit}")
    assert reply.startswith(f"ERROR: unknown work unit {unit}") and "released" in reply


def test_runtime_params_allowed_and_refused(mesh):
    a = work_node(mesh, "a", extra=[echo_type(), echo_type("say", "echo", allowruntimeparams=True, params="base")])
    a.start()
    unit, reply = submit_raw(a, "work submit a say extra words")
    assert "Job Started" in reply
    wait_for(lambda: status(a, unit)["State"] == 2, 20, "say done")
    assert results(a, unit) == b"base extra words\n"
    _, reply = submit_raw(a, "work submit a echo some params")
    assert reply == "ERROR: extra params provided but not allowed\n"


def test_cancel_running_unit(mesh):
    a = work_node(mesh, "a", extra=[echo_type("sleep", "sleep", params="60")])
    a.start()
    unit, reply = submit_raw(a, "work submit a sleep")
    wait_for(lambda: status(a, unit)["State"] == 1, 20, "running")
    pid = status(a, unit)["ExtraData"]["Pid"]
    assert pid > 0
    assert a.cmd(f"work cancel {unit}") == {"cancelled": unit}
    st = status(a, unit)
    assert st["State"] == 4 and st["StateName"] == "Canceled"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_daemon_restart_leaves_jobs_running(mesh):
    a = work_node(mesh, "a", extra=[echo_type("count", "sh", params="-c 'for i in 1 2 3 4 5 6; do echo $i; sleep 0.5; done'")])
    a.start()
    unit, _ = submit_raw(a, "work submit a count")
    wait_for(lambda: status(a, unit)["State"] == 1, 20, "running")
    a.stop(signal.SIGKILL)
    time.sleep(0.5)
    a.start()
    wait_for(lambda: status(a, unit)["State"] == 2, 30, "completes after the restart")
    assert results(a, unit) == b"1\n2\n3\n4\n5\n6\n"


# ---- remote work ----------------------------------------------------------------------------

def test_remote_submit_payload_forms_through_a_hop(mesh, tmp_path):
    a, b, c = line3(mesh)
    payload = tmp_path / "payload.txt"
    payload.write_bytes(b"from a file\n")
    r = ctl(a, "work", "submit", "echo", "--node", "c", "--payload", str(payload), "-f")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"from a file\n"
    r = ctl(a, "work", "submit", "echo", "--node", "c", "--payload", "-", "-f", input=b"from stdin\n")
    assert r.returncode == 0 and r.stdout == b"from stdin\n"
    r = ctl(a, "work", "submit", "echo", "--node", "c", "-l", "literal", "-f", "--rm")
    assert r.returncode == 0 and r.stdout.startswith(b"literal\n") and b"released" in r.stdout
    units_a = a.cmd("work list")
    units_c = c.cmd("work list")
    assert len(units_a) == 2 and len(units_c) == 2   # --rm released both halves
    for uid, st in units_a.items():
        assert st["WorkType"] == "remote" and st["State"] == 2
        assert st["ExtraData"]["RemoteNode"] == "c" and st["ExtraData"]["RemoteStarted"] is True
        assert st["ExtraData"]["RemoteUnitID"] in units_c
    # results with startpos on the submitting node
    uid = next(iter(units_a))
    data = results(a, uid)
    assert results(a, uid, 5) == data[5:]
    # release removes the unit on both nodes
    remote_id = units_a[uid]["ExtraData"]["RemoteUnitID"]
    assert a.cmd(f"work release {uid}") == {"released": uid}
    assert remote_id not in c.cmd("work list")


def test_remote_one_gib_payload_through_cat(mesh, tmp_path):
    size = (32 << 20) if SANITIZED else (1 << 30)
    a, b, c = line3(mesh)
    block = hashlib.sha256(b"x").digest() * 32768
    h = hashlib.sha256()
    path = tmp_path / "big"
    with open(path, "wb") as f:
        left = size
        i = 0
        while left:
            chunk = (i.to_bytes(8, "big") + block)[:min(left, len(block) + 8)]
            f.write(chunk)
            h.update(chunk)
            left -= len(chunk)
            i += 1
    r = subprocess.Popen([RECEPTORCTL, "--socket", a.sock, "work", "submit", "echo", "--node", "c",
                          "--payload", str(path), "-f"], stdout=subprocess.PIPE)
    got = hashlib.sha256()
    n = 0
    while True:
        d = r.stdout.read(1 << 20)
        if not d:
            break
        got.update(d)
        n += len(d)
    assert r.wait(600) == 0
    assert n == size and got.hexdigest() == h.hexdigest()
    os.unlink(path)


def test_results_reach_a_slow_reader_whole(mesh):
    """A complete unit's results are written at once; what the socket could
    not take yet is still queued in the daemon when it ends the stream, and
    must reach a reader that only starts reading later."""
    size = 250000  # more than a unix socket buffer, less than the daemon's high-water mark
    a = work_node(mesh, "a", extra=[echo_type("big", "head", params=f"-c {size} /dev/urandom")])
    a.start()
    unit, reply = submit_raw(a, "work submit a big")
    wait_for(lambda: status(a, unit)["State"] == 2, 20, "unit complete")
    expected = open(os.path.join(mesh.dir, "a", "data", "a", unit, "stdout"), "rb").read()
    assert len(expected) == size
    c = a.ctl()
    c.sock.sendall(f"work results {unit} 0\n".encode())
    assert c.f.readline() == f"Streaming results for work unit {unit}\n".encode()
    time.sleep(0.5)  # the daemon has sent, queued the rest and ended the stream
    got = c.f.read()
    c.close()
    assert len(got) == size and got == expected


def test_remote_cancel_and_runtime_params(mesh):
    a, b, c = line3(mesh, c_extra=[echo_type("sleep", "sleep", allowruntimeparams=True)])
    unit, reply = submit_raw(a, "work submit c sleep 60")
    assert "Job Started" in reply
    wait_for(lambda: status(a, unit)["State"] == 1, 20, "running remotely")
    remote = status(a, unit)["ExtraData"]["RemoteUnitID"]
    assert a.cmd(f"work cancel {unit}") == {"cancelled": unit}
    wait_for(lambda: status(c, remote)["State"] == 4, 20, "canceled on c")
    wait_for(lambda: status(a, unit)["State"] == 4, 20, "canceled mirrored on a")
    assert a.cmd(f"work release {unit}") == {"released": unit}
    assert remote not in c.cmd("work list")


def test_submit_while_target_down_then_it_starts(mesh):
    a = work_node(mesh, "a")
    c = work_node(mesh, "c", peers=["a"], listen=False, extra=[echo_type()])
    a.start()
    unit, reply = submit_raw(a, "work submit c echo", b"later\n")
    assert json.loads(reply) == {"result": "Job Submitted", "unitid": unit}
    assert status(a, unit)["State"] == 0
    c.start()
    wait_for(lambda: status(a, unit)["State"] == 2, 60, "starts once c appears")
    assert results(a, unit) == b"later\n"


def test_ttl_expires_while_target_down(mesh):
    a = work_node(mesh, "a")
    a.start()
    c = a.ctl()
    c.sock.sendall(b'{"command":"work","subcommand":"submit","node":"c","worktype":"echo","ttl":"2s"}\n')
    first = c.f.readline().decode()
    unit = re.search(r"ID (\w+)\.", first).group(1)
    c.sock.shutdown(socket.SHUT_WR)
    assert "Job Submitted" in c.f.read().decode()
    wait_for(lambda: status(a, unit)["State"] == 3, 30, "expired")
    assert status(a, unit)["Detail"].startswith("Work unit expired on ")
    # ttl on local work is refused
    _, reply = submit_raw(a, '{"command":"work","subcommand":"submit","node":"a","worktype":"echo","ttl":"1s"}')
    assert reply.startswith("ERROR: ")


def test_adopt_a_unit_running_on_another_node(mesh):
    a, b, c = line3(mesh, c_extra=[slow_type()])
    remote, _ = submit_raw(c, "work submit c slow")
    wait_for(lambda: status(c, remote)["StdoutSize"] > 20, 20, "running on c")
    reply = a.cmd(f"work adopt c {remote}")
    assert reply["result"] == "Adopted"
    unit = reply["unitid"]
    st = status(a, unit)
    assert st["WorkType"] == "remote" and st["ExtraData"]["RemoteUnitID"] == remote
    wait_for(lambda: status(a, unit)["State"] == 2, 60, "adopted unit completes")
    assert results(a, unit) == EXPECTED
    assert status(a, unit)["ExtraData"]["RemoteWorkType"] == "slow"
    assert a.cmd(f"work release {unit}") == {"released": unit}
    assert remote not in c.cmd("work list")
    assert a.ctl().line("work adopt c ../x").startswith("ERROR: ")


# ---- signing -----------------------------------------------------------------------------------

def keypair(tmp_path, name):
    key, pub = tmp_path / f"{name}.pem", tmp_path / f"{name}.pub"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-out", str(pub)], check=True,
                   capture_output=True)
    return str(key), str(pub)


def signing_mesh(mesh, tmp_path, expiration="5m", signer_key=None):
    key, pub = keypair(tmp_path, "signer")
    other_key, _ = keypair(tmp_path, "other")
    a = work_node(mesh, "a", extra=[{"work-signing": {"privatekey": signer_key and other_key or key,
                                                      "tokenexpiration": expiration}}])
    b = work_node(mesh, "b", peers=["a"], mesh_control=False)
    c = work_node(mesh, "c", peers=["b"], extra=[{"work-verification": {"publickey": pub}},
                                                 echo_type(verifysignature=True),
                                                 echo_type("plain", "cat")])
    for n in (a, b, c):
        n.start()
    wait_for(lambda: "c" in a.routes() and "a" in c.routes(), 20, "routes")
    a.wait_advert("c")
    return a, b, c


def test_signed_work(mesh, tmp_path):
    a, b, c = signing_mesh(mesh, tmp_path)
    # the work type is advertised as secure
    ad = a.advert("c", "control")
    assert {"WorkType": "echo", "Secure": True} in ad["WorkCommands"]
    r = ctl(a, "work", "submit", "echo", "--node", "c", "--signwork", "-l", "signed", "-f")
    assert r.returncode == 0 and r.stdout == b"signed\n", r.stderr
    # unsigned: refused by c (not a unix-socket client there)
    _, reply = submit_raw(a, "work submit c echo", b"x\n")
    assert reply.startswith("ERROR: ") and "could not verify signature: signature is empty" in reply
    # a signature for a type that does not expect one
    _, reply = submit_raw(a, '{"command":"work","subcommand":"submit","node":"c","worktype":"plain","signwork":"true"}',
                          b"x\n")
    assert "work type did not expect a signature" in reply
    # the local unix socket is trusted on c itself
    unit, reply = submit_raw(c, "work submit c echo", b"local\n")
    assert "Job Started" in reply


def test_signed_work_wrong_key(mesh, tmp_path):
    a, b, c = signing_mesh(mesh, tmp_path, signer_key="other")
    _, reply = submit_raw(a, '{"command":"work","subcommand":"submit","node":"c","worktype":"echo","signwork":"true"}',
                          b"x\n")
    assert reply.startswith("ERROR: ") and "could not verify signature" in reply


def test_signed_work_expired_token(mesh, tmp_path):
    a, b, c = signing_mesh(mesh, tmp_path, expiration="-1m")
    _, reply = submit_raw(a, '{"command":"work","subcommand":"submit","node":"c","worktype":"echo","signwork":"true"}',
                          b"x\n")
    assert reply.startswith("ERROR: ") and "token is expired" in reply


def test_signing_config_errors(tmp_path):
    from conftest import RECEPTOR
    r = subprocess.run([RECEPTOR, "--node", "id=x", "--local-only", "--work-command", "worktype=w",
                        "command=cat", "verifysignature=true"], capture_output=True, text=True, timeout=10)
    assert r.returncode != 0 and "work-verification" in r.stderr
    r = subprocess.run([RECEPTOR, "--node", "id=x", "--local-only", "--work-signing",
                        f"privatekey={tmp_path}/missing.pem", "tokenexpiration=1m"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode != 0 and "could not load signing key file" in r.stderr


# ---- resilience -------------------------------------------------------------------------------

SLOW = "for i in $(seq 1 100); do echo line $i; sleep 0.1; done"


def slow_type():
    return echo_type("slow", "sh", params=f"-c '{SLOW}'")


EXPECTED = b"".join(f"line {i}\n".encode() for i in range(1, 101))


def test_hop_killed_and_restarted_mid_stream(mesh):
    a, b, c = line3(mesh, c_extra=[slow_type()])
    unit, reply = submit_raw(a, "work submit c slow")
    assert "Job Started" in reply
    wait_for(lambda: status(a, unit)["StdoutSize"] > 100, 20, "output flowing")
    b.stop(signal.SIGKILL)
    time.sleep(2)
    b.start()
    wait_for(lambda: status(a, unit)["State"] == 2, 90, "completes after the hop came back")
    assert results(a, unit) == EXPECTED


def test_executing_node_restarted_while_job_runs(mesh):
    a, b, c = line3(mesh, c_extra=[slow_type()])
    unit, _ = submit_raw(a, "work submit c slow")
    wait_for(lambda: status(a, unit)["StdoutSize"] > 50, 20, "output flowing")
    c.stop(signal.SIGKILL)
    time.sleep(1)
    c.start()
    wait_for(lambda: status(a, unit)["State"] == 2, 90, "completes")
    assert results(a, unit) == EXPECTED


TICKS = "for i in $(seq 1 150); do echo tick $i; sleep 0.2; done"
TICKS_OUT = b"".join(f"tick {i}\n".encode() for i in range(1, 151))


def test_status_poll_survives_its_connection_dying_while_idle(mesh):
    """The submitting node's status connection to the executor dies between
    two polls (the executor is killed just after answering one, and
    restarted): the next poll must dial again.  Otherwise the unit is never
    seen to finish: it stays Running after every byte of its output has
    arrived."""
    a, b, c = line3(mesh, c_extra=[echo_type("ticks", "sh", params=f"-c '{TICKS}'")])
    unit, reply = submit_raw(a, "work submit c ticks")
    assert "Job Started" in reply
    time.sleep(4)  # the connections are older than the 2 s of clock skew allowed

    def polls():
        return c.logtext().count("Control service command: work status")
    seen = polls()
    wait_for(lambda: polls() > seen, 10, "a status poll")
    c.stop(signal.SIGKILL)  # the next poll is due in 1 s: the connection is idle
    c.start()
    wait_for(lambda: status(a, unit)["State"] == 2, 90, "completes")
    assert results(a, unit) == TICKS_OUT


def test_executing_node_restarted_right_after_results_stream_opened(mesh):
    """The restart comes less than 2 s after the submitting node opened its
    results stream: the mesh's new epoch for the node must still end that
    stream at once (it talks to the dead process, and the new one drops its
    packets), not leave it waiting for QUIC's 30 s idle timeout."""
    a, b, c = line3(mesh, c_extra=[echo_type("ticks", "sh", params=f"-c '{TICKS}'")])
    unit, reply = submit_raw(a, "work submit c ticks")
    assert "Job Started" in reply
    stdout = os.path.join(mesh.dir, "a", "data", "a", unit, "stdout")
    wait_for(lambda: os.path.getsize(stdout) > 0, 20, "first output")
    c.stop(signal.SIGKILL)
    c.start()
    at = os.path.getsize(stdout)
    # the job prints for 30 s: within 15 s its output reaches us again
    wait_for(lambda: os.path.getsize(stdout) > at + 20, 15, "output again after the restart")
    wait_for(lambda: status(a, unit)["State"] == 2, 90, "completes")
    assert results(a, unit) == TICKS_OUT


def test_results_resume_promptly_after_every_one_of_many_restarts(mesh):
    """Each executor restart breaks the results stream; each resumption
    that works must reset the retry back-off, or after a few restarts the
    next retry is half a minute away (1 s x 1.5 per failure, ever)."""
    job = "for i in $(seq 1 400); do echo tick $i; sleep 0.1; done"
    a, b, c = line3(mesh, c_extra=[echo_type("ticks", "sh", params=f"-c '{job}'")])
    unit, reply = submit_raw(a, "work submit c ticks")
    assert "Job Started" in reply
    stdout = os.path.join(mesh.dir, "a", "data", "a", unit, "stdout")
    for i in range(9):
        at = os.path.getsize(stdout) if os.path.exists(stdout) else 0
        wait_for(lambda: os.path.getsize(stdout) > at + 20, 15, f"output again after restart {i}")
        c.stop(signal.SIGKILL)
        c.start()
    wait_for(lambda: status(a, unit)["State"] == 2, 90, "completes")
    assert results(a, unit) == b"".join(f"tick {i}\n".encode() for i in range(1, 401))


def test_status_poll_dials_again_after_a_failed_dial(mesh):
    """The hop is down for 23 s: the pending status request times out after
    20 s and the status connection's redial fails (no route), while the
    results stream survives (QUIC waits 30 s).  The status poll must dial
    again later; it used to wait for the results stream to break first, so
    the unit's status stayed stale as long as the results kept flowing."""
    job = "for i in $(seq 1 250); do echo tick $i; sleep 0.2; done"
    a = work_node(mesh, "a")
    c = work_node(mesh, "c", extra=[echo_type("ticks", "sh", params=f"-c '{job}'")])
    b = work_node(mesh, "b", peers=["a", "c"], mesh_control=False)  # redials both at once
    for n in (a, c, b):
        n.start()
    wait_for(lambda: "c" in a.routes() and "a" in c.routes(), 20, "routes")
    a.wait_advert("c")
    unit, reply = submit_raw(a, "work submit c ticks")
    assert "Job Started" in reply
    wait_for(lambda: status(a, unit)["StdoutSize"] > 0, 20, "status polled")
    b.stop(signal.SIGKILL)
    time.sleep(23)
    b.start()
    wait_for(lambda: "c" in a.routes(), 20, "routes again")
    at = status(a, unit)["StdoutSize"]
    wait_for(lambda: status(a, unit)["StdoutSize"] > at + 100, 15, "status polled again")
    assert a.cmd(f"work release {unit}") == {"released": unit}


def test_submitting_node_restarted_mid_stream(mesh):
    a, b, c = line3(mesh, c_extra=[slow_type()])
    unit, _ = submit_raw(a, "work submit c slow")
    wait_for(lambda: status(a, unit)["StdoutSize"] > 50, 20, "output flowing")
    a.stop(signal.SIGKILL)
    time.sleep(1)
    a.start()
    wait_for(lambda: status(a, unit)["State"] == 2, 90, "completes")
    assert results(a, unit) == EXPECTED


def test_remote_unit_lost_on_executor_fails_promptly(mesh):
    a, b, c = line3(mesh, c_extra=[slow_type()])
    unit, _ = submit_raw(a, "work submit c slow")
    wait_for(lambda: status(a, unit)["State"] == 1, 20, "running")
    remote = status(a, unit)["ExtraData"]["RemoteUnitID"]
    c.stop(signal.SIGKILL)
    # the unit's runner outlives its daemon and keeps writing into the unit's
    # directory, so rm -rf could fail on a file it had just made ("Directory
    # not empty"); a rename takes the directory away in one step
    os.rename(os.path.join(mesh.dir, "c", "data", "c", remote), os.path.join(mesh.dir, "lost-" + remote))
    c.start()
    wait_for(lambda: status(a, unit)["State"] == 3, 30, "failed with a reason")
    assert status(a, unit)["Detail"] == "Remote work unit is gone"


# ---- hostile input ---------------------------------------------------------------------------------

def test_bad_unit_ids_types_and_startpos(mesh):
    a = work_node(mesh, "a", extra=[echo_type()])
    a.start()
    unit, _ = submit_raw(a, "work submit a echo", b"x\n")
    c = a.ctl()
    for bad in ("../../etc", "..", "a/b", "x" * 5000, "%2e%2e"):
        assert c.line(f"work status {bad}").startswith("ERROR: unknown work unit")
        assert c.line(f"work release {bad}").startswith("ERROR: unknown work unit")
    assert c.line('{"command":"work","subcommand":"status","unitid":5}') == "ERROR: field unitid must be a string\n"
    assert c.line('{"command":"work","subcommand":"submit","node":"a","worktype":"echo","params":7}') == \
        "ERROR: submit parameters must all be strings and params is not\n"
    assert c.line('{"command":"work","subcommand":"results","unitid":"%s","startpos":"0"}' % unit) == \
        "ERROR: field startpos must be a number\n"
    assert c.line(f"work results {unit} -5").startswith("ERROR: ")
    assert c.line(f"work results {unit} abc").startswith("ERROR: ")
    assert c.line('{"command":"work","subcommand":"frob"}') == "ERROR: bad command\n"
    c.close()
    # a huge startpos: nothing to send; the stream ends when the unit is complete
    wait_for(lambda: status(a, unit)["State"] == 2, 20, "done")
    assert results(a, unit, 10 ** 15) == b""
    assert os.path.exists(os.path.join(mesh.dir, "a", "data", "a", unit))


def test_payload_cut_off_mid_way(mesh):
    # over TCP a dropped client is a reset, which a unix socket cannot show
    port = mesh.port("ctl-tcp")
    a = work_node(mesh, "a", extra=[echo_type()])
    for item in a.config:
        if "control-service" in item:
            item["control-service"]["tcplisten"] = f"127.0.0.1:{port}"
    a.start()
    s = socket.create_connection(("127.0.0.1", port))
    f = s.makefile("rb")
    f.readline()
    s.sendall(b"work submit a echo\n")
    unit = re.search(r"ID (\w+)\.", f.readline().decode()).group(1)
    s.sendall(b"partial payload without EOF")
    time.sleep(0.3)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    f.close()
    s.close()   # reset, not a half-close
    wait_for(lambda: status(a, unit)["State"] == 3, 20, "failed")
    assert "before sending all stdin" in status(a, unit)["Detail"]
    assert a.cmd("ping a")["Success"]


def test_corrupt_status_file(mesh):
    a = work_node(mesh, "a", extra=[echo_type()])
    a.start()
    unit, _ = submit_raw(a, "work submit a echo", b"x\n")
    wait_for(lambda: status(a, unit)["State"] == 2, 20, "done")
    a.stop()
    with open(os.path.join(mesh.dir, "a", "data", "a", unit, "status"), "w") as f:
        f.write('{"State": "garbage", ')
    a.start()
    st = status(a, unit)
    assert st["State"] == 3 and st["Detail"].startswith("Failed to restart: ")
    assert a.cmd(f"work release {unit}") == {"released": unit}


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount a small tmpfs")
def test_full_disk_while_writing_stdout(mesh, tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)]).returncode != 0:
        pytest.skip("cannot mount tmpfs here")
    try:
        a = mesh.node("a", node_opts={"datadir": str(mnt)},
                      extra=[echo_type("big", "sh", params="-c 'head -c 4000000 /dev/zero'")])
        a.start()
        unit, _ = submit_raw(a, "work submit a big")
        wait_for(lambda: status(a, unit)["State"] == 3, 30, "failed on a full disk")
        assert a.cmd("ping a")["Success"]
        assert a.proc.poll() is None
    finally:
        for n in mesh.nodes.values():
            n.stop()
        subprocess.run(["umount", "-l", str(mnt)])


FAIL_OPEN_SRC = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fails read-only opens of a unit's stdout with EMFILE while the count in
 * $FAIL_STDOUT_OPENS (a file) is above zero, counting down: the daemon out
 * of descriptors at the moment a results stream opens the output. */
static int take_one(const char *path, int flags)
{
    const char *ctl = getenv("FAIL_STDOUT_OPENS");
    size_t n = strlen(path);
    if (!ctl || (flags & O_ACCMODE) != O_RDONLY || n < 7 || strcmp(path + n - 7, "/stdout") != 0)
        return 0;
    FILE *f = fopen(ctl, "r+");
    int left = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%d", &left) == 1 && left > 0) {
        rewind(f);
        fprintf(f, "%d\n", left - 1);
        fclose(f);
        return 1;
    }
    fclose(f);
    return 0;
}

#define WRAP(name)                                                      \
    int name(const char *path, int flags, ...)                          \
    {                                                                   \
        static int (*real)(const char *, int, ...);                     \
        va_list ap;                                                     \
        va_start(ap, flags);                                            \
        int mode = (flags & (O_CREAT | O_TMPFILE)) ? va_arg(ap, int) : 0; \
        va_end(ap);                                                     \
        if (!real)                                                      \
            real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, #name); \
        if (take_one(path, flags)) {                                    \
            errno = EMFILE;                                             \
            return -1;                                                  \
        }                                                               \
        return real(path, flags, mode);                                 \
    }
WRAP(open)
WRAP(open64)
"""


def test_results_wait_out_a_failed_open_of_the_output(mesh, tmp_path):
    """A results stream that cannot open a complete unit's stdout for a
    reason other than its absence (EMFILE here) retries; it once ended at
    once, and the client saw a unit with no output (b'')."""
    src = tmp_path / "failopen.c"
    src.write_text(FAIL_OPEN_SRC)
    so = tmp_path / "failopen.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(so), str(src), "-ldl"], check=True)
    ctl_file = tmp_path / "fail-count"
    ctl_file.write_text("0\n")
    a = work_node(mesh, "a", extra=[echo_type()], mesh_control=False)
    a.env = dict(os.environ, LD_PRELOAD=str(so), FAIL_STDOUT_OPENS=str(ctl_file))
    a.env["ASAN_OPTIONS"] = a.env.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"
    a.start()
    unit, reply = submit_raw(a, "work submit a echo", b"x\n")
    assert json.loads(reply) == {"result": "Job Started", "unitid": unit}, reply
    wait_for(lambda: status(a, unit)["State"] == 2, 20, "unit complete")
    ctl_file.write_text("3\n")
    assert results(a, unit) == b"x\n"
    assert ctl_file.read_text().strip() == "0"   # the opens did fail
    assert a.logtext().count(f"work results {unit}: cannot open") == 1
    assert results(a, unit) == b"x\n"


def test_no_growth_over_many_units(mesh):
    n = int(os.environ.get("WORK_GROWTH_UNITS", 500 if SANITIZED else 10000))
    a = work_node(mesh, "a", extra=[echo_type()], mesh_control=False)
    if SANITIZED:
        # ASan keeps freed memory in a 256 MB quarantine, resident: bound it,
        # or the RSS check measures the quarantine filling, not the daemon
        a.env = dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=1")
    a.start()

    def cycle():
        unit, reply = submit_raw(a, "work submit a echo", b"x\n")
        # a unit that did not start has no output: say so, not b''
        assert json.loads(reply) == {"result": "Job Started", "unitid": unit}, reply
        got = results(a, unit)
        assert got == b"x\n", (got, status(a, unit))
        assert a.cmd(f"work release {unit}") == {"released": unit}
    for _ in range(50):
        cycle()
    fds0, rss0 = fd_count(a.proc.pid), rss_kb(a.proc.pid)
    for _ in range(n):
        cycle()
    fds1, rss1 = fd_count(a.proc.pid), rss_kb(a.proc.pid)
    assert fds1 <= fds0 + 2, (fds0, fds1)
    assert rss1 <= rss0 + 4096, (rss0, rss1)
    assert a.cmd("work list") == {}


def test_daemon_stopped_while_clients_follow_results(mesh):
    """SIGTERM while clients follow `work results` of running units: the
    daemon frees its units at shutdown, and a results stream (and its
    fallback timer) must let go of its unit first.  Once a stream's timer
    fired on a freed unit (heap-use-after-free, seen under ASan); the mesh
    fixture fails the test on any sanitizer report in the log."""
    a = work_node(mesh, "a", extra=[echo_type("slow", "sh",
                                              params="-c 'echo started; exec sleep 60'")])
    a.start()
    units = [submit_raw(a, "work submit a slow")[0] for _ in range(3)]
    followers = []
    for unit in units:
        wait_for(lambda: status(a, unit)["State"] == 1, 20, "running")
        for _ in range(3):
            c = a.ctl()
            assert c.line(f"work results {unit}").startswith("Streaming results")
            followers.append(c)
    for c in followers:
        assert c.f.readline() == b"started\n"
    # some streams wait on their slow timer, others on the unit's watcher
    time.sleep(1.2)
    assert a.stop() == 0
    for c in followers:
        assert c.f.read() == b""   # the stream ends, nothing half-sent
        c.close()
    assert "AddressSanitizer" not in a.logtext()
    # the jobs outlive the daemon by design: the restarted daemon finds
    # them still running, and cancelling them ends them
    a.start()
    for unit in units:
        assert status(a, unit)["State"] == 1
        assert a.cmd(f"work cancel {unit}") == {"cancelled": unit}


def results_now(node, unit):
    """What the unit's stdout holds so far (work results waits for the end)."""
    with open(os.path.join(node.mesh.dir, node.name, "data", node.name, unit, "stdout")) as f:
        return f.read()


def gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_cancel_ends_what_the_command_started(mesh):
    """A cancelled command's children are ended with it: the shell below
    exits at SIGINT while its background sleep (SIGINT ignored, as in any
    non-interactive shell) would run on; the runner kills the command's
    process group.  Upstream leaves the sleep running."""
    a = work_node(mesh, "a", extra=[echo_type("bg", "sh", params="-c 'sleep 600 & echo $!; wait'")])
    a.start()
    unit, _ = submit_raw(a, "work submit a bg")
    wait_for(lambda: results_now(a, unit).strip().isdigit(), 20, "the sleep's pid")
    sleep_pid = int(results_now(a, unit))
    assert not gone(sleep_pid)
    assert a.cmd(f"work cancel {unit}") == {"cancelled": unit}
    assert status(a, unit)["State"] == 4
    wait_for(lambda: gone(sleep_pid), 10, "the sleep ended")


def test_cancel_after_a_daemon_restart(mesh):
    """A job that outlived a daemon restart is cancelled by the new daemon,
    which did not fork its runner (no SIGCHLD): the cancel is answered once
    the runner has exited.  It once waited forever: the runner writes its
    final state just before exiting, and the daemon stopped watching the
    runner when it saw that state."""
    a = work_node(mesh, "a", extra=[echo_type("bg", "sh", params="-c 'sleep 600 & echo $!; wait'")])
    a.start()
    unit, _ = submit_raw(a, "work submit a bg")
    wait_for(lambda: results_now(a, unit).strip().isdigit(), 20, "the sleep's pid")
    sleep_pid = int(results_now(a, unit))
    assert a.stop() == 0
    a.start()
    assert status(a, unit)["State"] == 1
    assert a.cmd(f"work cancel {unit}") == {"cancelled": unit}
    st = status(a, unit)
    assert st["State"] == 4 and st["Detail"] == "Canceled" and st["ExtraData"] is None
    wait_for(lambda: gone(sleep_pid), 10, "the sleep ended")
