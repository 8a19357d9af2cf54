"""Hostile input on every socket a node exposes: the daemon keeps running,
other links keep working, and the log names the peer and the problem."""
import json
import os
import random
import socket
import struct
import subprocess
import time

import pytest

from conftest import RECEPTOR, Control, rss_kb, wait_for


def frame(payload):
    return struct.pack("<H", len(payload)) + payload


def route_update(node, seq, connections=None, update_id=None, fwd=None, epoch=30125106074023304):
    body = {"NodeID": node, "UpdateID": update_id or f"U{seq:07d}", "UpdateEpoch": epoch,
            "UpdateSequence": seq, "Connections": connections or {},
            "ForwardingNode": fwd or node, "SuspectedDuplicate": 0}
    return b"\x01" + json.dumps(body, separators=(",", ":")).encode()


def advert(node, service, tags=None, when="2026-12-06T03:00:00Z"):
    body = {"NodeID": node, "Service": service, "Time": when, "ConnType": 1, "Tags": tags,
            "WorkCommands": None, "Cancel": False}
    return b"\x02" + json.dumps(body, separators=(",", ":")).encode()


class FakePeer:
    """A minimal hand-written peer speaking the wire protocol."""

    def __init__(self, port, name="fake"):
        self.name = name
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)

    def send(self, data):
        self.sock.sendall(data)

    def establish(self, target):
        self.send(frame(route_update(self.name, 1)))
        # wait for the node's update listing us, then list it back
        buf = b""
        deadline = time.time() + 10
        while time.time() < deadline:
            buf += self.sock.recv(65536)
            if f'"{self.name}":1'.encode() in buf:
                break
        self.send(frame(route_update(self.name, 2, {target: 1})))

    def close(self):
        self.sock.close()


@pytest.fixture
def pair(mesh):
    a = mesh.node("a")
    b = mesh.node("b", peers=["a"])
    a.start()
    b.start()
    wait_for(lambda: "b" in a.routes() and "a" in b.routes(), 20, "a-b link")
    return mesh, a, b


def still_healthy(a, b):
    assert a.proc.poll() is None, a.logtext()[-3000:]
    assert a.cmd("ping b")["Success"] is True


def test_random_bytes(pair):
    mesh, a, b = pair
    rnd = random.Random(1)
    for _ in range(5):
        s = socket.create_connection(("127.0.0.1", mesh.port("a")))
        s.sendall(bytes(rnd.getrandbits(8) for _ in range(20000)))
        s.close()
    still_healthy(a, b)


def test_truncated_and_oversized_and_empty_frames(pair):
    mesh, a, b = pair
    for data in (b"\x95\x00\x01{\"Node",            # truncated frame then EOF
                 b"\xff\xff" + b"x" * 1000,          # length prefix larger than what follows
                 b"\x00\x00" * 50,                   # zero-length frames
                 frame(b"\x01{not json"),            # invalid JSON in a route update
                 frame(b"\x09hello") * 20):          # unknown message types
        s = socket.create_connection(("127.0.0.1", mesh.port("a")))
        s.sendall(data)
        time.sleep(0.1)
        s.close()
    still_healthy(a, b)
    log = a.logtext()
    assert "zero-length frame" in log
    assert "bad routing update" in log


def test_huge_connections_map_and_unknown_types_from_an_established_peer(pair):
    mesh, a, b = pair
    p = FakePeer(mesh.port("a"))
    p.establish("a")
    wait_for(lambda: "fake" in a.routes(), 10, "fake peer routed")
    names = [f"{i:04x}" for i in range(7000)]
    huge = route_update("fake", 3, {n: 1 for n in names})
    assert len(huge) < 65535
    p.send(frame(huge))
    p.send(frame(b"\x07junk") * 10)
    p.send(frame(b"\x00" + b"\x01" * 10))            # data message too short
    time.sleep(0.3)
    still_healthy(a, b)
    log = a.logtext()
    assert "Connections: 7000 entries" in log and "fake" in log
    assert "unknown message type 7" in log
    assert "data too short" in log
    p.close()


