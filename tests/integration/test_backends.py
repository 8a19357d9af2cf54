"""The UDP and WebSocket backends with real daemons: 5-node lines over each,
a mixed TCP-UDP-WS line, redial after a listener restarts, reload adding and
removing a peer, and hostile input on both kinds of listener."""
import base64
import os
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import RECEPTOR, SLOW, rss_kb, wait_for


def converged(node, dests):
    routes = node.routes()
    return all(d in routes for d in dests) and routes


def all_converged(nodes, timeout=30):
    names = {n.name for n in nodes}
    for n in nodes:
        wait_for(lambda: converged(n, names - {n.name}), timeout, f"routes on {n.name}")


def line(mesh, kinds):
    """n0 - n1 - ... where node i listens with kinds[i] and dials node i-1."""
    nodes = []
    for i, kind in enumerate(kinds):
        name = f"n{i}"
        nodes.append(mesh.node(name, peers=[f"n{i - 1}"] if i else [], kind=kind))
    for nd in nodes:
        nd.start()
    return nodes


def check_line(nodes):
    first, last = nodes[0], nodes[-1]
    names = [n.name for n in nodes]
    all_converged(nodes)
    assert first.routes() == {n: names[1] for n in names[1:]}
    reply = first.cmd(f"ping {last.name}")
    assert reply["Success"] is True and reply["From"] == last.name
    trace = first.cmd(f"traceroute {last.name}")
    assert [trace[str(i)]["From"] for i in range(len(nodes))] == names
    assert all("Error" not in v for v in trace.values())
    assert last.cmd(f"ping {first.name}")["From"] == first.name


@pytest.mark.parametrize("kind", ["udp", "ws"])
def test_five_node_line(mesh, kind):
    nodes = line(mesh, [kind] * 5)
    check_line(nodes)
    st = nodes[2].status()
    assert {c["NodeID"] for c in st["Connections"]} == {"n1", "n3"}
    assert st["KnownConnectionCosts"]["n2"] == {"n1": 1, "n3": 1}


def test_mixed_line_tcp_udp_ws(mesh):
    nodes = line(mesh, ["tcp", "udp", "ws", "tcp", "udp", "ws"])
    check_line(nodes)
    log = nodes[2].logtext()
    assert "Connection established with n1 (udp 127.0.0.1:" in log
    assert "Connection established with n3 (ws 127.0.0.1:" in log


@pytest.mark.parametrize("kind", ["udp", "ws"])
def test_redial_after_listener_restart(mesh, kind):
    a = mesh.node("a", kind=kind)
    b = mesh.node("b", peers=["a"], listen=False)
    a.start()
    b.start()
    all_converged([a, b])
    a.stop()
    # the dialer notices (UDP: ICMP refused or idle timeout; WS: EOF)
    wait_for(lambda: "a" not in b.routes(), 40, "b to drop the route to a")
    a.start()
    wait_for(lambda: converged(b, ["a"]) and converged(a, ["b"]), 40, "redial to the restarted a")
    assert b.cmd("ping a")["Success"]


def test_reload_adds_and_removes_a_udp_peer(mesh):
    a = mesh.node("a", kind="udp")
    c = mesh.node("c", kind="udp")
    b = mesh.node("b", peers=["a"], listen=False)
    for n in (a, c, b):
        n.start()
    all_converged([a, b])
    assert "c" not in b.routes()
    # add a udp-peer to c
    b.write_config(b.config[:-1] + [mesh.peer_item("c"), b.config[-1]])
    assert b.cmd("reload") == {"Success": True}
    wait_for(lambda: converged(b, ["a", "c"]), 30, "b to reach c after the reload")
    assert b.cmd("ping c")["Success"]
    # and remove the one to a: the link to c stays up
    items = [it for it in b.config if it != mesh.peer_item("a")]
    b.write_config(items)
    assert b.cmd("reload") == {"Success": True}
    wait_for(lambda: "a" not in b.routes(), 30, "b to drop a after the reload")
    assert b.cmd("ping c")["Success"]
    assert "Reload: stopping backend udp-peer" in b.logtext()
    assert "Connection to c closed" not in b.logtext()  # the link to c stayed up


