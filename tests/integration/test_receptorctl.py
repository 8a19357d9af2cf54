"""Integration tests for receptorctl (src/cmd/receptorctl*.c).

Design: receptorctl must print what upstream's Python receptorctl prints, so
the expected stdout/stderr/exit status come from upstream itself: every
receptorctl run recorded in tests/vectors/receptor/events-*.jsonl is
replayed (same argv, socket path swapped), and the rest of the expectations
are upstream's output strings (cli.py) and click 8's help pages and error
messages.

The server side is a fixture.  By default it is FakeControl
(test_receptorctl_fake.py), which answers with the exact bytes upstream's
daemon sent (control-transcripts.md) and records what the client sent, so the
protocol itself (half-close after the payload, the JSON submit line, "work
results ID 0") is checked too.  The tests at the end (TestRealDaemon) run
the same commands against real receptor daemons from the build, and are
skipped while the daemon lacks what they need.
"""

import json
import os
import re
import socket
import ssl
import subprocess
import threading

import pytest

from conftest import free_port
from test_receptorctl_fake import STATUS_ORDER, FakeControl, go_json, make_tls_files

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("RECEPTOR_BUILD", os.path.join(ROOT, "build"))
CTL = os.path.join(BUILD, "src", "cmd", "receptorctl")
VECTORS = os.environ.get("RECEPTOR_VECTORS", os.path.join(ROOT, "tests", "vectors", "receptor"))
for _name in ("control-transcripts.md", "events-2node.jsonl", os.path.join("3node", "events-3node.jsonl")):
    if not os.path.exists(os.path.join(VECTORS, _name)):  # a missing vector fails, never skips
        raise FileNotFoundError(f"test vector missing: {os.path.join(VECTORS, _name)}")
TRANSCRIPTS = os.path.join(VECTORS, "control-transcripts.md")

pytestmark = pytest.mark.skipif(not os.path.exists(CTL), reason=f"{CTL} not built")


def project_version():
    with open(os.path.join(ROOT, "meson.build")) as f:
        return re.search(r"version\s*:\s*'([^']+)'", f.read()).group(1)


VERSION = project_version()


