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