def test_udp_listener_survives_garbage_from_many_sources(mesh):
    a = mesh.node("a", kind="udp")
    b = mesh.node("b", peers=["a"], listen=False)
    a.start()
    b.start()
    all_converged([a, b])
    before = rss_kb(a.proc.pid)
    port = mesh.port("a")
    socks = []
    for i in range(300):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    for rnd in range(5):
        for i, s in enumerate(socks):
            junk = os.urandom(1 + (i * 37 + rnd) % 1400)
            s.sendto(junk, ("127.0.0.1", port))
            # half of them start like a routing update: opens a session
            s.sendto(b"\x01" + junk, ("127.0.0.1", port))
            s.sendto(b"\x01{\"NodeID\": 5}", ("127.0.0.1", port))
            s.sendto(b"", ("127.0.0.1", port))
    # oversized datagram near the limit
    socks[0].sendto(b"\x01" + b"x" * 65000, ("127.0.0.1", port))
    # drops are reported at most every 5 s: this line may come that late
    wait_for(lambda: "not routing updates" in a.logtext(), 15, "the report of the dropped garbage")
    assert a.proc.poll() is None
    assert a.cmd("ping b")["Success"]
    assert b.cmd("ping a")["Success"]
    # sessions that never completed a handshake are given up after ~11 s
    wait_for(lambda: "no routing update received, giving up" in a.logtext(), 30, "abandoned sessions")
    after = rss_kb(a.proc.pid)
    assert after - before < 64 * 1024, (before, after)
    for s in socks:
        s.close()
    assert a.cmd("ping b")["Success"]


def test_udp_drops_within_the_report_interval_are_reported(mesh):
    """The first drop is reported at once and the next report waits 5 s; the
    drops of those 5 s must still be reported when no more datagrams come
    (they were only counted, and reported with the next drop after the 5 s:
    garbage whose first datagram happened to be dropped for another reason
    was never reported)."""
    a = mesh.node("a", kind="udp")
    a.start()
    port = mesh.port("a")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"", ("127.0.0.1", port))  # empty: dropped and reported at once
    wait_for(lambda: "dropped 1 truncated or empty datagrams" in a.logtext(), 15, "the first report")
    s.sendto(b"\x02not a routing update", ("127.0.0.1", port))
    wait_for(lambda: "dropped 1 datagrams from unknown sources that were not routing updates"
             in a.logtext(), 15, "the report of the next drops")
    s.close()
    assert a.proc.poll() is None


def test_udp_session_table_is_bounded(mesh):
    a = mesh.node("a", kind="udp", log="warning")
    a.start()
    port = mesh.port("a")
    socks = []
    try:
        for i in range(1100):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            s.sendto(b"\x01not json", ("127.0.0.1", port))
            socks.append(s)
            time.sleep(0.002)  # the kernel's receive buffer is small
        wait_for(lambda: "session table full (1024 sessions)" in a.logtext(), 15, "table-full warning")
        assert a.proc.poll() is None
    finally:
        for s in socks:
            s.close()


# ---- WebSocket: hostile clients ---------------------------------------------

def ws_key():
    return base64.b64encode(os.urandom(16)).decode()


def http_get(port, head, timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout * SLOW)
    s.sendall(head)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        pass
    return s, data


def upgrade(port, path="/", extra=""):
    head = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: Upgrade\r\n"
            f"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Key: {ws_key()}\r\n{extra}\r\n").encode()
    return http_get(port, head)


def frame(opcode, payload, mask=True, fin=True, length=None):
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | opcode
    if n < 126:
        hdr = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
    if not mask:
        return hdr + payload
    key = os.urandom(4)
    return hdr + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def read_close(s):
    """Reads until EOF; returns the close status code the server sent, or None."""
    data = b""
    s.settimeout(5 * SLOW)
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    i = 0
    while i + 2 <= len(data):
        op, ln = data[i] & 0x0F, data[i + 1] & 0x7F
        j = i + 2
        if ln == 126:
            ln = struct.unpack("!H", data[j:j + 2])[0]
            j += 2
        elif ln == 127:
            ln = struct.unpack("!Q", data[j:j + 8])[0]
            j += 8
        if op == 8:
            return struct.unpack("!H", data[j:j + 2])[0] if ln >= 2 else 0
        i = j + ln
    return None


