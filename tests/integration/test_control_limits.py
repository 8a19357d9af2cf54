"""The control service at its limits: numbers out of range, command lines
longer than the service reads, the socket's mode from the moment it exists,
and a data directory that fills up during `work submit`.  Every case answers
a clear error, the daemon keeps running, and the session (where it should)
stays usable."""
import json
import os
import re
import socket
import subprocess

import pytest

from conftest import SANITIZED, rss_kb, wait_for

LIMIT = 256 * 1024  # CONTROL_MAX_LINE


def echo_node(mesh, name="a", **kw):
    opts = {"datadir": os.path.join(mesh.dir, name, "data")}
    opts.update(kw.pop("node_opts", {}))
    wt = {"worktype": "echo", "command": "cat", "allowruntimeparams": True}
    return mesh.node(name, node_opts=opts, extra=[{"work-command": wt}], **kw)


def submit(node, payload, params="", created=None):
    c = node.ctl()
    c.sock.sendall(f"work submit a echo {params}".strip().encode() + b"\n")
    first = c.f.readline().decode()
    m = re.match(r"Work unit created with ID (\w+)\.", first)
    if not m:
        c.close()
        return None, first
    if created:
        created(m.group(1))
    c.sock.sendall(payload)
    c.sock.shutdown(socket.SHUT_WR)
    reply = c.f.read().decode()
    c.close()
    return m.group(1), reply


def still_answers(node):
    assert node.proc.poll() is None, node.logtext()[-3000:]
    assert node.cmd("ping a")["Success"] is True


# ---- numbers from the client -------------------------------------------------------------------

def test_results_startpos_out_of_range(mesh):
    a = echo_node(mesh).start()
    unit, reply = submit(a, b"hello\n")
    assert json.loads(reply)["unitid"] == unit
    c = a.ctl()
    jcmd = '{"command":"work","subcommand":"results","unitid":"%s","startpos":%s}'
    for value in ("1e300", "-1e300", "1e19", "9.3e18", "9223372036854775808.0", "-1e-300"):
        assert c.line(jcmd % (unit, value)) == \
            f"ERROR: field startpos value {value_text(value)} is out of range (0 to 9223372036854775807)\n", value
    assert c.line(jcmd % (unit, "-1")) == \
        "ERROR: field startpos value -1 is out of range (0 to 9223372036854775807)\n"
    # what JSON cannot hold is a JSON error, as upstream answers it
    assert c.line(jcmd % (unit, "1e400")).startswith("ERROR: real number overflow")
    assert c.line("") == "ERROR: Unknown command\n"
    assert c.line(jcmd % (unit, "NaN")).startswith("ERROR: ")
    assert c.line("") == "ERROR: Unknown command\n"
    # the plain form answers with upstream's words
    assert c.line(f"work results {unit} 1e300") == \
        'ERROR: error converting start position to integer: strconv.ParseInt: parsing "1e300": invalid syntax\n'
    assert c.line(f"work results {unit} 99999999999999999999") == \
        'ERROR: error converting start position to integer: strconv.ParseInt: parsing ' \
        '"99999999999999999999": value out of range\n'
    assert c.line(f"work results {unit} -5") == \
        "ERROR: start position -5 is out of range (0 to 9223372036854775807)\n"
    assert c.line(f"work results {unit} \t5").startswith("ERROR: error converting start position")
    # the session is still usable, and so are results at a valid position
    assert json.loads(c.line("status"))["NodeID"] == "a"
    c.close()
    wait_for(lambda: a.cmd(f"work status {unit}")["State"] == 2, 20, "unit done")
    c = a.ctl()
    c.sock.sendall(b'{"command":"work","subcommand":"results","unitid":"%s","startpos":2.0}\n' % unit.encode())
    assert c.f.readline() == f"Streaming results for work unit {unit}\n".encode()
    assert c.f.read() == b"llo\n"
    c.close()
    still_answers(a)


def test_submit_params_of_many_words_arrive_whole(mesh):
    a = echo_node(mesh).start()
    long = [f"{i:03d}" + "x" * 150 for i in range(60)]  # 9 KiB in all
    words = " ".join(f"w{i}" for i in range(12)) + "  double-spaced " + " ".join(long)
    c = a.ctl()
    c.sock.sendall(f"work submit a echo {words}\n".encode())
    unit = re.match(r"Work unit created with ID (\w+)\.", c.f.readline().decode()).group(1)
    c.close()
    # the runner gets them all too: cat names the last one it cannot open
    wait_for(lambda: a.cmd(f"work status {unit}")["State"] == 3, 20, "cat failed")
    c = a.ctl()
    c.sock.sendall(f"work results {unit}\n".encode())
    c.f.readline()
    assert f"cat: {long[-1]}: No such file or directory".encode() in c.f.read()
    c.close()
    still_answers(a)