def read_data_message(peer, to_service, timeout=10):
    """The next data message (type 0) peer receives for to_service, as
    (from_hash, to_hash, payload); routing traffic in between is skipped."""
    buf = b""
    deadline = time.time() + timeout
    peer.sock.settimeout(timeout)
    while time.time() < deadline:
        while len(buf) >= 2 and len(buf) >= 2 + (buf[0] | buf[1] << 8):
            n = buf[0] | buf[1] << 8
            msg, buf = buf[2:2 + n], buf[2 + n:]
            if len(msg) >= 36 and msg[0] == 0 and msg[28:36].rstrip(b"\0") == to_service:
                return msg[4:12], msg[12:20], msg[36:]
        buf += peer.sock.recv(65536)
    raise AssertionError(f"no data message for {to_service!r}")


def test_hostile_quic_initial_to_the_control_service(pair):
    """A client Initial that ngtcp2 rejects with "drop the connection" made
    the server seal a CONNECTION_CLOSE without keys: libngtcp2 asserts and
    the daemon aborted (found by fuzz_quic). The packet is now dropped
    silently and the node keeps serving."""
    mesh, a, b = pair
    a.stop()
    a.serve_control_on_mesh().start()
    wait_for(lambda: "b" in a.routes() and "a" in b.routes(), 20, "a-b link")
    p = FakePeer(mesh.port("a"))
    p.establish("a")
    wait_for(lambda: "fake" in a.routes(), 10, "fake peer routed")
    c = a.ctl()
    c.sock.sendall(b"ping fake\n")  # a's ping reveals both name hashes
    hash_a, hash_fake, _ = read_data_message(p, b"ping")
    c.close()
    packet = open(os.path.join(os.path.dirname(__file__), "data", "quic_initial_drop_conn.bin"), "rb").read()
    header = b"\x00\x1e\x00\x00" + hash_fake + hash_a + b"fz000001" + b"control\0"
    for _ in range(3):
        p.send(frame(header + packet))
    time.sleep(0.5)
    still_healthy(a, b)
    assert a.cmd("status")["NodeID"] == "a"
    p.close()


def test_peer_flooding_updates(pair):
    mesh, a, b = pair
    p = FakePeer(mesh.port("a"))
    p.establish("a")
    wait_for(lambda: "fake" in a.routes(), 10, "fake peer routed")
    burst = b"".join(frame(route_update("ghost", i, {"fake": 1}, update_id=f"G{i:07d}", fwd="fake"))
                     for i in range(1, 20001))
    p.send(burst)
    wait_for(lambda: "too many routing messages" in a.logtext(), 30, "the limit logged")
    still_healthy(a, b)
    # b was not flooded with 20000 updates: a relayed at most its rate limit
    p.close()


def test_copies_of_a_seen_update_do_not_use_up_the_limit(pair):
    """In a large mesh most routing messages on a link are copies of floods
    that already came another way; they cost no more than reading them.
    Such copies used to count against the link's control-message limit, so
    a burst of them made the node drop the next fresh update, and the mesh
    lost that node until its next refresh (an hour in a 1000-node mesh)."""
    mesh, a, b = pair
    p = FakePeer(mesh.port("a"))
    p.establish("a")
    wait_for(lambda: "fake" in a.routes(), 10, "fake peer routed")
    copy = frame(route_update("ghost", 1, {"fake": 1}, update_id="G0000001", fwd="fake"))
    fresh = frame(route_update("late", 1, {"fake": 1}, update_id="L0000001", fwd="fake"))
    p.send(copy * 12000 + fresh)
    wait_for(lambda: "late" in a.cmd("status")["KnownConnectionCosts"], 10,
             "the fresh update after the copies accepted")
    still_healthy(a, b)
    assert "too many routing messages" not in a.logtext()
    p.close()