@pytest.fixture
def wspair(mesh):
    a = mesh.node("a", kind="ws")
    b = mesh.node("b", peers=["a"], listen=False)
    a.start()
    b.start()
    all_converged([a, b])
    return a, b, mesh.port("a")


def still_works(a, b):
    assert a.proc.poll() is None
    assert a.cmd("ping b")["Success"]
    assert b.cmd("ping a")["Success"]


def test_ws_handshake_accepts_a_plain_client(wspair):
    a, b, port = wspair
    s, resp = upgrade(port)
    assert resp.startswith(b"HTTP/1.1 101 ")
    assert b"Sec-WebSocket-Accept:" in resp
    # the server starts the connection protocol: a binary routing update
    s.settimeout(5 * SLOW)
    first = s.recv(2)
    assert first[0] == 0x82  # FIN + binary
    s.close()
    still_works(a, b)


def test_ws_text_frame_closes_the_session(wspair):
    a, b, port = wspair
    s, resp = upgrade(port)
    assert resp.startswith(b"HTTP/1.1 101 ")
    s.sendall(frame(0x1, b'{"hello": "text"}'))
    assert read_close(s) == 1003
    s.close()
    wait_for(lambda: "received a text frame" in a.logtext(), 10, "text-frame log line")
    still_works(a, b)


def test_ws_oversize_frame_closes_the_session(wspair):
    a, b, port = wspair
    s, resp = upgrade(port)
    assert resp.startswith(b"HTTP/1.1 101 ")
    # announce a 1 GiB frame, send only a little
    s.sendall(frame(0x2, b"x" * 100, length=1 << 30)[:-100] + b"x" * 100)
    assert read_close(s) == 1009
    s.close()
    s, resp = upgrade(port)
    s.sendall(frame(0x2, b"\x01" + b"y" * 70000))
    assert read_close(s) == 1009
    s.close()
    # fragments adding up past the limit
    s, resp = upgrade(port)
    s.sendall(frame(0x2, b"z" * 40000, fin=False) + frame(0x0, b"z" * 40000))
    assert read_close(s) == 1009
    s.close()
    wait_for(lambda: "larger than 65535 bytes" in a.logtext(), 10, "oversize log line")
    still_works(a, b)


def test_ws_unmasked_client_frame_is_a_protocol_error(wspair):
    a, b, port = wspair
    s, resp = upgrade(port)
    s.sendall(frame(0x2, b"\x01{}", mask=False))
    assert read_close(s) == 1002
    s.close()
    still_works(a, b)


def test_ws_huge_headers_answer_431(wspair):
    a, b, port = wspair
    s = socket.create_connection(("127.0.0.1", port), timeout=10 * SLOW)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    resp = b""
    try:
        for i in range(100):
            s.sendall(b"X-Junk-%d: %s\r\n" % (i, b"a" * 1000))
    except (BrokenPipeError, ConnectionResetError):
        pass
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            resp += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    s.close()
    assert resp.startswith(b"HTTP/1.1 431 "), resp[:100]
    wait_for(lambda: "HTTP request header larger than 8192 bytes" in a.logtext(), 10, "431 log line")
    still_works(a, b)


@pytest.mark.parametrize("head,status", [
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 400),                     # no upgrade
    (b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 400),                 # path "/" matches all
    (b"POST / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", 405),
    (b"GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n"
     b"Sec-WebSocket-Version: 8\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n"
     b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n"
     b"Sec-WebSocket-Version: 13\r\nOrigin: http://evil.example\r\n"
     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", 403),
    (b"GET / HTTP/1.1\r\nConnection: upgrade\r\n\r\n", 400),         # no Host
    (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),    # TLS hello to a plain port
    (b"GET / HTTP/1.1\r\nHost: x\r\n\x00\r\n\r\n", 400),
])
def test_ws_bad_requests_get_4xx(wspair, head, status):
    a, b, port = wspair
    s, resp = http_get(port, head)
    s.close()
    assert resp.startswith(b"HTTP/1.1 %d " % status), resp[:200]
    still_works(a, b)


