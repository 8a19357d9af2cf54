"""`receptorctl status --graph[=FORMAT]`: the mesh as a Graphviz picture
(src/cmd/receptorctl_graph.c).

Design: the DOT receptorctl writes is handed to Graphviz's own `dot`, and the
assertions read what dot drew (the SVG's node and edge groups: titles and
text lines), so a test passes only if dot parsed the file and the picture
shows the right nodes, labels, links and costs.  The mesh test uses three
real daemons; the hostile-name and asymmetric-cost cases use the fake
control server, which answers `status` with any JSON we like.
"""

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from conftest import wait_for
from test_receptorctl import CTL, fake, run_ctl  # noqa: F401  (fake is a fixture)

DOT = shutil.which("dot")
needs_dot = pytest.mark.skipif(DOT is None, reason="graphviz (dot) not installed: ./scripts/install-deps")
SVG = "{http://www.w3.org/2000/svg}"


def svg_of_dot(dot_text):
    p = subprocess.run([DOT, "-Tsvg"], input=dot_text.encode(), capture_output=True, timeout=60)
    assert p.returncode == 0 and p.stderr == b"", p.stderr.decode()
    return p.stdout


def picture(svg_bytes):
    """{node title: [text lines]}, {edge title: [text lines]} of an SVG by dot."""
    root = ET.fromstring(svg_bytes)
    nodes, edges = {}, {}
    for g in root.iter(SVG + "g"):
        kind = g.get("class")
        if kind not in ("node", "edge"):
            continue
        title = g.find(SVG + "title").text
        texts = [t.text for t in g.iter(SVG + "text")]
        (nodes if kind == "node" else edges)[title] = texts
    return nodes, edges


def node_style(dot_text, name):
    line = next(ln for ln in dot_text.splitlines() if ln.strip().startswith(f'"{name}" [label='))
    return line


@needs_dot
def test_three_node_mesh_picture(mesh):
    """a -(2.5)- b -(1)- c, seen from a: three boxes with their work types and
    services, two links with their costs, a marked as this node; dot parses
    the DOT, and --graph=svg is that same picture."""
    a = mesh.node("a", cost=2.5)
    a.start()
    b = mesh.node("b", peers=[("a", 2.5)], extra=[
        {"work-command": {"worktype": "echo", "command": "cat"}},
        {"work-command": {"worktype": "sleepy", "command": "sleep", "params": "1"}}])
    b.serve_control_on_mesh().start()
    c = mesh.node("c", listen=False, peers=["b"],
                  extra=[{"work-command": {"worktype": "wc", "command": "wc"}}])
    c.serve_control_on_mesh().start()

    def converged():
        st = a.status()
        costs = st["KnownConnectionCosts"]
        return (costs.get("b", {}).get("c") == 1 and costs.get("a", {}).get("b") == 2.5
                and "c" in st["RoutingTable"]
                and any(ad["NodeID"] == "c" and ad["WorkCommands"] for ad in st["Advertisements"])
                and any(ad["NodeID"] == "b" and ad["WorkCommands"] for ad in st["Advertisements"]))
    wait_for(converged, 30, "a to know the whole mesh")

    rc, dot_text, err = run_ctl(["status", "--graph"], a.sock)
    assert (rc, err) == (0, "")
    assert dot_text.startswith('graph "receptor mesh" {')
    nodes, edges = picture(svg_of_dot(dot_text))
    assert nodes == {
        "a": ["a", "(this node)"],  # its control service is not on the mesh
        "b": ["b", "work: echo, sleepy", "services: control"],
        "c": ["c", "work: wc", "services: control"],
    }
    assert edges == {"a--b": ["2.5"], "b--c": ["1"]}
    assert "filled" in node_style(dot_text, "a") and "filled" not in node_style(dot_text, "b")

    rc2, svg_direct, err2 = run_ctl(["status", "--graph=svg"], a.sock)
    assert (rc2, err2) == (0, "")
    assert picture(svg_direct.encode()) == (nodes, edges)
    rc3, svg_spaced, _ = run_ctl(["status", "--graph", "svg"], a.sock)  # click's optional value
    assert rc3 == 0 and picture(svg_spaced.encode()) == (nodes, edges)

    # from the other end, links are drawn outwards from that node (c, b, a top to bottom)
    wait_for(lambda: c.status()["KnownConnectionCosts"].get("a", {}).get("b") == 2.5, 30, "c to know a-b")
    rc, dot_c, err = run_ctl(["status", "--graph"], c.sock)
    assert (rc, err) == (0, "")
    nodes_c, edges_c = picture(svg_of_dot(dot_c))
    assert edges_c == {"c--b": ["1"], "b--a": ["2.5"]}
    assert nodes_c["c"][:2] == ["c", "(this node)"] and nodes_c["a"] == ["a"]