def run_ctl(args, socket_path=None, stdin=b"", env=None, timeout=60):
    argv = [CTL] + (["--socket", socket_path] if socket_path else []) + list(args)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("RECEPTORCTL_")}
    full_env.update(env or {})
    p = subprocess.run(argv, input=stdin, capture_output=True, env=full_env, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def load_events(name):
    path = os.path.join(VECTORS, name)
    with open(path, encoding="utf-8") as f:
        return [e for e in map(json.loads, f) if e.get("event") == "receptorctl"]


@pytest.fixture
def fake(tmp_path):
    """A fake node A (2-node capture), listening on a unix socket."""
    servers = []

    def make(node_id="A", transcripts=TRANSCRIPTS):
        srv = FakeControl(node_id, VERSION, transcripts)
        srv.listen_unix(str(tmp_path / f"{node_id}-{len(servers)}.sock"))
        servers.append(srv)
        return srv

    yield make
    for s in servers:
        s.close()


# --------------------------------------------------------------- golden runs

def ping_replies(stdout, node):
    """Upstream ping replies that carry the TimeStr values of a recorded run."""
    replies = []
    for m in re.finditer(r"Reply from (\S+) in (\S+)\n", stdout):
        replies.append(go_json({"From": m.group(1), "Success": True, "Time": 1,
                                "TimeStr": m.group(2)}).encode() + b"\n")
    return replies


def traceroute_reply(stdout):
    hops = {}
    for m in re.finditer(r"(\d+): (\S+) in (\S+)\n", stdout):
        hops[m.group(1)] = {"From": m.group(2), "Time": 1, "TimeStr": m.group(3)}
    return go_json(hops).encode() + b"\n"


def prepare_fake_for(srv, event):
    """Sets up the fake so that it gives the daemon replies of a recorded run."""
    args = event["argv"][3:]
    out = event["stdout"]
    if args[0] == "ping":
        srv.replies[f"ping {args[1]}".encode()] = ping_replies(out, args[1])
    elif args[0] == "traceroute":
        srv.replies[f"traceroute {args[1]}".encode()] = traceroute_reply(out)
    elif args[0] == "status":
        srv.replies[b"status"] = go_json(json.loads(out), STATUS_ORDER).encode() + b"\n"
    elif args[:2] == ["work", "list"]:
        srv.replies[b"work list"] = go_json(json.loads(out), {
            "ExtraData": ["RemoteNode", "RemoteWorkType", "RemoteParams", "RemoteUnitID",
                          "RemoteStarted", "LocalCancelled", "LocalReleased", "SignWork",
                          "TLSClient", "Expiration"]}).encode() + b"\n"
    elif args[:2] == ["work", "submit"]:
        srv.next_unit = "l9BJzvUu"


def golden_events():
    cases = []
    for name in ("events-2node.jsonl", os.path.join("3node", "events-3node.jsonl")):
        for i, e in enumerate(load_events(name)):
            cases.append(pytest.param(e, id=f"{os.path.basename(name)}:{i}:{' '.join(e['argv'][3:])}"))
    return cases


@pytest.mark.parametrize("event", golden_events())
def test_recorded_upstream_run(fake, event):
    """Each recorded upstream receptorctl run gives the same stdout, stderr and
    exit status against a server answering as upstream's daemon did."""
    node = os.path.basename(os.path.dirname(event["argv"][2]))
    srv = fake(node)
    prepare_fake_for(srv, event)
    rc, out, err = run_ctl(event["argv"][3:], srv.address)
    assert (rc, out, err) == (event["rc"], event["stdout"], event["stderr"])


def test_submit_protocol_matches_upstream(fake):
    """work submit sends upstream's JSON line, then the payload, then a half-close;
    -f reads results with "work results ID 0" and then asks "work status"."""
    srv = fake()
    rc, out, err = run_ctl(["work", "submit", "echo", "--node", "B", "--payload-literal", "hello", "-f"],
                           srv.address)
    assert (rc, out, err) == (0, "hello\n", "")
    assert srv.lines == [
        b'{"command":"status","requested_fields":["Version"]}',
        b'{"command": "work", "subcommand": "submit", "node": "B", "worktype": "echo"}',
        b"work results sUHen3zS 0",
        b"work status sUHen3zS",
    ]
    assert srv.payloads == [b"hello\n"]
    assert srv.half_closed == [True]
    assert srv.connections == 3


def test_transcript_replies_used(fake):
    """Sanity: the fake answers with the captured bytes."""
    srv = fake()
    assert srv.replies[b"ping nosuchnode"] == b'{"Error":"no route to node","Success":false}\n'


# --------------------------------------------------------------- status

STATUS_TABLES = """\
Node ID: A
Version: 1.4.9+devel
System CPU Count: 2
System Memory MiB: 24105

Connection   Cost
B            1

Known Node   Known Connections
A            {
    "B": 1
}
B            {
    "A": 1
}

Route        Via
B            B

Node         Service   Type       Last Seen             Tags
A            control   Stream     2026-11-25 08:44:40   {'type': 'Control Service'}
B            control   Stream     2026-11-25 08:44:11   {'type': 'Control Service'}

Node          Work Types
B            echo
"""


def test_status_tables(fake):
    srv = fake()
    rc, out, err = run_ctl(["status"], srv.address)
    assert (rc, err) == (0, "")
    assert out == STATUS_TABLES


def test_status_tables_widths_and_extras(fake):
    """Long node IDs widen every table; costs keep Python's int/float forms;
    unknown keys are printed after the tables; Tags None prints '-'."""
    status = {
        "NodeID": "a-very-long-node-name", "Version": VERSION, "SystemCPUCount": 8,
        "SystemMemoryMiB": 100,
        "Connections": [{"NodeID": "a-very-long-node-name2", "Cost": 2.5}],
        "KnownConnectionCosts": {"x": {"y": 1.0}},
        "RoutingTable": {},
        "Advertisements": [
            {"NodeID": "n1", "Service": "svc", "Time": "2026-01-02T03:04:05+02:00", "ConnType": 2,
             "Tags": None, "WorkCommands": [{"WorkType": "s1", "Secure": True},
                                            {"WorkType": "p1", "Secure": False},
                                            {"WorkType": "s2", "Secure": True}]},
            {"NodeID": "n1", "Service": "other", "Time": "2026-01-02T03:04:05Z", "ConnType": 0,
             "Tags": {"it's": "ü\n"}, "WorkCommands": [{"WorkType": "p2", "Secure": False}]},
        ],
        "Extra": {"é": [1, 2.0, None]},
    }
    srv = fake()
    srv.replies[b"status"] = json.dumps(status).encode() + b"\n"
    rc, out, err = run_ctl(["status"], srv.address)
    assert (rc, err) == (0, "")
    w = 22
    expected = (
        f"Node ID: a-very-long-node-name\nVersion: {VERSION}\nSystem CPU Count: 8\n"
        "System Memory MiB: 100\n\n"
        f"{'Connection':<{w}} Cost\n{'a-very-long-node-name2':<{w}} 2.5\n\n"
        f"{'Known Node':<{w}} Known Connections\n{'x':<{w}} {{\n    \"y\": 1.0\n}}\n\n"
        f"{'Node':<{w}} Service   Type       Last Seen             Tags\n"
        f"{'n1':<{w}} svc       StreamTLS  2026-01-02 03:04:05   -               \n"
        f"{'n1':<{w}} other     Datagram   2026-01-02 03:04:05   {{\"it's\": 'ü\\n'}} \n\n"
        f"{'Node':<{w}}  Work Types\n{'n1':<{w}} p1\n\n"
        f"{'Node':<{w}}  Secure Work Types\n{'n1':<{w}} s1, s2\n"
        "Additional data returned from Receptor:\n"
        "{\n    \"Extra\": {\n        \"\\u00e9\": [\n            1,\n            2.0,\n"
        "            null\n        ]\n    }\n}\n"
    )
    assert out == expected


def test_status_json_python_formatting(fake):
    """json.dumps(indent=4, sort_keys=True): ensure_ascii escapes, Python float
    repr, Go's escaped <>& decoded, empty containers inline."""
    srv = fake()
    srv.replies[b"status"] = (b'{"b":[],"a":{},"c":"\\u003c\\u0026\xc2\xb5\xf0\x9f\x9a\x80\\u007f",'
                              b'"d":[1e-05,1E16,123456789012345678901234567890,-0,0.1,1.5e300,2.50]}\n')
    rc, out, err = run_ctl(["status", "--json"], srv.address)
    assert (rc, err) == (0, "")
    assert out == ('{\n    "a": {},\n    "b": [],\n    "c": "<&\\u00b5\\ud83d\\ude80\\u007f",\n'
                   '    "d": [\n        1e-05,\n        1e+16,\n        123456789012345678901234567890,\n'
                   '        0,\n        0.1,\n        1.5e+300,\n        2.5\n    ]\n}\n')


# --------------------------------------------------------------- ping, traceroute, reload

def test_ping_failure_exit_2(fake):
    srv = fake()
    rc, out, err = run_ctl(["ping", "nosuchnode", "--count", "2", "--delay", "0"], srv.address)
    assert (rc, out, err) == (2, "", "ERROR: no route to node\nERROR: no route to node\n")


def test_ping_error_with_from(fake):
    srv = fake()
    srv.replies[b"ping X"] = b'{"Error":"timeout","From":"B","Success":false,"TimeStr":"1s"}\n'
    rc, out, err = run_ctl(["ping", "X", "--count=1"], srv.address)
    assert (rc, out, err) == (2, "", "ERROR: timeout from B in 1s\n")


def test_ping_count_zero_and_command_error(fake):
    srv = fake()
    assert run_ctl(["ping", "B", "--count", "0"], srv.address) == (0, "", "")
    srv.replies[b"ping B"] = b"ERROR: no ping target\n"
    assert run_ctl(["ping", "B"], srv.address) == (1, "", "ERROR: no ping target\n")


def test_traceroute_sorted_numerically_and_error_hop(fake):
    srv = fake()
    hops = {str(i): {"From": f"N{i}", "Time": i, "TimeStr": f"{i}ms"} for i in range(12)}
    hops["11"]["Error"] = "timeout"
    srv.replies[b"traceroute N11"] = go_json(hops).encode() + b"\n"
    rc, out, err = run_ctl(["traceroute", "N11"], srv.address)
    assert rc == 0
    assert out == "".join(f"{i}: N{i} in {i}ms\n" for i in range(11))
    assert err == "ERROR: 11: Error timeout from N11 in 11ms\n"


@pytest.mark.parametrize("reply,rc,out,err", [
    (b'{"Success":true}\n', 0, "Reload successful\n", ""),
    (b'{"Error":"bad ERRORCODE 3","Success":false}\n', 3, "", "ERROR: bad ERRORCODE 3\n"),
    (b'{"Error":"no configuration file was provided, reload function not set ERRORCODE 4",'
     b'"Success":false}\n', 4, "",
     "ERROR: no configuration file was provided, reload function not set ERRORCODE 4\n"),
    (b'{"Error":"other","Success":false}\n', 5, "", "ERROR: other\n"),
])
def test_reload_exit_codes(fake, reply, rc, out, err):
    srv = fake()
    srv.replies[b"reload"] = reply
    assert run_ctl(["reload"], srv.address) == (rc, out, err)


# --------------------------------------------------------------- version, connection

def test_version_same(fake):
    srv = fake()
    assert run_ctl(["version"], srv.address) == (
        0, f"receptorctl  {VERSION}\nreceptor     {VERSION}\n", "")
    assert srv.lines == [b'{"command":"status","requested_fields":["Version"]}']


def test_version_mismatch_warns(fake):
    srv = fake()
    srv.version = "1.4.9+devel"
    warning = "Warning: receptorctl and receptor are different versions, they may not be compatible\n"
    assert run_ctl(["version"], srv.address) == (
        0, f"\treceptorctl  {VERSION}\n\treceptor     1.4.9+devel\n", warning)
    rc, out, err = run_ctl(["traceroute", "B"], srv.address)
    assert (rc, err) == (0, warning)


@pytest.mark.parametrize("form", ["unix:{}", "unix://{}", "{}"])
def test_socket_address_forms(fake, form):
    srv = fake()
    rc, out, err = run_ctl(["traceroute", "B"], form.format(srv.address))
    assert (rc, err) == (0, "")
    assert out.startswith("0: A in ")


def test_socket_from_environment(fake):
    srv = fake()
    rc, out, err = run_ctl(["traceroute", "B"], env={"RECEPTORCTL_SOCKET": srv.address})
    assert (rc, err) == (0, "")


def test_connection_errors(tmp_path):
    missing = str(tmp_path / "nope.sock")
    assert run_ctl(["status"], missing) == (1, "", f"ERROR: Socket path does not exist: {missing}\n")
    assert run_ctl(["status"], "tcp://a:b:c") == (1, "", "ERROR: Invalid socket address tcp://a:b:c\n")
    plain = tmp_path / "plain"
    plain.write_text("")
    assert run_ctl(["status"], str(plain)) == (1, "", "ERROR: [Errno 111] Connection refused\n")
    port = free_port()
    assert run_ctl(["status"], f"tcp://127.0.0.1:{port}") == (
        1, "", f"ERROR: Could not connect to host 127.0.0.1 port {port}\n")


def test_bad_greeting(tmp_path):
    path = str(tmp_path / "s.sock")
    lsock = socket.socket(socket.AF_UNIX)
    lsock.bind(path)
    lsock.listen(1)

    def serve():
        c, _ = lsock.accept()
        c.sendall(b"Hello\n")
        c.close()

    threading.Thread(target=serve, daemon=True).start()
    assert run_ctl(["status"], path) == (1, "", "ERROR: Failed to connect to Receptor socket\n")
    lsock.close()


def test_tcp_socket():
    srv = FakeControl("A", VERSION, TRANSCRIPTS)
    srv.listen_tcp()
    try:
        rc, out, err = run_ctl(["traceroute", "B"], f"tcp://127.0.0.1:{srv.address}")
        assert (rc, err) == (0, "")
        assert out.startswith("0: A in ")
    finally:
        srv.close()


@pytest.fixture
def tls_server(tmp_path):
    files = make_tls_files(str(tmp_path))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(files["server.crt"], files["server.key"])
    srv = FakeControl("A", VERSION, TRANSCRIPTS)
    srv.listen_tcp(ctx)
    yield srv, files
    srv.close()


def test_tls_socket(tls_server):
    srv, files = tls_server
    address = f"tls://localhost:{srv.address}"
    rc, out, err = run_ctl(["--rootcas", files["ca.crt"], "traceroute", "B"], address)
    assert (rc, err) == (0, "")
    # Untrusted server (system trust) fails like upstream.
    assert run_ctl(["traceroute", "B"], address) == (
        1, "", f"ERROR: Could not connect to host localhost port {srv.address}\n")


def test_tls_hostname_check_and_insecureskipverify(tls_server, tmp_path):
    srv, files = tls_server
    # 127.0.0.2 is not in the certificate: hostname check fails...
    srv2 = FakeControl("A", VERSION, TRANSCRIPTS)
    srv2.listener = socket.socket()
    srv2.listener.bind(("127.0.0.2", 0))
    srv2.address = srv2.listener.getsockname()[1]
    srv2.tls_context = srv.tls_context
    srv2._start()
    try:
        address = f"tls://127.0.0.2:{srv2.address}"
        rc, _, err = run_ctl(["--rootcas", files["ca.crt"], "traceroute", "B"], address)
        assert rc == 1 and "Could not connect" in err
        rc, _, err = run_ctl(["--rootcas", files["ca.crt"], "--insecureskipverify", "true",
                              "traceroute", "B"], address)
        assert (rc, err) == (0, "")
        # ... and the same through --config/--tls-client.
        config = tmp_path / "receptor.yml"
        config.write_text(f"---\n- node:\n    id: x\n- tls-client:\n    name: other\n"
                          f"- tls-client:\n    name: ctl\n    rootcas: {files['ca.crt']}\n"
                          f"    insecureskipverify: true\n")
        rc, _, err = run_ctl(["--config", str(config), "--tls-client", "ctl", "traceroute", "B"], address)
        assert (rc, err) == (0, "")
    finally:
        srv2.close()


def test_config_option_errors(tmp_path):
    assert run_ctl(["-c", "x.yml", "status"], "s") == (
        1, "", "ERROR: Must specify both config and tlsclient\n")
    assert run_ctl(["-c", "x.yml", "--rootcas", "r", "status"], "s") == (
        1, "", "ERROR: Cannot specify both config and rootcas, key, cert\n")
    assert run_ctl(["-c", str(tmp_path / "x.yml"), "--tls-client", "t", "status"], "s") == (
        1, "", f"ERROR: [Errno 2] No such file or directory: '{tmp_path / 'x.yml'}'\n")


# --------------------------------------------------------------- connect

def test_connect_bridges_stdin_and_stdout(fake):
    srv = fake()
    remote = FakeControl("B", VERSION)
    remote.replies[b"ping A"] = b'{"pong":1}\n'
    srv.remote_nodes["B"] = remote
    rc, out, err = run_ctl(["connect", "B", "control"], srv.address, stdin=b"ping A\n")
    assert (rc, err) == (0, "")
    assert out == 'Receptor Control, node B\n{"pong":1}\n\n'
    assert srv.lines[1] == b"connect B control "


def test_connect_error(fake):
    srv = fake()
    srv.replies[b"connect B control "] = b"ERROR: context canceled\n"
    assert run_ctl(["connect", "B", "control"], srv.address) == (
        1, "", "ERROR: ERROR: context canceled\n")


# --------------------------------------------------------------- work

def test_work_list_quiet_unit_and_node(fake):
    srv = fake()
    rc, out, err = run_ctl(["work", "list", "-q"], srv.address)
    assert (rc, out, err) == (0, "l9BJzvUu\n", "")
    rc, out, err = run_ctl(["work", "list", "--unit_id", "sUHen3zS"], srv.address)
    assert rc == 0 and json.loads(out)["sUHen3zS"]["State"] == 2
    remote = FakeControl("B", VERSION)
    remote.replies[b"work list"] = b'{"7WGEwHVt":{"State":2}}\n'
    srv.remote_nodes["B"] = remote
    rc, out, err = run_ctl(["work", "list", "--node", "B", "-q"], srv.address)
    assert (rc, out, err) == (0, "7WGEwHVt\n", "")
    assert srv.lines[-1] == b"connect B control "


def test_work_submit_json_line_and_params(fake, tmp_path):
    srv = fake()
    pfile = tmp_path / "kube.txt"
    pfile.write_bytes(b"line1\r\nline2\rend \xc3\xa9")
    rc, out, err = run_ctl(["work", "submit", "echo", "-n", "--node", "B", "--ttl", "1h", "--signwork",
                            "--tls-client", "tc", "-a", "params=x", "-a", f"kube_pod=@{pfile}",
                            "-a", "lit=@@at", "-a", "params=first", "more", "args"], srv.address)
    assert (rc, err) == (0, "")
    assert out == "Result: Job Started\nUnit ID: sUHen3zS\n"
    assert srv.lines[1] == (b'{"command": "work", "subcommand": "submit", "node": "B", "worktype": "echo", '
                            b'"tlsclient": "tc", "ttl": "1h", "signwork": "true", "params": "first more args", '
                            b'"kube_pod": "line1\\nline2\\nend \\u00e9", "lit": "@@at"}')
    assert srv.payloads == [b""]


def test_work_submit_payload_stdin_streams_large(fake):
    srv = fake()
    srv.unit_output = b"done\n"
    data = os.urandom(3 << 20)
    rc, out, err = run_ctl(["work", "submit", "echo", "-p", "-"], srv.address, stdin=data)
    assert (rc, out, err) == (0, "Result: Job Started\nUnit ID: sUHen3zS\n", "")
    assert srv.payloads == [data]
    assert srv.lines[1] == b'{"command": "work", "subcommand": "submit", "node": "localhost", "worktype": "echo"}'


def test_work_submit_payload_file_follow_rm(fake, tmp_path):
    srv = fake()
    f = tmp_path / "payload"
    f.write_bytes(b"abc" * 100000)
    rc, out, err = run_ctl(["work", "submit", "echo", "--payload", str(f), "-f", "--rm"], srv.address)
    assert (rc, err) == (0, "")
    assert out == "abc" * 100000 + "(sUHen3zS, released)\n"
    assert srv.lines[-1] == b"work release sUHen3zS"


def test_work_submit_failed_unit(fake):
    srv = fake()
    srv.unit_state, srv.unit_detail = 3, "exit status 1"
    rc, out, err = run_ctl(["work", "submit", "echo", "-l", "x", "-f"], srv.address)
    assert (rc, out, err) == (1, "x\n", "ERROR: Remote unit failed: exit status 1\n\n")


@pytest.mark.parametrize("args,err", [
    ([], "ERROR: Must provide one of --payload, --no-payload or --payload-literal.\n"),
    (["-l", ""], "ERROR: Must provide one of --payload, --no-payload or --payload-literal.\n"),
    (["-n", "-l", "x"], "ERROR: Cannot provide more than one of --payload, --no-payload and --payload-literal.\n"),
    (["-p", "/nonexistent"], "ERROR: Failed to load payload file: [Errno 2] No such file or directory: '/nonexistent'\n"),
])
def test_work_submit_payload_choice_errors(args, err):
    assert run_ctl(["work", "submit", "echo"] + args, "/nonexistent.sock") == (1, "", err)


def test_work_submit_errors_exit_101(fake):
    srv = fake()
    srv.submit_error = b"ERROR: unknown work type frob\n"
    assert run_ctl(["work", "submit", "frob", "-n"], srv.address) == (
        101, "", "ERROR: Failed to start work unit: unknown work type frob\n")
    assert run_ctl(["work", "submit", "echo", "-n", "-a", "node=x"], srv.address) == (
        101, "", "ERROR: Duplicate or illegal parameter node\n")
    assert run_ctl(["work", "submit", "echo", "-n", "-a", "novalue"], srv.address) == (
        101, "", "ERROR: dictionary update sequence element #0 has length 1; 2 is required\n")
    assert run_ctl(["work", "submit", "echo", "-n", "-a", "k=@/no/file"], srv.address) == (
        101, "", "ERROR: /no/file does not exist\n")
    srv.submit_error = None
    rc, out, err = run_ctl(["work", "submit", "echo", "-n", "--rm"], srv.address)
    assert rc == 0 and err == "Warning: using --rm without --follow. Unit results will never be seen.\n"


def test_work_results(fake):
    srv = fake()
    run_ctl(["work", "submit", "echo", "-l", "hello"], srv.address)
    assert run_ctl(["work", "results", "sUHen3zS"], srv.address) == (0, "hello\n", "")
    assert b"work results sUHen3zS 0" in srv.lines
    assert run_ctl(["work", "results", "nonexistent"], srv.address) == (
        1, "", "ERROR: Failed to get results: unknown work unit nonexistent\n")


def test_work_results_cut_by_a_reset_fails(tmp_path):
    """A results stream that ends in a connection reset is an error, not a
    short success (upstream's Python client raises)."""
    srv = FakeControl("A", VERSION)
    srv.listen_tcp()
    try:
        address = f"tcp://127.0.0.1:{srv.address}"
        run_ctl(["work", "submit", "echo", "-l", "x" * 100000], address)
        srv.results_reset = True
        rc, out, err = run_ctl(["work", "results", "sUHen3zS"], address)
        assert rc != 0 and len(out) < 100000, (rc, len(out), err)
        assert "Connection reset" in err, err
    finally:
        srv.close()


def test_results_to_a_full_disk_fail(fake):
    srv = fake()
    run_ctl(["work", "submit", "echo", "-l", "hello"], srv.address)
    with open("/dev/full", "wb") as full:
        p = subprocess.run([CTL, "--socket", srv.address, "work", "results", "sUHen3zS"],
                           stdout=full, stderr=subprocess.PIPE, timeout=60)
    assert p.returncode == 1
    assert p.stderr == b"ERROR: cannot write the output: No space left on device\n"


def test_work_cancel_release(fake):
    srv = fake()
    run_ctl(["work", "submit", "echo", "-l", "hello"], srv.address)
    assert run_ctl(["work", "cancel", "sUHen3zS"], srv.address) == (0, "Cancelled:\n(sUHen3zS, cancelled)\n", "")
    assert run_ctl(["work", "cancel"], srv.address) == (
        0, "", "Warning: No unit IDs supplied: Not doing anything\n")
    assert run_ctl(["work", "release", "nonexistent"], srv.address) == (
        1, "Released:\n", "ERROR: nonexistent: ERROR: unknown work unit nonexistent\n")
    srv.next_unit = "zzzz0000"
    run_ctl(["work", "submit", "echo", "-l", "hello"], srv.address)
    assert run_ctl(["work", "release", "--all", "--force"], srv.address) == (
        0, "Released:\n(sUHen3zS, released)\n(zzzz0000, released)\n", "")
    assert srv.lines[-2:] == [b"work force-release sUHen3zS", b"work force-release zzzz0000"]


# --------------------------------------------------------------- command line

MAIN_HELP = """\
Usage: receptorctl [OPTIONS] COMMAND [ARGS]...

Options:
  --socket TEXT                 Control socket address to connect to Receptor
                                (defaults to Unix socket, use tcp:// for TCP
                                socket)  [env var: RECEPTORCTL_SOCKET;
                                required]
  -c, --config TEXT             Config filename configured for receptor  [env
                                var: RECEPTORCTL_CONFIG]
  --tls-client TEXT             TLS client name specified in config  [env var:
                                RECEPTORCTL_TLSCLIENT]
  --rootcas TEXT                Root CA bundle to use instead of system trust
                                when connecting with tls
  --key TEXT                    Client private key filename
  --cert TEXT                   Client certificate filename
  --insecureskipverify BOOLEAN  Accept any server cert  [default: False]
  --help                        Show this message and exit.

Commands:
  connect     Connect the local terminal to a Receptor service on a...
  ping        Ping a Receptor node.
  reload      Reload receptor configuration.
  status      Show the status of the Receptor network.
  traceroute  Do a traceroute to a Receptor node.
  version     Show version information for receptorctl and the receptor node
  work        Commands related to unit-of-work processing
"""

# upstream's page plus -q (this project's addition: no progress line)
SUBMIT_HELP = """\
Usage: receptorctl work submit [OPTIONS] WORKTYPE [CMDPARAMS]...

  Submit a new unit of work.

Options:
  --node TEXT                 Receptor node to run the work on. Defaults to
                              the local node.
  -p, --payload TEXT          File containing unit of work data. Use - for
                              stdin.
  -l, --payload-literal TEXT  Use the command line string as the literal unit
                              of work data.
  -n, --no-payload            Send an empty payload.
  --tls-client TEXT           TLS client used when submitting work to a remote
                              node
  --ttl TEXT                  Time to live until remote work must start, e.g.
                              1h20m30s or 30m10s
  --signwork                  Digitally sign remote work submissions
  -f, --follow                Remain attached to the job and print its results
                              to stdout
  --rm                        Release unit after completion
  -a, --param TEXT            Additional Receptor parameter (key=value format)
  -q, --quiet                 No progress line on a terminal
  --help                      Show this message and exit.
"""

PING_HELP = """\
Usage: receptorctl ping [OPTIONS] NODE

  Ping a Receptor node.

Options:
  --count INTEGER  Number of pings to send  [default: 4]
  --delay FLOAT    Time to wait between pings  [default: 1.0]
  --help           Show this message and exit.
"""

WORK_HELP = """\
Usage: receptorctl work [OPTIONS] COMMAND [ARGS]...

  Commands related to unit-of-work processing

Options:
  --help  Show this message and exit.

Commands:
  cancel   Cancel (kill) one or more units of work.
  list     List known units of work.
  release  Release (delete) one or more units of work.
  results  Get results for a previously or currently running unit of work.
  submit   Submit a new unit of work.
"""

LIST_HELP = """\
Usage: receptorctl work list [OPTIONS]

  List known units of work.

Options:
  -q, --quiet        Only list unit IDs with no detail
  --node TEXT        Receptor node to list work from. Defaults to the local
                     node.
  --unit_id TEXT     Only show detail for a specific unit id
  --tls-client TEXT  TLS client config name used when connecting to remote
                     node
  --help             Show this message and exit.
"""

RELEASE_HELP = """\
Usage: receptorctl work release [OPTIONS] [UNIT_IDS]...

  Release (delete) one or more units of work.

Options:
  --force  Delete locally even if we can't reach the remote node
  --all    Delete all work units
  --help   Show this message and exit.
"""

CONNECT_HELP = """\
Usage: receptorctl connect [OPTIONS] NODE SERVICE

  Connect the local terminal to a Receptor service on a remote node.

Options:
  -r, --raw          Set terminal to raw mode
  --tls-client TEXT  TLS client config name used when connecting to remote
                     node
  --help             Show this message and exit.
"""


def simple_help(path, usage_args, text):
    return (f"Usage: receptorctl {path} [OPTIONS]{usage_args}\n\n  {text}\n\n"
            "Options:\n  --help  Show this message and exit.\n")


@pytest.mark.parametrize("args,expected", [
    ([], MAIN_HELP),
    (["--help"], MAIN_HELP),
    (["--socket", "x", "--help"], MAIN_HELP),
    # upstream's page plus --graph (this project's addition), laid out as click does
    (["status", "--help"], "Usage: receptorctl status [OPTIONS]\n\n  Show the status of the Receptor "
     "network.\n\nOptions:\n  --json                     Print as JSON\n"
     "  --graph [dot|svg|png|pdf]  Print the mesh as a Graphviz graph: DOT (the\n"
     "                             default) or rendered by Graphviz's dot\n"
     "  --help                     Show this message and exit.\n"),
    (["--socket", "x", "ping", "--help"], PING_HELP),
    (["--socket", "x", "reload", "--help"], simple_help("reload", "", "Reload receptor configuration.")),
    (["--socket", "x", "traceroute", "--help"],
     simple_help("traceroute", " NODE", "Do a traceroute to a Receptor node.")),
    (["--socket", "x", "connect", "--help"], CONNECT_HELP),
    (["--socket", "x", "version", "--help"],
     simple_help("version", "", "Show version information for receptorctl and the receptor node")),
    (["--socket", "x", "work"], WORK_HELP),
    (["--socket", "x", "work", "--help"], WORK_HELP),
    (["--socket", "x", "work", "list", "--help"], LIST_HELP),
    (["work", "submit", "--help"], SUBMIT_HELP),
    # upstream's page plus -q (this project's addition: no progress line)
    (["--socket", "x", "work", "results", "--help"],
     "Usage: receptorctl work results [OPTIONS] UNIT_ID\n\n  Get results for a previously or currently "
     "running unit of work.\n\nOptions:\n  -q, --quiet  No progress line on a terminal\n"
     "  --help       Show this message and exit.\n"),
    (["--socket", "x", "work", "cancel", "--help"],
     simple_help("work cancel", " [UNIT_IDS]...", "Cancel (kill) one or more units of work.")),
    (["--socket", "x", "work", "release", "--help"], RELEASE_HELP),
])
def test_help(args, expected):
    assert run_ctl(args) == (0, expected, "")


@pytest.mark.parametrize("args,err", [
    (["status"], "Missing parameter: socket"),
    (["--socket", "x", "--bogus", "status"], "No such option: --bogus"),
    (["--socket", "x", "status", "--bogus"], "No such option: --bogus"),
    (["--socket", "x", "status", "extra"], "Got unexpected extra argument (extra)"),
    (["--socket", "x", "traceroute", "a", "b", "c"], "Got unexpected extra arguments (b c)"),
    (["--socket", "x", "ping"], "Missing parameter: node"),
    (["--socket", "x", "ping", "--count", "abc", "B"], "'abc' is not a valid integer."),
    (["--socket", "x", "ping", "--count", "abc"], "'abc' is not a valid integer."),
    (["--socket", "x", "ping", "--delay", "x", "B"], "'x' is not a valid float."),
    (["--socket", "x", "ping", "--count"], "Option '--count' requires an argument."),
    (["--socket", "x", "bogus"], "No such command 'bogus'."),
    (["--socket", "x"], "Missing command."),
    (["--socket", "x", "work", "bogus"], "No such command 'bogus'."),
    (["--socket", "x", "work", "submit"], "Missing parameter: worktype"),
    (["--socket", "x", "work", "submit", "echo", "-l"], "Option '-l' requires an argument."),
    (["--socket", "x", "work", "submit", "echo", "-nx"], "No such option: -x"),
    (["--socket", "x", "work", "results"], "Missing parameter: unit_id"),
    (["--socket", "x", "--insecureskipverify", "maybe", "status"], "'maybe' is not a valid boolean."),
    (["--socket", "x", "connect", "a"], "Missing parameter: service"),
    (["--socket", "x", "connect", "--raw=1", "a", "b"], "Option '--raw' does not take a value."),
    (["--socket", "x", "status", "-h"], "No such option: -h"),
    (["--help", "--bogus"], "No such option: --bogus"),
])
def test_usage_errors(args, err):
    """Upstream runs click with standalone_mode=False: usage errors are printed
    as "ERROR: <message>" and exit with status 1."""
    assert run_ctl(args) == (1, "", f"ERROR: {err}\n")


# --------------------------------------------------------------- real daemon

class TestRealDaemon:
    """The same client against real receptor daemons (2-node A <- B);
    skipped while the daemon is not built or lacks a feature."""

    @pytest.fixture
    def nodes(self, mesh):
        from conftest import RECEPTOR, wait_for
        if not os.path.exists(RECEPTOR):
            pytest.skip("receptor daemon not built")
        a = mesh.node("A").start()
        work = [{"work-command": {"worktype": "echo", "command": "cat"}}]
        # remote work reaches B's control service over the mesh
        b = mesh.node("B", listen=False, peers=["A"], extra=work).serve_control_on_mesh()
        b.start()
        wait_for(lambda: "B" in a.routes() and "A" in b.routes(), 20, "routes")
        return a, b

    def test_ping_traceroute_status(self, nodes):
        a, _ = nodes
        rc, out, err = run_ctl(["ping", "B", "--count", "2", "--delay", "0.1"], a.sock)
        assert (rc, err) == (0, "")
        assert re.fullmatch(r"(Reply from B in [0-9.]+(ns|µs|ms|s)\n){2}", out)
        rc, out, err = run_ctl(["traceroute", "B"], a.sock)
        assert (rc, err) == (0, "")
        assert re.fullmatch(r"0: A in \S+\n1: B in \S+\n", out)
        rc, out, err = run_ctl(["status", "--json"], a.sock)
        assert (rc, err) == (0, "")
        assert json.loads(out)["NodeID"] == "A"
        rc, out, err = run_ctl(["status"], a.sock)
        assert rc == 0 and out.startswith("Node ID: A\n")

    def test_work_submit_follow(self, nodes):
        a, _ = nodes
        rc, out, err = run_ctl(["work", "list"], a.sock)
        if rc != 0:
            pytest.skip(f"daemon has no work commands yet: {err.strip()}")
        rc, out, err = run_ctl(["work", "submit", "echo", "--node", "B", "--payload-literal", "hello",
                                "-f", "--rm"], a.sock, timeout=120)
        assert (rc, err) == (0, "")
        assert out.startswith("hello\n")