def test_ws_half_open_handshakes_time_out(wspair):
    a, b, port = wspair
    hanging = []
    for i in range(50):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finished
        hanging.append(s)
    # a real peer still gets through meanwhile
    still_works(a, b)
    for s in hanging:
        s.settimeout(15 * SLOW)
        assert s.recv(100) == b""  # closed by the 5 s header timeout
        s.close()
    assert "no complete HTTP request within 5 s" in a.logtext()
    still_works(a, b)


def test_ws_too_many_handshakes_are_refused(wspair):
    a, b, port = wspair
    hanging = []
    try:
        for i in range(200):
            s = socket.create_connection(("127.0.0.1", port))
            hanging.append(s)
        wait_for(lambda: "too many sessions" in a.logtext(), 10, "limit warning")
        still_works(a, b)
    finally:
        for s in hanging:
            s.close()


def count_pongs(s, data, want, out):
    """Reads server frames from s (data: bytes already read) until want pongs came."""
    buf, i = bytes(data), 0
    try:
        while out["pongs"] < want:
            while len(buf) - i >= 2:
                op, ln, j = buf[i] & 0x0F, buf[i + 1] & 0x7F, i + 2
                if ln == 126 and len(buf) - i >= 4:
                    ln, j = struct.unpack("!H", buf[i + 2:i + 4])[0], i + 4
                elif ln == 127 and len(buf) - i >= 10:
                    ln, j = struct.unpack("!Q", buf[i + 2:i + 10])[0], i + 10
                elif ln >= 126 or len(buf) < j + ln:
                    break
                if len(buf) < j + ln:
                    break
                out["pongs"] += op == 0xA
                i = j + ln
            chunk = s.recv(65536)
            if not chunk:
                break
            buf, i = buf[i:] + chunk, 0
    except OSError:
        pass


