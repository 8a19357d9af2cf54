"""The metrics endpoint (`metrics` entry; receptor-c only): a real Prometheus
server (Debian's `prometheus`) scrapes a three-node mesh and answers PromQL
about it; hostile HTTP clients do not hurt the daemon; the entry works from
the command line and refuses bad addresses clearly."""
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from conftest import RECEPTOR, SLOW, free_port, wait_for
from test_work import echo_type, results, submit_raw

PROMETHEUS = shutil.which("prometheus")


def metrics_item(port):
    return {"metrics": {"address": "127.0.0.1", "port": port}}


def get(port, path="/metrics", method="GET"):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=30 * SLOW) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def samples(text):
    """name{labels} -> value, from the exposition text."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


# ---- a real Prometheus ------------------------------------------------------------


class Prometheus:
    def __init__(self, tmp_path, targets):
        self.dir = os.path.join(str(tmp_path), "prometheus")
        os.makedirs(self.dir)
        self.port = free_port()
        cfg = os.path.join(self.dir, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: receptor\n    static_configs:\n")
            for name, port in targets.items():
                f.write(f"      - targets: ['127.0.0.1:{port}']\n"
                        f"        labels: {{node: '{name}'}}\n")
        self.log = open(os.path.join(self.dir, "prometheus.log"), "wb")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={cfg}", f"--storage.tsdb.path={self.dir}/data",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(self.ready, 60, "prometheus ready")

    def ready(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=5) as r:
                return r.status == 200
        except OSError:
            return False

    def query(self, promql):
        """Instant query: {node label: value} of the result vector."""
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=30) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        return {s["metric"].get("node", ""): float(s["value"][1]) for s in body["data"]["result"]}

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.mark.skipif(not PROMETHEUS, reason="prometheus is not installed (scripts/install-deps)")
def test_prometheus_scrapes_a_three_node_mesh(mesh, tmp_path):
    ports = {n: free_port() for n in "abc"}
    a = mesh.node("a", extra=[metrics_item(ports["a"]), echo_type()])
    b = mesh.node("b", peers=["a"], extra=[metrics_item(ports["b"])])
    c = mesh.node("c", peers=["b"], extra=[metrics_item(ports["c"])])
    for n in (a, b, c):
        n.start()
    wait_for(lambda: "c" in a.routes() and "a" in c.routes(), 20, "routes")
    prom = Prometheus(tmp_path, ports)
    try:
        want = {"a": 1.0, "b": 1.0, "c": 1.0}
        wait_for(lambda: prom.query("up") == want, 60, "all three targets up")
        wait_for(lambda: prom.query("receptor_known_nodes") == {"a": 3.0, "b": 3.0, "c": 3.0},
                 60, "3 known nodes on every node")
        # connection state: b has two peers up, a and c one each (b)
        wait_for(lambda: prom.query("sum by (node) (receptor_peer_up)") == {"a": 1.0, "b": 2.0, "c": 1.0},
                 60, "peers up")
        assert prom.query('receptor_peer_up{peer="b"}') == {"a": 1.0, "c": 1.0}
        assert prom.query('receptor_connections{state="established"}') == {"a": 1.0, "b": 2.0, "c": 1.0}
        # routing: updates flowed, recomputations happened, nothing refused for size
        assert all(v > 0 for v in prom.query("receptor_routing_updates_received_total").values())
        assert all(v > 0 for v in prom.query("receptor_route_recomputations_total").values())
        assert prom.query('receptor_routing_updates_dropped_total{reason="table_full"}') == \
            {"a": 0.0, "b": 0.0, "c": 0.0}
        # bytes through b grow after pings from a to c; the RTT is recorded
        q = 'receptor_peer_sent_bytes_total{node="b",peer="c"}'
        wait_for(lambda: prom.query(q), 30, "b's counter towards c")
        before = prom.query(q)["b"]
        for _ in range(3):
            assert a.cmd("ping c")["Success"] is True
        wait_for(lambda: prom.query(q)["b"] > before, 60, "bytes b->c increasing after pings")
        wait_for(lambda: prom.query('receptor_ping_rtt_seconds{node="a",target="c"}'), 60, "RTT")
        assert 0 < prom.query('receptor_ping_rtt_seconds{node="a",target="c"}')["a"] < 30
        # work: a unit succeeds on a and its results are served
        unit, reply = submit_raw(a, "work submit a echo", b"hello metrics\n")
        assert unit, reply
        wait_for(lambda: a.cmd(f"work status {unit}")["State"] == 2, 30, "unit succeeded")
        assert results(a, unit) == b"hello metrics\n"
        wait_for(lambda: prom.query('receptor_work_units{worktype="echo",state="Succeeded"}') == {"a": 1.0},
                 60, "one succeeded echo unit")
        wait_for(lambda: prom.query("receptor_work_result_bytes_served_total").get("a", 0) >= 14,
                 60, "result bytes served")
        # control sessions and the process
        assert all(v > 0 for v in prom.query("receptor_control_sessions_total").values())
        assert all(v > 1e6 for v in prom.query("process_resident_memory_bytes").values())
        assert all(v >= 3 for v in prom.query("process_open_fds").values())
        # and nothing in the text upset Prometheus' parser
        assert prom.query("scrape_samples_scraped > 0").keys() == {"a", "b", "c"}
    finally:
        prom.stop()


# ---- hostile HTTP clients ------------------------------------------------------------


def raw(port, data, shut=True):
    """Sends data on a new connection; returns everything the daemon answers
    before it closes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=60 * SLOW)
    try:
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk
    finally:
        s.close()