def value_text(v):
    """How the daemon prints a JSON real (C's %g)."""
    return "%g" % float(v)


def test_remote_ttl_out_of_range(mesh):
    a = echo_node(mesh).start()
    c = a.ctl()
    # a duration Go parses, but now + ttl is past what a time in ns holds
    line = c.line('{"command":"work","subcommand":"submit","node":"b","worktype":"echo",'
                  '"ttl":"2500000h"}')
    assert line == "ERROR: ttl 2500000h is out of range: the unit would expire after the year 2262\n"
    c.close()
    still_answers(a)


# ---- long command lines ----------------------------------------------------------------------

def test_oversize_line_is_answered_and_the_session_goes_on(mesh):
    a = mesh.node("a")
    if SANITIZED:  # ASan's quarantine would hold every freed read buffer
        a.env = dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=1")
    a.start()
    c = a.ctl()
    # a 1 MiB line, then a command in the same write: both answered, in order
    c.sock.sendall(b"x" * (1 << 20) + b"\nstatus\n")
    assert c.f.readline() == b"ERROR: command line too long (more than %d bytes)\n" % LIMIT
    assert json.loads(c.f.readline())["NodeID"] == "a"
    # a JSON line just over the limit, with CRs, then a plain command
    c.sock.sendall(b'{"command":"ping","target":"' + b"a\r" * LIMIT + b'"}\r\n')
    assert c.f.readline() == b"ERROR: command line too long (more than %d bytes)\n" % LIMIT
    assert c.json("ping a")["Success"] is True
    # a line exactly at the limit is still read (and is an unknown command)
    assert c.line("y" * LIMIT) == "ERROR: Unknown command\n"
    # discarding is bounded: 64 MiB without a newline leave no trace in memory
    rss0 = rss_kb(a.proc.pid)
    chunk = b"z" * (1 << 20)
    for _ in range(64):
        c.sock.sendall(chunk)
    c.sock.sendall(b"\n")
    assert c.f.readline() == b"ERROR: command line too long (more than %d bytes)\n" % LIMIT
    assert rss_kb(a.proc.pid) < rss0 + 16 * 1024
    assert c.json("ping a")["Success"] is True
    c.close()
    still_answers(a)


# ---- the socket's mode -----------------------------------------------------------------------

PRELOAD_SRC = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