def test_ws_pings_from_a_peer_that_never_reads_keep_memory_bounded(wspair):
    """Every ping is answered with a pong; a client that pings and never reads
    must not make the node queue pongs without limit (it stops reading it),
    and once the client reads, every ping gets its pong."""
    a, b, port = wspair
    before = rss_kb(a.proc.pid)
    s, resp = upgrade(port)
    assert resp.startswith(b"HTTP/1.1 101 ")
    leftover = resp.split(b"\r\n\r\n", 1)[1]
    ping = struct.pack("!BB4s", 0x89, 0x80 | 100, b"\0\0\0\0") + b"p" * 100  # zero mask
    burst = ping * 1000
    s.settimeout(3)            # no progress for 3 s: the node stopped reading from us
    sent = 0
    try:
        for _ in range(200):   # 200,000 pings, 21 MB
            view = memoryview(burst)
            while view:
                n = s.send(view)
                sent += n
                view = view[n:]
    except socket.timeout:
        pass
    # the node is alive and serving while the client still hangs there unread
    assert a.proc.poll() is None
    a.status()
    still_works(a, b)
    grown = rss_kb(a.proc.pid) - before
    if not os.environ.get("RECEPTOR_SANITIZED"):
        assert grown < 16 * 1024, f"RSS grew by {grown} KiB after {sent} bytes of pings"
    # the client reads now: the node reads again and answers every ping
    pings = -(-sent // len(ping))
    counter = {"pongs": 0}
    s.settimeout(30 * SLOW)
    reader = threading.Thread(target=count_pongs, args=(s, leftover, pings, counter))
    reader.start()
    if sent % len(ping):
        s.sendall(ping[sent % len(ping):])
    reader.join(60 * SLOW)
    s.close()
    assert counter["pongs"] == pings


def test_ws_listener_path_rules(mesh):
    a = mesh.node("a", listen=False, extra=[{"ws-listener": {
        "port": mesh.port("a"), "bindaddr": "127.0.0.1", "path": "/mesh/"}}])
    b = mesh.node("b", listen=False, extra=[{"ws-peer": {
        "address": f"ws://127.0.0.1:{mesh.port('a')}/mesh/deep?x=1",
        "extraheader": "X-Token: secret"}}])
    a.start()
    b.start()
    all_converged([a, b])
    port = mesh.port("a")
    s, resp = upgrade(port, "/other")
    assert resp.startswith(b"HTTP/1.1 404 ")
    s.close()
    s, resp = upgrade(port, "/mesh")
    assert resp.startswith(b"HTTP/1.1 301 ") and b"Location: /mesh/" in resp
    s.close()
    s, resp = upgrade(port, "/mesh/x/../y")
    assert resp.startswith(b"HTTP/1.1 301 ") and b"Location: /mesh/y" in resp
    s.close()
    s, resp = upgrade(port, "/mesh/sub", extra=f"Origin: http://127.0.0.1:{port}\r\n")
    assert resp.startswith(b"HTTP/1.1 101 ")
    s.close()
    still_works(a, b)


def test_ws_peer_to_a_non_websocket_server_backs_off(mesh, tmp_path):
    # a plain TCP server answering HTTP 200 to everything
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    port = srv.getsockname()[1]
    b = mesh.node("b", listen=False, extra=[{"ws-peer": {"address": f"ws://127.0.0.1:{port}/"}}])
    b.start()
    conns = []
    srv.settimeout(10 * SLOW)
    c, _ = srv.accept()
    c.recv(4096)
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    conns.append(c)
    wait_for(lambda: "bad handshake: HTTP 200 OK" in b.logtext(), 10, "handshake failure log")
    assert "Backend connection failed (will retry): dial ws://127.0.0.1" in b.logtext()
    c2, _ = srv.accept()  # the redial, ~5 s later
    conns.append(c2)
    for c in conns:
        c.close()
    srv.close()
    assert b.proc.poll() is None


def test_ws_peer_config_errors(mesh):
    b = mesh.node("b", listen=False, extra=[{"ws-peer": {"address": "http://x/"}}])
    b.start(wait=False)
    assert b.proc.wait(10 * SLOW) != 0
    assert "malformed ws or wss URL" in b.logtext()
    c = mesh.node("c", listen=False, extra=[{"ws-peer": {"address": "ws://x/", "extraheader": "nocolon"}}])
    c.start(wait=False)
    assert c.proc.wait(10 * SLOW) != 0
    assert "extra header must be in the form key:value" in c.logtext()


# ---- wss:// (TLS underneath) and HTTP proxies -------------------------------

class PKI:
    """A CA and node certificates made with our own --cert-* commands."""

    def __init__(self, d):
        self.d = str(d)

    def path(self, name):
        return os.path.join(self.d, name)

    def run(self, *args):
        r = subprocess.run([RECEPTOR, *args], capture_output=True, text=True, timeout=120 * SLOW)
        assert r.returncode == 0, r.stderr

    def ca(self, name):
        self.run("--cert-init", f"commonname={name} CA", "bits=2048",
                 f"outcert={self.path(name + '.crt')}", f"outkey={self.path(name + '.key')}")

    def cert(self, name, ca, nodeids):
        self.run("--cert-makereq", "bits=2048", f"commonname={name}", "dnsname=localhost",
                 "ipaddress=127.0.0.1", *[f"nodeid={x}" for x in nodeids],
                 f"outreq={self.path(name + '.csr')}", f"outkey={self.path(name + '.key')}")
        self.run("--cert-signreq", f"req={self.path(name + '.csr')}",
                 f"cacert={self.path(ca + '.crt')}", f"cakey={self.path(ca + '.key')}",
                 f"outcert={self.path(name + '.crt')}", "verify=true")


@pytest.fixture(scope="module")
def wss_pki(tmp_path_factory):
    p = PKI(tmp_path_factory.mktemp("wss-pki"))
    p.ca("ca")
    p.ca("other")
    p.cert("node1", "ca", ["node1"])
    p.cert("node2", "ca", ["node2"])
    return p


def wss_pair(mesh, pki, rootcas="ca", path="/"):
    port = mesh.port("node1")
    n1 = mesh.node("node1", listen=False, extra=[
        {"tls-server": {"name": "srv", "cert": pki.path("node1.crt"), "key": pki.path("node1.key"),
                        "requireclientcert": True, "clientcas": pki.path("ca.crt")}},
        {"ws-listener": {"port": port, "bindaddr": "127.0.0.1", "tls": "srv", "path": path}}])
    n2 = mesh.node("node2", listen=False, extra=[
        {"tls-client": {"name": "cli", "cert": pki.path("node2.crt"), "key": pki.path("node2.key"),
                        "rootcas": pki.path(rootcas + ".crt")}},
        {"ws-peer": {"address": f"wss://localhost:{port}{path}", "tls": "cli"}}])
    n1.start()
    n2.start()
    return n1, n2


def test_wss_with_mutual_tls(mesh, wss_pki):
    n1, n2 = wss_pair(mesh, wss_pki, path="/receptor")
    all_converged([n1, n2])
    assert n2.cmd("ping node1")["Success"]
    assert n1.cmd("ping node2")["Success"]
    assert "Connection established with node1 (wss 127.0.0.1:" in n2.logtext()
    assert "Connection established with node2 (wss 127.0.0.1:" in n1.logtext()


def test_wss_wrong_ca_fails_with_a_clear_reason(mesh, wss_pki):
    n1, n2 = wss_pair(mesh, wss_pki, rootcas="other")
    wait_for(lambda: "certificate signed by unknown authority" in n2.logtext(), 20, "TLS failure log")
    wait_for(lambda: "Backend connection failed (will retry): dial wss://localhost:" in n2.logtext(),
             10, "dial failure log")
    assert n1.proc.poll() is None and n2.proc.poll() is None
    assert "node1" not in n2.routes()


def test_wss_without_tls_config_is_refused_at_startup(mesh):
    b = mesh.node("b", listen=False, extra=[{"ws-peer": {"address": "wss://localhost:1/"}}])
    b.start(wait=False)
    assert b.proc.wait(10 * SLOW) != 0
    assert "wss:// needs tls naming a tls-client config" in b.logtext()


def nonlocal_ip():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("10.255.255.255", 1))
        ip = s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()
    return None if ip.startswith("127.") else ip