def status_line(reply):
    return reply.split(b"\r\n", 1)[0].decode()


def test_hostile_http_clients_do_not_hurt_the_daemon(mesh):
    port = free_port()
    a = mesh.node("a", extra=[metrics_item(port)])
    a.start()
    # a slowloris: a partial request, held open
    slow = socket.create_connection(("127.0.0.1", port), timeout=60 * SLOW)
    slow.sendall(b"GET /metr")
    # others are answered meanwhile
    assert status_line(raw(port, b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n")) == "HTTP/1.1 200 OK"
    assert status_line(raw(port, b"GET /other HTTP/1.1\r\n\r\n")) == "HTTP/1.1 404 Not Found"
    reply = raw(port, b"DELETE /metrics HTTP/1.1\r\n\r\n")
    assert status_line(reply) == "HTTP/1.1 405 Method Not Allowed" and b"Allow: GET, HEAD" in reply
    assert status_line(raw(port, b"\x00\x01\x02garbage\xff\r\n\r\n")) == "HTTP/1.1 400 Bad Request"
    assert status_line(raw(port, b"GET /metrics HTTP/9.9\r\n\r\n")) == "HTTP/1.1 400 Bad Request"
    # an oversized head is refused, not buffered: the daemon answers before the
    # client has finished sending
    big = b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * (1 << 20)
    s = socket.create_connection(("127.0.0.1", port), timeout=60 * SLOW)
    try:
        try:
            s.sendall(big)
        except (BrokenPipeError, ConnectionResetError):
            pass
        reply = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                reply += chunk
        except ConnectionResetError:
            pass
    finally:
        s.close()
    assert reply == b"" or status_line(reply) == "HTTP/1.1 431 Request Header Fields Too Large", reply[:100]
    assert status_line(raw(port, big[:9000])) == "HTTP/1.1 431 Request Header Fields Too Large"
    # a HEAD gets headers only
    reply = raw(port, b"HEAD /metrics HTTP/1.0\r\n\r\n")
    assert status_line(reply) == "HTTP/1.1 200 OK" and reply.endswith(b"\r\n\r\n")
    # the slowloris is closed by the daemon (no timing asserted: just closed)
    assert slow.recv(1024) == b""
    slow.close()
    # more connections than allowed at once: the extra ones are closed, the
    # daemon goes on answering
    held = [socket.create_connection(("127.0.0.1", port), timeout=60 * SLOW) for _ in range(80)]
    for h in held:
        h.close()
    # (retried: the daemon may accept the next one before it sees the others go)
    code, headers, body = wait_for(lambda: get(port), 30, "an answer after the flood")
    assert code == 200 and "receptor_known_nodes 1" in body
    assert "metrics: more than 64 connections open: closing the newest" in a.logtext()
    assert a.cmd("ping a")["Success"] is True
    assert a.proc.poll() is None


# ---- configuration ------------------------------------------------------------------------


def test_metrics_from_the_command_line(tmp_path):
    port, lport = free_port(), free_port()
    log = open(tmp_path / "log", "wb")
    p = subprocess.Popen([RECEPTOR, "--node", "id=cli", f"datadir={tmp_path}/data",
                          "--tcp-listener", f"port={lport}", "bindaddr=127.0.0.1",
                          "--metrics", "address=127.0.0.1", f"port={port}"],
                         stdout=log, stderr=subprocess.STDOUT)
    try:
        code, headers, body = wait_for(lambda: get(port), 20, "metrics endpoint")
        assert code == 200
        assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
        s = samples(body)
        assert s['receptor_info{node_id="cli",version="%s"}' % body.split('version="')[1].split('"')[0]] == 1
        assert s["receptor_known_nodes"] == 1
        assert s['receptor_connections{state="established"}'] == 0
        # every family has HELP and TYPE lines, counters end in _total
        for line in body.splitlines():
            if line.startswith("# TYPE ") and line.endswith(" counter"):
                assert line.split()[2].endswith("_total"), line
    finally:
        p.terminate()
        p.wait(30)
        log.close()


@pytest.mark.parametrize("opts,message", [
    (["address=not-an-ip", "port=9273"], "metrics: address 'not-an-ip' is not an IPv4 or IPv6 address"),
    (["address=127.0.0.1", "port=70000"], "metrics: port 70000 is not between 1 and 65535"),
])
def test_metrics_bad_settings_stop_startup_clearly(tmp_path, opts, message):
    r = subprocess.run([RECEPTOR, "--node", "id=x", f"datadir={tmp_path}/data",
                        "--tcp-listener", f"port={free_port()}", "--metrics", *opts],
                       capture_output=True, timeout=30)
    assert r.returncode == 1
    assert message in r.stderr.decode()


def test_metrics_port_in_use_stops_startup_clearly(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    port = s.getsockname()[1]
    try:
        r = subprocess.run([RECEPTOR, "--node", "id=x", f"datadir={tmp_path}/data",
                            "--tcp-listener", f"port={free_port()}", "--metrics", f"port={port}"],
                           capture_output=True, timeout=30)
    finally:
        s.close()
    assert r.returncode == 1
    assert f"metrics: cannot listen on 127.0.0.1 port {port}: address already in use" in r.stderr.decode()


# ---- TLS handshake failures ---------------------------------------------------------------


def test_tls_handshake_failures_are_counted_by_reason(mesh, tmp_path):
    import ssl
    from test_tls import PKI
    pki = PKI(tmp_path)
    pki.ca("ca")
    pki.cert("a", "ca", ["a"])
    port = free_port()
    a = mesh.node("a", listen=False, extra=[
        {"tls-server": {"name": "srv", "cert": pki.path("a.crt"), "key": pki.path("a.key"),
                        "requireclientcert": True, "clientcas": pki.path("ca.crt")}},
        {"tcp-listener": {"port": mesh.port("a"), "bindaddr": "127.0.0.1", "tls": "srv"}},
        metrics_item(port)])
    a.start()
    # a client without a certificate: the server refuses it
    ctx = ssl.create_default_context(cafile=pki.path("ca.crt"))
    ctx.check_hostname = False
    with socket.create_connection(("127.0.0.1", mesh.port("a")), timeout=30 * SLOW) as raw_sock:
        try:
            with ctx.wrap_socket(raw_sock) as t:
                t.recv(1)
        except (ssl.SSLError, OSError):
            pass
    # plain text where a ClientHello should be
    with socket.create_connection(("127.0.0.1", mesh.port("a")), timeout=30 * SLOW) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n" * 4)
        try:
            s.recv(100)
        except OSError:
            pass

    def failures():
        s = samples(get(port)[2])
        return {k: v for k, v in s.items() if k.startswith("receptor_tls_handshake_failures_total")}
    got = wait_for(lambda: sum(failures().values()) >= 2 and failures(), 30, "two failures counted")
    assert got['receptor_tls_handshake_failures_total{config="srv",role="server",reason="no_certificate"}'] == 1, got
    assert sum(got.values()) == 2, got


def test_quic_tls_failures_over_the_mesh_are_counted(mesh, tmp_path):
    """A mesh service behind a tls-server (QUIC over the mesh, not TCP): a
    dialer whose certificate names another node is refused, and the
    refusing node counts it under its config, as for TCP links."""
    from test_tls import PKI
    pki = PKI(tmp_path)
    pki.ca("ca")
    pki.cert("a", "ca", ["a"])
    pki.cert("x", "ca", ["x"])
    port = free_port()
    a = mesh.node("a", extra=[
        {"tls-server": {"name": "srv", "cert": pki.path("a.crt"), "key": pki.path("a.key"),
                        "requireclientcert": True, "clientcas": pki.path("ca.crt")}},
        metrics_item(port)])
    for item in a.config:
        if "control-service" in item:
            item["control-service"].update(service="control", tls="srv")
    b = mesh.node("b", peers=["a"], extra=[
        {"tls-client": {"name": "cli", "cert": pki.path("x.crt"), "key": pki.path("x.key"),
                        "rootcas": pki.path("ca.crt"), "skipreceptornamescheck": True}}])
    a.start()
    b.start()
    wait_for(lambda: "a" in b.routes() and "b" in a.routes(), 20, "routes")
    b.wait_advert("a")
    ctl = b.ctl()
    ctl.line("connect a control cli")   # refused now or at the first byte: either way
    ctl.close()

    def failures():
        s = samples(get(port)[2])
        return {k: v for k, v in s.items() if k.startswith("receptor_tls_handshake_failures_total")}
    got = wait_for(failures, 30, "the refusal counted")
    assert got == {'receptor_tls_handshake_failures_total{config="srv",role="server",reason="verify"}': 1}, got
