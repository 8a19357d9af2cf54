"""ip-router with real daemons in network namespaces the test creates: three
nodes a - b - c, each in its own namespace, linked by veth pairs; a and c run
an ip-router of the same network, b only relays.  IP traffic between a's and
c's namespaces goes through the TUNs and the mesh (upstream
pkg/services/ip_router.go).  Needs root, `ip netns` and /dev/net/tun; skips
itself otherwise.  No upstream (Go) receptor binary exists in this test
environment, so no Go node takes part."""
import os
import shutil
import subprocess

import pytest

from conftest import RECEPTOR, wait_for

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/dev/net/tun") or not shutil.which("ip")
    or not shutil.which("ping"), reason="needs root, ip, ping and /dev/net/tun")


def sh(*args, check=True):
    return subprocess.run(list(args), capture_output=True, text=True, check=check, timeout=60)


@pytest.fixture
def netns():
    """Three namespaces a, b, c; veth a<->b (10.201.1.0/24), c<->b
    (10.201.2.0/24). Yields {name: namespace}."""
    tag = f"h{os.getpid() % 100000}"
    ns = {n: f"ipr-{tag}-{n}" for n in "abc"}
    try:
        for n in ns.values():
            sh("ip", "netns", "add", n)
            sh("ip", "-n", n, "link", "set", "lo", "up")
        for side, net in (("a", 1), ("c", 2)):
            here, there = f"v{side}{tag}"[:15], f"w{side}{tag}"[:15]
            sh("ip", "link", "add", here, "netns", ns[side], "type", "veth", "peer", "name", there,
               "netns", ns["b"])
            sh("ip", "-n", ns[side], "addr", "add", f"10.201.{net}.1/24", "dev", here)
            sh("ip", "-n", ns["b"], "addr", "add", f"10.201.{net}.2/24", "dev", there)
            sh("ip", "-n", ns[side], "link", "set", here, "up")
            sh("ip", "-n", ns["b"], "link", "set", there, "up")
        yield ns
    finally:
        for n in ns.values():
            sh("ip", "netns", "del", n, check=False)


def start_in(node, namespace):
    node.write_config()
    node.log = open(node.log_path, "ab")
    node.proc = subprocess.Popen(["ip", "netns", "exec", namespace, RECEPTOR, "--config", node.config_path],
                                 stdout=node.log, stderr=subprocess.STDOUT)
    wait_for(lambda: os.path.exists(node.sock) and node.try_connect(), 10, f"{node.name} control socket")


def router(localnet, routes=None, interface=None):
    opts = {"networkname": "ipnet", "localnet": localnet}
    if routes:
        opts["routes"] = routes
    if interface:
        opts["interface"] = interface
    return {"ip-router": opts}


def ping(namespace, address):
    return subprocess.run(["ip", "netns", "exec", namespace, "ping", "-c", "1", "-W", "2", address],
                          capture_output=True, text=True, timeout=30).returncode == 0


def routes_in(namespace):
    return sh("ip", "-n", namespace, "route").stdout


def test_ip_router_pings_between_namespaces_through_the_mesh(mesh, netns):
    port = 27411 + os.getpid() % 1000
    # b also forwards local UDP datagrams to a's router service: a hostile sender
    b = mesh.node("b", listen=False, extra=[{"tcp-listener": {"port": port}},
                                            {"udp-server": {"port": 9999, "bindaddr": "127.0.0.1",
                                                            "remotenode": "a", "remoteservice": "ipnet"}}])
    a = mesh.node("a", listen=False, extra=[{"tcp-peer": {"address": f"10.201.1.2:{port}"}},
                                            router("10.77.1.1/30", interface="rtun0")])
    c = mesh.node("c", listen=False, extra=[{"tcp-peer": {"address": f"10.201.2.2:{port}"}},
                                            router("10.77.3.0/30", routes="10.99.0.0/24")])
    # an address behind c's router, reached through its extra advertised route
    sh("ip", "-n", netns["c"], "addr", "add", "10.99.0.1/24", "dev", "lo")
    start_in(b, netns["b"])
    start_in(a, netns["a"])
    start_in(c, netns["c"])
    wait_for(lambda: {"a", "c"} <= set(b.routes()), 30, "mesh up")
    # the advertisement, as upstream's
    wait_for(lambda: a.advert("c", "ipnet"), 30, "c's ip-router advert")
    assert a.advert("c", "ipnet")["Tags"] == {"type": "IP Router", "network": "ipnet",
                                              "route_local": "10.77.3.0/30", "route_0": "10.99.0.0/24"}
    # a's TUN has the name asked for, the .1 address and the .2 peer
    addr = sh("ip", "-n", netns["a"], "addr", "show", "rtun0").stdout
    assert "inet 10.77.1.1 peer 10.77.1.2/32" in addr and ",UP" in addr
    # kernel routes to the other side's networks appear on each side
    wait_for(lambda: "10.77.3.0/30 via 10.77.1.2 dev rtun0" in routes_in(netns["a"]), 30, "a's route")
    assert "10.99.0.0/24 via 10.77.1.2 dev rtun0" in routes_in(netns["a"])
    wait_for(lambda: "10.77.1.0/30 via 10.77.3.2" in routes_in(netns["c"]), 30, "c's route")
    # IP traffic between the namespaces, both ways, through b
    wait_for(lambda: ping(netns["a"], "10.77.3.1"), 60, "ping a -> c")
    assert ping(netns["c"], "10.77.1.1")
    assert ping(netns["a"], "10.99.0.1")
    # b has no route of its own into those networks: the packets went over the mesh
    assert "10.77." not in routes_in(netns["b"])
    # datagrams that are not IP packets are dropped, and the router goes on
    sh("ip", "netns", "exec", netns["b"], "/usr/bin/python3", "-c",
       "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
       "for d in (b'', b'x', b'\\x45' + b'\\0' * 10, b'\\x99' * 100): s.sendto(d, ('127.0.0.1', 9999))")
    wait_for(lambda: "that is not an IP packet" in a.logtext(), 30, "hostile datagram dropped")
    assert ping(netns["c"], "10.77.1.1")
    # c going away withdraws its routes from a's kernel
    c.stop()
    wait_for(lambda: "10.77.3.0/30" not in routes_in(netns["a"]), 90, "a's route to c removed")
    assert not ping(netns["a"], "10.77.3.1")
    assert a.proc.poll() is None


def test_ip_router_config_errors(tmp_path):
    for localnet, routes, msg in (("10.0.0.0/24", "", "local network 10.0.0.0/24 must be a /30 CIDR"),
                                  ("nonsense", "", "could not parse nonsense as a CIDR address"),
                                  ("fd00::/30", "", "local network fd00::/30 must be IPv4"),
                                  ("10.0.0.0/30", "10.1.0.0/16,bad", "could not parse bad as a CIDR address")):
        cfg = tmp_path / "r.yml"
        cfg.write_text("---\n- node:\n    id: x\n- local-only\n"
                       f"- ip-router:\n    networkname: n\n    localnet: {localnet}\n"
                       + (f"    routes: {routes}\n" if routes else ""))
        r = subprocess.run([RECEPTOR, "--config", str(cfg)], capture_output=True, text=True, timeout=30)
        assert r.returncode != 0
        assert msg in r.stdout + r.stderr, r.stdout + r.stderr