HOSTILE = {
    "NodeID": "me", "Version": "x", "SystemCPUCount": 1, "SystemMemoryMiB": 1,
    "Connections": [],
    "KnownConnectionCosts": {
        "me": {'q"uote': 1, "back\\slash\\": 3},
        'q"uote': {"me": 2},                 # the two ends disagree
        "back\\slash\\": {},                 # only one end reports
        'x"];evil [label="pwn': {},          # would end the string if unquoted
    },
    "RoutingTable": {'q"uote': 'q"uote', "back\\slash\\": "back\\slash\\"},
    "Advertisements": [
        {"NodeID": "ctl\nbreak\x01", "Service": "s\\N", "Time": "2026-01-01T00:00:00Z",
         "ConnType": 1, "Tags": None,
         "WorkCommands": [{"WorkType": "a, b", "Secure": True}, {"WorkType": "a, b", "Secure": True}]},
        {"NodeID": "bad\udcffutf8", "Service": "x", "Time": "2026-01-01T00:00:00Z",
         "ConnType": 1, "Tags": None, "WorkCommands": None},
    ],
}


@needs_dot
def test_hostile_names_and_uneven_costs(fake):
    """Names with quotes, backslashes, control characters, invalid UTF-8 and an
    attempted attribute injection are drawn as text; costs the two ends
    disagree on are drawn per direction; nodes without a route are marked."""
    srv = fake()
    srv.replies[b"status"] = json.dumps(HOSTILE, ensure_ascii=True).encode() + b"\n"
    rc, dot_text, err = run_ctl(["status", "--graph"], srv.address)
    assert (rc, err) == (0, "")
    nodes, edges = picture(svg_of_dot(dot_text))
    texts = {t[0]: t[1:] for t in nodes.values()}
    assert texts["me"] == ["(this node)"]
    assert texts['q"uote'] == []
    assert texts["back\\slash\\"] == []
    assert texts['x"];evil [label="pwn'] == ["(no route)"]
    assert texts["ctl?break?"] == ["(no route)", "work: a, b (signed)", "services: s\\N"]
    assert texts["bad\ufffd\ufffd\ufffdutf8"] == ["(no route)", "services: x"]
    assert len(nodes) == 6
    assert sorted(edges.values()) == sorted([
        ["me \u2192 back\\slash\\: 3"],
        ["me \u2192 q\"uote: 1", "q\"uote \u2192 me: 2"],
    ])


def test_bad_format_and_json_together(fake):
    srv = fake()
    rc, out, err = run_ctl(["status", "--graph=gif"], srv.address)
    assert (rc, out) == (1, "")
    assert err == "ERROR: Invalid value for '--graph': 'gif' is not one of 'dot', 'svg', 'png', 'pdf'.\n"
    rc, out, err = run_ctl(["status", "--graph", "--json"], srv.address)
    assert (rc, out, err) == (1, "", "ERROR: --json and --graph cannot be used together.\n")


def test_svg_without_graphviz_says_so(fake, tmp_path):
    """Without dot on PATH, --graph=svg fails with a message naming the
    package; plain --graph needs no Graphviz."""
    srv = fake()
    env = {"PATH": str(tmp_path)}
    rc, out, err = run_ctl(["status", "--graph=svg"], srv.address, env=env)
    assert (rc, out) == (1, "")
    assert err == ("ERROR: --graph=svg needs Graphviz's dot program, which is not installed "
                   "(Debian: apt-get install graphviz); --graph alone writes DOT without it\n")
    rc, out, err = run_ctl(["status", "--graph"], srv.address, env=env)
    assert (rc, err) == (0, "") and out.startswith('graph "receptor mesh" {')
