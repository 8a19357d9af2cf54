"""Shared fixtures for integration tests: real receptor daemons started as
processes on loopback, driven through their control sockets.

Binaries come from the meson build dir in $RECEPTOR_BUILD (default: build/).
"""
import json
import os
import signal
import socket
import subprocess
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("RECEPTOR_BUILD", os.path.join(ROOT, "build"))
RECEPTOR = os.path.join(BUILD, "src", "cmd", "receptor")
SANITIZED = bool(os.environ.get("RECEPTOR_SANITIZED"))
SLOW = 3 if SANITIZED else 1


def pytest_configure(config):
    config.addinivalue_line("markers", "long: runs for minutes; only with `-m long` (make check-long)")


def pytest_collection_modifyitems(config, items):
    """Tests marked long are skipped unless the run selects them (-m long)."""
    if "long" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="long test: run with -m long (make check-long)")
    for item in items:
        if "long" in item.keywords:
            item.add_marker(skip)


from ports import free_port  # noqa: E402,F401  (re-exported: tests import it from here)


def rss_kb(pid):
    """Resident set size of a process, in KiB (VmRSS)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise ValueError(f"no VmRSS for pid {pid}")


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def wait_for(pred, timeout=15.0, what="condition"):
    deadline = time.time() + timeout * SLOW
    last = None
    while time.time() < deadline:
        try:
            last = pred()
            if last:
                return last
        except (OSError, ValueError, KeyError) as e:
            last = e
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


class Control:
    """A control-socket session speaking the line protocol."""

    def __init__(self, path, timeout=30):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(timeout * SLOW)
        self.sock.connect(path)
        self.f = self.sock.makefile("rb")
        self.greeting = self.f.readline().decode()

    def line(self, text):
        self.sock.sendall(text.encode() + b"\n")
        return self.f.readline().decode()

    def json(self, text):
        reply = self.line(text)
        if reply.startswith("ERROR"):
            raise RuntimeError(reply.strip())
        return json.loads(reply)

    def close(self):
        self.f.close()
        self.sock.close()


class Node:
    def __init__(self, mesh, name, config):
        self.mesh = mesh
        self.name = name
        self.dir = os.path.join(mesh.dir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.sock = os.path.join(self.dir, "ctl.sock")
        self.config_path = os.path.join(self.dir, "receptor.yml")
        self.config = config
        self.proc = None
        self.log_path = os.path.join(self.dir, "receptor.log")
        self.env = None  # environment for the daemon (None: inherit)

    def write_config(self, items=None):
        if items is not None:
            self.config = items
        with open(self.config_path, "w") as f:
            f.write(to_yaml(self.config))

    def start(self, wait=True):
        self.write_config()
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([RECEPTOR, "--config", self.config_path],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        if wait:
            wait_for(lambda: os.path.exists(self.sock) and self.try_connect(), 10,
                     f"{self.name} control socket")
        return self

    def try_connect(self):
        try:
            Control(self.sock).close()
            return True
        except OSError:
            return False

    def ctl(self):
        return Control(self.sock)

    def cmd(self, text):
        c = self.ctl()
        try:
            return c.json(text)
        finally:
            c.close()

    def status(self):
        return self.cmd("status")

    def routes(self):
        return self.status()["RoutingTable"]

    def serve_control_on_mesh(self):
        """Also offer the control service on the mesh (service "control"), as
        upstream's default config does; call before start()."""
        for item in self.config:
            if "control-service" in item:
                item["control-service"]["service"] = "control"
        return self

    def advert(self, node, service):
        """node's advertisement of service as this node sees it, or None."""
        return next((ad for ad in self.status()["Advertisements"]
                     if ad["NodeID"] == node and ad["Service"] == service), None)

    def wait_advert(self, node, service="control", timeout=30):
        wait_for(lambda: self.advert(node, service), timeout, f"{node}'s {service} advert")

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10 * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        if hasattr(self, "log"):
            self.log.close()
        return rc

    def logtext(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")


def to_yaml(items):
    """Writes a receptor v1 config (list of single-key maps) as YAML."""
    out = ["---"]
    for item in items:
        (entry, opts), = item.items()
        if opts is None:
            out.append(f"- {entry}")
        elif isinstance(opts, dict):
            out.append(f"- {entry}:")
            for k, v in opts.items():
                out.append(f"    {k}: {json.dumps(v)}")
        else:
            out.append(f"- {entry}: {json.dumps(opts)}")
    return "\n".join(out) + "\n"


class Mesh:
    def __init__(self, tmp_path):
        self.dir = str(tmp_path)
        self.nodes = {}
        self.ports = {}
        self.kinds = {}  # node -> backend its listener uses: tcp, udp or ws

    def port(self, name, kind="tcp"):
        if name not in self.ports:
            self.ports[name] = free_port(kind)
        return self.ports[name]

    def peer_item(self, p, cost=None):
        """A peer entry dialing node p with the backend p listens on."""
        kind = self.kinds.get(p, "tcp")
        if kind == "ws":
            opts = {"address": f"ws://127.0.0.1:{self.port(p, kind)}/"}
        else:
            opts = {"address": f"127.0.0.1:{self.port(p, kind)}"}
        if cost is not None:
            opts["cost"] = cost
        return {f"{kind}-peer": opts}

    def node(self, name, listen=True, peers=(), extra=(), cost=None, node_opts=None, log="debug",
             kind="tcp"):
        """kind: the backend of this node's listener (tcp, udp, ws); peers
        are dialed with the backend each of them listens on."""
        # a data dir of the test's own: the default (/tmp/receptor/<id>) is
        # shared by every run, and a node restarts the units it finds there
        items = [{"node": dict({"id": name, "datadir": os.path.join(self.dir, name, "data")},
                               **(node_opts or {}))},
                 {"log-level": log}]
        if listen:
            self.kinds[name] = kind
            opts = {"port": self.port(name, kind), "bindaddr": "127.0.0.1"}
            if cost is not None:
                opts["cost"] = cost
            items.append({f"{kind}-listener": opts})
        for p in peers:
            if isinstance(p, tuple):
                p, c = p
                items.append(self.peer_item(p, c))
            else:
                items.append(self.peer_item(p))
        items.extend(extra)
        n = Node(self, name, None)
        items.append({"control-service": {"filename": n.sock, "service": ""}})
        n.config = items
        self.nodes[name] = n
        return n

    def stop(self):
        for n in self.nodes.values():
            n.stop()


@pytest.fixture
def mesh(tmp_path):
    m = Mesh(tmp_path)
    yield m
    m.stop()
    if SANITIZED:
        for n in m.nodes.values():
            text = n.logtext() if os.path.exists(n.log_path) else ""
            assert "ERROR: AddressSanitizer" not in text, text[-4000:]
            assert "runtime error:" not in text, text[-4000:]
            assert "LeakSanitizer" not in text, text[-4000:]