def test_an_update_withdraws_the_links_it_no_longer_lists(pair):
    """Upstream's rule, kept when the check was made cheap for large meshes:
    when a node's row changes, every other row loses its link to that node
    unless the new row lists it back.  Rows of two entries (compared
    directly) and of more than eight (looked up) both follow it."""
    mesh, a, b = pair
    p = FakePeer(mesh.port("a"))
    p.establish("a")
    wait_for(lambda: "fake" in a.routes(), 10, "fake peer routed")
    big = {f"w{i}": 1 for i in range(12)}
    updates = [route_update("y", 1, {"fake": 1}, update_id="Y1", fwd="fake"),
               route_update("x", 1, {"y": 1, "fake": 1}, update_id="X1", fwd="fake"),
               route_update("z", 1, {"y": 1, "fake": 1}, update_id="Z1", fwd="fake"),
               route_update("big", 1, dict(big, y=1), update_id="B1", fwd="fake"),
               route_update("y", 2, {"fake": 1, "z": 1}, update_id="Y2", fwd="fake")]
    p.send(b"".join(frame(u) for u in updates))

    def known():
        return a.cmd("status")["KnownConnectionCosts"]
    wait_for(lambda: known().get("y") == {"fake": 1, "z": 1}, 10, "y's second update")
    k = known()
    assert k["x"] == {"fake": 1}           # x -> y withdrawn: y does not list x
    assert k["z"] == {"y": 1, "fake": 1}   # z -> y kept: y lists z
    assert k["big"] == big                 # big -> y withdrawn (a row of 13)
    still_healthy(a, b)
    p.close()


def test_peer_flooding_big_updates_and_adverts_keeps_memory_bounded(pair):
    """One peer at its rate limit sends routing updates of 4000 connections
    and adverts of 4000 tags (each ~50 KB) for new nodes: the node's tables
    stop at their byte caps, say so, and honest routing goes on."""
    mesh, a, b = pair
    p = FakePeer(mesh.port("a"))
    p.establish("a")
    wait_for(lambda: "fake" in a.routes(), 10, "fake peer routed")
    before = rss_kb(a.proc.pid)
    conns = {f"c{j:05d}": 1 for j in range(4000)}
    tags = {f"t{j:05d}": "v" for j in range(4000)}
    k = 0
    for burst in range(2):
        msgs = []
        for i in range(100):   # 200 messages: within the burst of 400 control messages
            msgs.append(frame(route_update(f"ghost{k}", 1, conns, update_id=f"B{k:07d}", fwd="fake")))
            msgs.append(frame(advert(f"ghost{k}", "svc", tags)))
            k += 1
        p.send(b"".join(msgs))
        time.sleep(2.5)        # the allowance refills at 100 messages a second
    still_healthy(a, b)
    grown = rss_kb(a.proc.pid) - before
    p.close()
    if not os.environ.get("RECEPTOR_SANITIZED"):
        assert grown < 64 * 1024, f"RSS grew by {grown} KiB"
    log = a.logtext()
    assert "Ignoring routing update from ghost" in log and "the known nodes would take more than" in log
    assert "Ignoring service advertisement from ghost" in log
    assert "the known advertisements would take more than" in log


def test_peer_flooding_huge_update_ids_keeps_memory_bounded(pair):
    """UpdateIDs are remembered for an hour: 60 KB ones are refused by the
    decoder (upstream's are 8 letters) instead of filling the node."""
    mesh, a, b = pair
    p = FakePeer(mesh.port("a"))
    p.establish("a")
    wait_for(lambda: "fake" in a.routes(), 10, "fake peer routed")
    before = rss_kb(a.proc.pid)
    for burst in range(2):
        p.send(b"".join(frame(route_update("ghost", burst * 350 + i + 1, {"fake": 1}, fwd="fake",
                                           update_id=f"{burst * 350 + i:07d}" + "u" * 60000))
                        for i in range(350)))   # within the burst of 400 control messages
        time.sleep(3.5)                         # the allowance refills at 100 messages a second
    still_healthy(a, b)
    grown = rss_kb(a.proc.pid) - before
    p.close()
    if not os.environ.get("RECEPTOR_SANITIZED"):
        assert grown < 8 * 1024, f"RSS grew by {grown} KiB"
    assert "bad routing update: field UpdateID: 60007 bytes long (limit 64)" in a.logtext()