class ConnectProxy:
    """A tiny HTTP CONNECT proxy that records what it was asked."""

    def __init__(self):
        import threading
        self.threading = threading
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.requests = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.threading.Thread(target=self.handle, args=(c,), daemon=True).start()

    def handle(self, c):
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = c.recv(4096)
            if not chunk:
                c.close()
                return
            head += chunk
        self.requests.append(head.decode(errors="replace"))
        target = head.split(b" ")[1].decode()
        host, port = target.rsplit(":", 1)
        try:
            up = socket.create_connection((host.strip("[]"), int(port)))
        except OSError:
            c.sendall(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")
            c.close()
            return
        c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")

        def pipe(a, b):
            try:
                while True:
                    d = a.recv(65536)
                    if not d:
                        break
                    b.sendall(d)
            except OSError:
                pass
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        self.threading.Thread(target=pipe, args=(c, up), daemon=True).start()
        pipe(up, c)

    def close(self):
        self.sock.close()


def test_ws_peer_through_an_http_proxy(mesh):
    ip = nonlocal_ip()
    if not ip:
        pytest.skip("no non-loopback address (loopback targets bypass proxies, as in Go)")
    proxy = ConnectProxy()
    try:
        port = mesh.port("a")
        a = mesh.node("a", listen=False, extra=[{"ws-listener": {"port": port, "bindaddr": ip}}])
        b = mesh.node("b", listen=False, extra=[{"ws-peer": {"address": f"ws://{ip}:{port}/"}}])
        b.env = dict(os.environ, HTTP_PROXY=f"http://u:p@127.0.0.1:{proxy.port}", NO_PROXY="")
        a.start()
        b.start()
        all_converged([a, b])
        assert b.cmd("ping a")["Success"]
        assert proxy.requests and proxy.requests[0].startswith(f"CONNECT {ip}:{port} HTTP/1.1\r\n")
        assert "Proxy-Authorization: Basic dTpw\r\n" in proxy.requests[0]
    finally:
        proxy.close()


def test_reload_removes_and_restores_a_ws_listener(mesh):
    a = mesh.node("a", kind="ws", extra=[{"local-only": None}])
    b = mesh.node("b", peers=["a"], listen=False)
    a.start()
    b.start()
    all_converged([a, b])
    full = list(a.config)
    a.write_config([it for it in full if "ws-listener" not in it])
    assert a.cmd("reload") == {"Success": True}
    wait_for(lambda: "a" not in b.routes(), 30, "b to lose a")
    wait_for(lambda: "Backend connection failed (will retry): dial ws://127.0.0.1" in b.logtext(),
             30, "b failing to redial")
    a.write_config(full)
    assert a.cmd("reload") == {"Success": True}
    wait_for(lambda: converged(b, ["a"]), 40, "b back to a")
    assert b.cmd("ping a")["Success"]


def test_daemons_exit_cleanly_with_sessions_open(mesh):
    nodes = line(mesh, ["udp", "ws", "udp", "ws"])
    all_converged(nodes)
    s = socket.create_connection(("127.0.0.1", mesh.port("n1")))
    s.sendall(b"GET / HTTP/1.1\r\n")  # a half-open handshake
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.sendto(b"\x01junk", ("127.0.0.1", mesh.port("n0")))  # a session that never establishes
    time.sleep(0.5)
    for n in nodes:
        t = time.time()
        assert n.stop() == 0 and time.time() - t < 5 * SLOW, n.name
    s.close()
    u.close()


# ---- interoperability with an independent WebSocket stack --------------------

def test_ws_interop_with_python_websockets(mesh):
    """Our dialer against python3-websockets' server, and its client against
    our listener: handshake, masking and binary messages as RFC 6455 says."""
    websockets = pytest.importorskip("websockets")
    import asyncio
    import json
    import threading
    got = []
    port = mesh.port("srv")

    async def handler(ws, path=None):
        # one record per connection: the node redials 5 s after a session
        # ends, which may come before this side has seen the close code
        rec = {}
        got.append(rec)
        msg = await ws.recv()
        rec["hello"] = (msg, ws.request_headers.get("Origin"), ws.request_headers.get("X-Token"))
        await ws.send("a text message")  # our side must close with 1003
        try:
            await ws.recv()
        except websockets.ConnectionClosed as e:
            rec["code"] = e.code

    loop = asyncio.new_event_loop()
    stop = loop.create_future()

    async def serve():
        async with websockets.serve(handler, "127.0.0.1", port):
            await stop

    t = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    t.start()
    # the server listens before the node dials (a refused first dial means a
    # 5 s redial and a slower test, nothing more)
    wait_for(lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close() or True, 10,
             "the websockets server to listen")
    got.clear()
    try:
        b = mesh.node("b", listen=False, extra=[{"ws-peer": {
            "address": f"ws://127.0.0.1:{port}/x", "extraheader": "x-token: t0k"}}])
        b.start()
        wait_for(lambda: any("code" in r for r in got), 40, "the websockets server to see a message and a close")
        rec = next(r for r in got if "code" in r)
        msg, origin, token = rec["hello"]
        assert isinstance(msg, bytes) and msg[0] == 1
        assert json.loads(msg[1:])["NodeID"] == "b"
        assert origin == f"http://127.0.0.1:{port}" and token == "t0k"
        assert rec["code"] == 1003
        assert "received a text frame" in b.logtext()
    finally:
        loop.call_soon_threadsafe(stop.set_result, None)
        t.join(10)

    a = mesh.node("a", kind="ws")
    a.start()

    async def client():
        async with websockets.connect(f"ws://127.0.0.1:{mesh.port('a')}/any",
                                      origin=f"http://127.0.0.1:{mesh.port('a')}") as ws:
            first = await asyncio.wait_for(ws.recv(), 10 * SLOW)
            pong = await ws.ping()
            await asyncio.wait_for(pong, 10 * SLOW)  # answered by wslay
            return first

    first = asyncio.run(client())
    assert isinstance(first, bytes) and first[0] == 1
    assert json.loads(first[1:])["NodeID"] == "a"