/* Records the mode every unix socket file has the moment bind() creates it. */
int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
    static int (*real)(int, const struct sockaddr *, socklen_t);
    if (!real)
        real = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "bind");
    int rc = real(fd, addr, len);
    const char *log = getenv("BIND_MODE_LOG");
    if (rc == 0 && log && addr->sa_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)addr;
        struct stat sb;
        FILE *f = fopen(log, "a");
        if (f && un->sun_path[0] && stat(un->sun_path, &sb) == 0)
            fprintf(f, "%s %o\n", un->sun_path, (unsigned)(sb.st_mode & 07777));
        if (f)
            fclose(f);
    }
    return rc;
}
"""


@pytest.mark.parametrize("perms", [0o600, 0o660])
def test_control_socket_never_wider_than_configured(mesh, tmp_path, perms):
    src = tmp_path / "bindmode.c"
    src.write_text(PRELOAD_SRC)
    so = tmp_path / "bindmode.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(so), str(src), "-ldl"], check=True)
    log = tmp_path / "binds.log"
    a = mesh.node("a")
    for item in a.config:
        if "control-service" in item:
            item["control-service"]["permissions"] = perms
    env = dict(os.environ, LD_PRELOAD=str(so), BIND_MODE_LOG=str(log))
    # ASan wants its runtime first; the shim only wraps bind()
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"
    a.env = env
    # a umask that lets everything through: only the daemon can keep it narrow
    old = os.umask(0)
    try:
        a.start()
    finally:
        os.umask(old)
    binds = dict(line.rsplit(" ", 1) for line in log.read_text().splitlines())
    assert a.sock in binds, binds
    at_bind = int(binds[a.sock], 8)
    assert at_bind & ~perms == 0, f"socket was {at_bind:o} at bind, configured {perms:o}"
    assert os.stat(a.sock).st_mode & 0o7777 == perms
    still_answers(a)


# ---- a full data directory -----------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs")
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)]).returncode != 0:
        pytest.skip("cannot mount tmpfs here")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)])


def unit_dirs(mnt):
    d = os.path.join(mnt, "a")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def status_text(params):
    return json.dumps({"State": 0, "Detail": "Waiting for Input Data", "StdoutSize": 0, "WorkType": "echo",
                       "ExtraData": {"Pid": 0, "Params": params}}, separators=(",", ":")) + "\n"


# near_page: the status file is a few bytes short of a page, so the Failed
# status, longer, needs a second page on a disk the payload filled
@pytest.mark.parametrize("near_page", [False, True])
def test_submit_payload_larger_than_the_disk(mesh, small_disk, near_page):
    try:
        a = echo_node(mesh, node_opts={"datadir": str(small_disk)}).start()
        params = ""
        if near_page:
            params = "p" * (4096 - 10 - len(status_text("")))
            assert len(status_text(params)) == 4086

        def created(unit):
            with open(os.path.join(small_disk, "a", unit, "status")) as f:
                assert f.read() == status_text(params)
        unit, reply = submit(a, b"p" * (4 << 20), params, created)
        assert unit
        assert reply == f"ERROR: cannot write stdin of unit {unit}: No space left on device\n"
        st = a.cmd(f"work status {unit}")
        assert st["State"] == 3 and st["Detail"] == f"cannot write stdin of unit {unit}: No space left on device"
        assert st["ExtraData"]["Params"] == params
        # space again: the next unit works
        assert a.cmd(f"work release {unit}") == {"released": unit}
        unit2, reply = submit(a, b"small\n")
        assert json.loads(reply)["unitid"] == unit2
        still_answers(a)
    finally:
        mesh.stop()


def test_submit_on_a_full_disk_leaves_no_half_unit(mesh, small_disk):
    try:
        a = echo_node(mesh, node_opts={"datadir": str(small_disk)}).start()
        fd = os.open(os.path.join(small_disk, "filler"), os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"f" * 4096):
                pass
        except OSError:
            pass
        os.close(fd)
        c = a.ctl()
        reply = c.line("work submit a echo")
        c.close()
        assert re.fullmatch(r"ERROR: cannot write \S+/status: No space left on device\n", reply), reply
        # no unit directory is left behind to be listed as a broken unit
        assert a.cmd("work list") == {}
        assert unit_dirs(small_disk) == []
        os.unlink(os.path.join(small_disk, "filler"))
        unit, reply = submit(a, b"ok\n")
        assert json.loads(reply)["unitid"] == unit
        still_answers(a)
    finally:
        mesh.stop()


def test_status_that_grows_on_a_full_disk(mesh, small_disk):
    # the status ends a few bytes short of a page; the disk then fills up
    # (another unit, another program); the client drops the connection
    # mid-payload, and the unit's Failed status, longer, still fits
    port = mesh.port("ctl-tcp")
    try:
        a = echo_node(mesh, node_opts={"datadir": str(small_disk)})
        for item in a.config:
            if "control-service" in item:
                item["control-service"]["tcplisten"] = f"127.0.0.1:{port}"
        a.start()
        params = "p" * (4096 - 10 - len(status_text("")))
        s = socket.create_connection(("127.0.0.1", port))
        f = s.makefile("rb")
        f.readline()
        s.sendall(f"work submit a echo {params}\n".encode())
        unit = re.search(r"ID (\w+)\.", f.readline().decode()).group(1)
        with open(os.path.join(small_disk, "a", unit, "status")) as st:
            assert st.read() == status_text(params)
        fd = os.open(os.path.join(small_disk, "filler"), os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"f" * 4096):
                pass
        except OSError:
            pass
        os.close(fd)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        f.close()
        s.close()   # a reset: the payload is incomplete
        detail = "Client disconnected before sending all stdin data"
        wait_for(lambda: a.cmd(f"work status {unit}")["Detail"] == detail, 20, "failed")
        assert a.cmd(f"work status {unit}")["State"] == 3
        with open(os.path.join(small_disk, "a", unit, "status")) as st:
            assert json.loads(st.read())["Detail"] == detail
        still_answers(a)
    finally:
        mesh.stop()


def test_remote_unit_whose_local_stdout_cannot_be_opened_fails(mesh):
    # results that cannot be stored locally must fail the unit, not vanish
    a = mesh.node("a", node_opts={"datadir": os.path.join(mesh.dir, "a", "data")})
    c = mesh.node("c", listen=False, peers=["a"],
                  extra=[{"work-command": {"worktype": "echo", "command": "cat"}}]).serve_control_on_mesh()
    a.start()
    unit, reply = submit_to(a, "c", b"later\n")
    assert json.loads(reply) == {"result": "Job Submitted", "unitid": unit}
    os.mkdir(os.path.join(mesh.dir, "a", "data", "a", unit, "stdout"))  # open() fails: EISDIR
    c.start()
    wait_for(lambda: a.cmd(f"work status {unit}")["State"] == 3, 60, "failed")
    st = a.cmd(f"work status {unit}")
    assert st["Detail"] == "cannot open stdout: Is a directory", st
    still_answers(a)


def submit_to(node, target, payload):
    c = node.ctl()
    c.sock.sendall(f"work submit {target} echo\n".encode())
    unit = re.match(r"Work unit created with ID (\w+)\.", c.f.readline().decode()).group(1)
    c.sock.sendall(payload)
    c.sock.shutdown(socket.SHUT_WR)
    reply = c.f.read().decode()
    c.close()
    return unit, reply