def test_control_client_long_line_and_vanishing(pair):
    mesh, a, b = pair
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(a.sock)
    s.recv(100)
    # the line is dropped and answered; a client that gives up mid-line
    # (half-close) still gets the answer (test_control_limits.py has more)
    s.sendall(b"x" * (1 << 20))
    s.shutdown(socket.SHUT_WR)
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    assert data == b"ERROR: command line too long (more than 262144 bytes)\n"
    # clients that vanish mid-command (ping and traceroute still running)
    for cmd in (b"ping b\n", b"traceroute b\n", b"ping nowhere\n", b"status\n" * 100):
        s = socket.socket(socket.AF_UNIX)
        s.connect(a.sock)
        s.sendall(cmd)
        s.close()
    time.sleep(0.3)
    still_healthy(a, b)


def test_malformed_config_names_file_line_and_key(tmp_path):
    cfg = tmp_path / "bad.yml"
    cfg.write_text("---\n- node:\n    id: x\n- tcp-peer:\n    adress: 127.0.0.1:1\n")
    r = subprocess.run([RECEPTOR, "--config", str(cfg)], capture_output=True, text=True, timeout=10)
    assert r.returncode != 0
    err = r.stderr + r.stdout
    assert "bad.yml:5" in err and "adress" in err and "tcp-peer" in err
    cfg.write_text("---\n- tcp-listener:\n    port: notaport\n")
    r = subprocess.run([RECEPTOR, "--config", str(cfg)], capture_output=True, text=True, timeout=10)
    assert r.returncode != 0 and "port" in r.stderr and "bad.yml:3" in r.stderr
    r = subprocess.run([RECEPTOR, "--node", "id=x", "--udp-listener", "port=1", "bindaddr=nowhere"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode != 0 and "invalid UDP listen address nowhere:1" in r.stderr


def test_status_written_directly_matches_the_json_reply(pair):
    """A plain `status` is written straight from the node's tables (a large
    mesh's are ~90 KB); asking for every field goes through the JSON
    objects.  Rows with names that need escaping, costs of every float
    form and a row listed out of order must come out byte for byte alike."""
    mesh, a, b = pair
    p = FakePeer(mesh.port("a"))
    p.establish("a")
    wait_for(lambda: "fake" in a.routes(), 10, "fake peer routed")
    rows = {"z<&>": {"fake": 2.5, "b": 1e-7, "a": 1e21},
            "caf\u00e9": {"z<&>": 3, "fake": 0.1, "\u2028x": 100},
            "m\"q": {"fake": 7}}
    p.send(b"".join(frame(route_update(n, 1, c, update_id=f"S{i}", fwd="fake"))
                    for i, (n, c) in enumerate(rows.items())))
    wait_for(lambda: len(a.cmd("status")["KnownConnectionCosts"]) == 6, 10, "the rows stored")
    fields = ["Advertisements", "Connections", "KnownConnectionCosts", "NodeID", "RoutingTable",
              "SystemCPUCount", "SystemMemoryMiB", "Version"]
    c = Control(a.sock)
    try:
        direct = c.line("status")
        via_json = c.line(json.dumps({"command": "status", "requested_fields": fields}))
    finally:
        c.close()
    assert direct == via_json
    st = json.loads(direct)
    assert st["KnownConnectionCosts"]["z<&>"] == {"fake": 2.5, "b": 1e-7, "a": 1e21}
    assert '"z\\u003c\\u0026\\u003e":{"a":1e+21,"b":1e-7,"fake":2.5}' in direct
    p.close()
