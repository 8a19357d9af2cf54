"""Kubernetes work units (issue 11, spec 10.3, upstream pkg/workceptor/kubernetes.go).

The `work-kubernetes` entry is configured and checked as upstream's Prepare
does, AWX's control-node config starts and advertises both kubernetes work
types, submissions are checked as upstream's SetFromParams does (runtime
parameters refused without their allowruntime* permission, secrets kept in
the status file but redacted in `work status` / `work list`), and units run
their pods on the test API server k8s/fake_kube.py (see its header for what
it models), whose pods really run their worker container as a local
process."""
import hashlib
import json
import os
import re
import socket
import subprocess
import sys

import pytest

from conftest import RECEPTOR, SANITIZED, wait_for

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "k8s"))
from harness import FakeKubeServer  # noqa: E402

AWX_CONFIG = """\
- local-only: null
- log-level: debug
- node:
    datadir: {datadir}
    firewallrules:
    - action: reject
      tonode: awx-bdfc84dd7-wp2b6
      toservice: control
- control-service:
    filename: {sock}
    permissions: '0660'
    service: control
- work-command:
    allowruntimeparams: true
    command: ansible-runner
    params: worker
    worktype: local
- work-signing:
    privatekey: {key}
    tokenexpiration: 1m
- work-kubernetes:
    allowruntimeauth: true
    allowruntimeparams: true
    allowruntimepod: true
    authmethod: runtime
    worktype: kubernetes-runtime-auth
- work-kubernetes:
    allowruntimeauth: true
    allowruntimeparams: true
    allowruntimepod: true
    authmethod: incluster
    worktype: kubernetes-incluster-auth
- tls-client:
    cert: {crt}
    key: {tlskey}
    name: tlsclient
    rootcas: {ca}
"""


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def awx_files(d):
    """The files AWX's config names, made in the test directory."""
    f = {k: os.path.join(d, v) for k, v in
         {"sock": "receptor.sock", "key": "work-private-key.pem", "crt": "receptor.crt",
          "tlskey": "receptor.key", "ca": "receptor-ca.crt", "cakey": "receptor-ca.key",
          "datadir": "data"}.items()}
    openssl("genrsa", "-out", f["key"], "2048")
    host = socket.gethostname()  # the node ID, as the config names none
    for args in (["--cert-init", "commonname=receptor CA", "bits=2048", f"outcert={f['ca']}",
                  f"outkey={f['cakey']}"],
                 ["--cert-makereq", "bits=2048", f"commonname={host}", f"nodeid={host}",
                  f"outreq={f['crt']}.csr", f"outkey={f['tlskey']}"],
                 ["--cert-signreq", f"req={f['crt']}.csr", f"cacert={f['ca']}",
                  f"cakey={f['cakey']}", f"outcert={f['crt']}", "verify=true"]):
        r = subprocess.run([RECEPTOR, *args], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
    return f


class Daemon:
    def __init__(self, tmp_path, text, sock, wrap=(), env=None):
        self.sock = sock
        self.path = os.path.join(tmp_path, "receptor.yml")
        with open(self.path, "w") as fh:
            fh.write(text)
        self.log = open(os.path.join(tmp_path, "receptor.log"), "wb")
        self.proc = subprocess.Popen([*wrap, RECEPTOR, "--config", self.path], stdout=self.log,
                                     stderr=subprocess.STDOUT, env=env)
        wait_for(self.connectable, 15, "control socket")

    def connectable(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"receptor exited {self.proc.returncode}")
        if not os.path.exists(self.sock):
            return False
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(self.sock)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def session(self):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(30)
        s.connect(self.sock)
        f = s.makefile("rb")
        f.readline()  # greeting
        return s, f

    def cmd(self, line):
        s, f = self.session()
        try:
            s.sendall(line.encode() + b"\n")
            reply = f.readline().decode()
            if reply.startswith("ERROR"):
                return reply.strip()
            return json.loads(reply)
        finally:
            f.close()
            s.close()

    def submit(self, worktype, params, payload=b""):
        """work submit as receptorctl sends it; (unit id or None, reply text)."""
        req = {"command": "work", "subcommand": "submit", "node": "localhost",
               "worktype": worktype}
        req.update(params)
        s, f = self.session()
        try:
            s.sendall(json.dumps(req).encode() + b"\n")
            first = f.readline().decode()
            m = re.match(r"Work unit created with ID (\w+)\.", first)
            if not m:
                return None, first
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            return m.group(1), f.read().decode()
        finally:
            f.close()
            s.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)
        self.log.close()
        if SANITIZED:
            with open(self.log.name, "rb") as f:
                text = f.read().decode(errors="replace")
            for bad in ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer"):
                assert bad not in text, text[-4000:]


@pytest.fixture
def daemons():
    started = []
    yield started
    for d in started:
        d.stop()


def kube_config(tmp_path, *kube_items, datadir=True):
    """A local-only node with a control socket and the given work-kubernetes entries."""
    sock = os.path.join(tmp_path, "ctl.sock")
    lines = ["- local-only: null", "- log-level: debug", "- node:", "    id: k1"]
    if datadir:
        lines.append(f"    datadir: {os.path.join(tmp_path, 'data')}")
    lines += ["- control-service:", f"    filename: {sock}", "    service: control"]
    for opts in kube_items:
        lines.append("- work-kubernetes:")
        lines += [f"    {k}: {json.dumps(v)}" for k, v in opts.items()]
    return "\n".join(lines) + "\n", sock


def start_fails(tmp_path, *kube_items):
    text, _ = kube_config(tmp_path, *kube_items)
    path = os.path.join(tmp_path, "bad.yml")
    with open(path, "w") as fh:
        fh.write(text)
    r = subprocess.run([RECEPTOR, "--config", path], capture_output=True, text=True, timeout=20)
    assert r.returncode != 0, r.stdout + r.stderr
    return r.stderr, path


# ---- the config -------------------------------------------------------------------------


def test_awx_control_node_config_starts_and_advertises_both_kube_types(tmp_path, daemons):
    f = awx_files(str(tmp_path))
    d = Daemon(str(tmp_path), AWX_CONFIG.format(**f), f["sock"])
    daemons.append(d)
    st = d.cmd("status")
    assert oct(os.stat(f["sock"]).st_mode & 0o777) == "0o660"
    ads = [a for a in st["Advertisements"] if a["NodeID"] == st["NodeID"]
           and a["Service"] == "control"]
    assert ads, st
    types = {w["WorkType"]: w["Secure"] for w in ads[0]["WorkCommands"]}
    assert types == {"local": False, "kubernetes-runtime-auth": False,
                     "kubernetes-incluster-auth": False}, types


BASE = {"worktype": "k", "namespace": "ns", "image": "img"}


@pytest.mark.parametrize("opts,words", [
    ({"authmethod": "bogus"}, "invalid AuthMethod: bogus"),
    ({"namespace": ""}, "must provide namespace when AuthMethod is not kubeconfig"),
    ({"kubeconfig": "/nonexistent/kubeconfig"},
     "can only provide KubeConfig when AuthMethod=kubeconfig"),
    ({"authmethod": "kubeconfig", "kubeconfig": "/nonexistent/kubeconfig"},
     "error accessing kubeconfig file: stat /nonexistent/kubeconfig: no such file or directory"),
    ({"pod": "/p.yml"}, "can only provide Pod when Image, Command, and Params are empty"),
    ({"image": ""}, "must specify a container image to run"),
    ({"streammethod": "udp"}, "stream mode must be logger or tcp"),
    ({"streammethod": "TCP"}, "streammethod tcp is not supported by receptor-c"),
    ({"verifysignature": True}, "verifysignature needs a work-verification key"),
    ({"deletepodonrestart": "maybe"}, "deletepodonrestart"),
])
def test_invalid_kube_config_fails_at_startup_naming_file_and_line(tmp_path, opts, words):
    err, path = start_fails(str(tmp_path), {"worktype": "ok", "namespace": "ns", "image": "i"},
                            dict(BASE, **opts))
    assert words in err, err
    # the second work-kubernetes entry starts on line 13 of the file (a bad
    # value is reported at its own line)
    line = 17 if "deletepodonrestart" in opts else 13
    assert f"{path}:{line}:" in err, err


def test_config_accepts_what_upstream_accepts(tmp_path, daemons):
    kc = os.path.join(str(tmp_path), "kubeconfig")
    with open(kc, "w") as fh:
        fh.write("apiVersion: v1\nkind: Config\n")
    text, sock = kube_config(
        str(tmp_path),
        {"worktype": "a", "authmethod": "KubeConfig", "kubeconfig": kc, "image": "i"},
        {"worktype": "b", "namespace": "ns", "pod": "/pod.yml"},          # pod: no image needed
        {"worktype": "c", "allowruntimeauth": True, "allowruntimecommand": True},
        {"worktype": "d", "namespace": "ns", "allowruntimepod": True, "streammethod": "Logger",
         "deletepodonrestart": False})
    d = Daemon(str(tmp_path), text, sock)
    daemons.append(d)
    ad = next(a for a in d.cmd("status")["Advertisements"] if a["Service"] == "control")
    assert [w["WorkType"] for w in ad["WorkCommands"]] == ["a", "b", "c", "d"]


# ---- submission -------------------------------------------------------------------------


def unit_status_file(tmp_path, unit):
    with open(os.path.join(str(tmp_path), "data", "k1", unit, "status")) as fh:
        return json.load(fh)


def test_runtime_params_refused_without_permission(tmp_path, daemons):
    text, sock = kube_config(str(tmp_path), {"worktype": "locked", "namespace": "ns", "image": "i"},
                             {"worktype": "runtime", "authmethod": "runtime",
                              "allowruntimeauth": True, "allowruntimepod": True, "namespace": "ns",
                              "image": "i"})
    d = Daemon(str(tmp_path), text, sock)
    daemons.append(d)
    for name, value in [("kube_command", "x"), ("kube_image", "x"), ("kube_params", "x"),
                        ("kube_namespace", "x"), ("secret_kube_config", "x"),
                        ("secret_kube_pod", "x"), ("pod_pending_timeout", "1m")]:
        unit, reply = d.submit("locked", {name: value})
        assert unit is None and f"{name} provided but not allowed" in reply, (name, reply)
    unit, reply = d.submit("locked", {"kube_image": ""})  # empty values do not count
    assert unit, reply
    unit, reply = d.submit("runtime", {})
    assert unit is None and \
        "param secret_kube_config must be provided if AuthMethod=runtime" in reply, reply
    unit, reply = d.submit("runtime", {"secret_kube_config": "k", "secret_kube_pod": "p",
                                       "kube_image": "x"})
    assert unit is None and "kube_image provided but not allowed" in reply, reply


def test_pod_pending_timeout_and_pod_params(tmp_path, daemons):
    text, sock = kube_config(str(tmp_path),
                             {"worktype": "k", "namespace": "ns", "image": "i",
                              "allowruntimeparams": True, "allowruntimepod": True,
                              "allowruntimecommand": True})
    d = Daemon(str(tmp_path), text, sock)
    daemons.append(d)
    unit, reply = d.submit("k", {"pod_pending_timeout": "soon"})
    assert unit is None and 'time: invalid duration "soon"' in reply, reply
    unit, reply = d.submit("k", {"secret_kube_pod": "p", "kube_params": "x"})
    assert unit is None and \
        "params kube_command, kube_image, kube_params not compatible with secret_kube_pod" in reply
    unit, reply = d.submit("k", {"pod_pending_timeout": "1m30s"})
    assert unit, reply


def test_secrets_kept_in_status_file_and_redacted_in_status_and_list(tmp_path, daemons):
    pod = os.path.join(str(tmp_path), "pod.yml")
    with open(pod, "w") as fh:
        fh.write("apiVersion: v1\nkind: Pod\n")
    text, sock = kube_config(
        str(tmp_path),
        {"worktype": "rt", "authmethod": "runtime", "allowruntimeauth": True,
         "allowruntimepod": True, "allowruntimeparams": True},
        {"worktype": "cfgpod", "namespace": "ns", "pod": pod},
        {"worktype": "plain", "namespace": "ns", "image": "ee:1", "command": "ansible-runner",
         "params": "worker", "allowruntimeparams": True})
    d = Daemon(str(tmp_path), text, sock)
    daemons.append(d)
    kc = "apiVersion: v1\nclusters: []\nusers:\n- name: u\n  user: {token: s3cret}\n"
    unit, reply = d.submit("rt", {"secret_kube_config": kc, "secret_kube_pod": "kind: Pod\n",
                                  "kube_namespace": "awx"})
    assert unit, reply
    on_disk = unit_status_file(tmp_path, unit)["ExtraData"]
    assert list(on_disk) == ["Image", "Command", "Params", "KubeNamespace", "KubeConfig",
                             "KubePod", "PodName"]
    assert on_disk == {"Image": "", "Command": "", "Params": "", "KubeNamespace": "awx",
                       "KubeConfig": kc, "KubePod": "kind: Pod\n", "PodName": ""}
    shown = d.cmd(f"work status {unit}")["ExtraData"]
    assert shown["KubeConfig"] == "" and shown["KubePod"] == "" and shown["KubeNamespace"] == "awx"
    listed = d.cmd("work list")[unit]["ExtraData"]
    assert listed["KubeConfig"] == "" and listed["KubePod"] == ""
    assert "s3cret" not in json.dumps(d.cmd("work list"))
    # the daemon logs every control command at debug level: never the secrets
    d.log.flush()
    with open(os.path.join(str(tmp_path), "receptor.log"), "rb") as fh:
        log = fh.read()
    assert b"Control service command" in log and b"s3cret" not in log and b"kind: Pod" not in log

    unit, reply = d.submit("cfgpod", {})
    assert unit, reply
    assert unit_status_file(tmp_path, unit)["ExtraData"]["KubePod"] == \
        "apiVersion: v1\nkind: Pod\n"
    unit, reply = d.submit("plain", {"kube_params": "--private-data-dir=/runner"})
    assert unit, reply
    e = unit_status_file(tmp_path, unit)["ExtraData"]
    assert (e["Image"], e["Command"], e["Params"], e["KubeNamespace"]) == \
        ("ee:1", "ansible-runner", "worker --private-data-dir=/runner", "ns")
    os.unlink(pod)
    unit, reply = d.submit("cfgpod", {})
    assert unit is None and f"could not read pod: open {pod}: no such file or directory" in reply




# ---- units against the test API server ------------------------------------------------


@pytest.fixture
def kube(tmp_path):
    k = FakeKubeServer(tmp_path / "kube")
    yield k
    k.stop()


RUNTIME = {"worktype": "kubernetes-runtime-auth", "authmethod": "runtime", "allowruntimeauth": True,
           "allowruntimeparams": True, "allowruntimepod": True}


def pod_yaml(command, image="quay.io/ansible/awx-ee:latest", name=None):
    meta = f"metadata:\n  name: {name}\n  namespace: awx\n" if name else "metadata:\n  namespace: awx\n"
    return ("apiVersion: v1\nkind: Pod\n" + meta +
            "spec:\n  containers:\n  - name: worker\n"
            f"    image: {image}\n    command: {json.dumps(command)}\n")


def results(d, unit):
    s, f = d.session()
    try:
        s.sendall(f"work results {unit}\n".encode())
        head = f.readline()
        assert head.startswith(b"Streaming results"), head
        return f.read()
    finally:
        f.close()
        s.close()


def wait_state(d, unit, states=(2, 3, 4), timeout=60):
    return wait_for(lambda: (st := d.cmd(f"work status {unit}"))["State"] in states and st,
                    timeout, f"unit {unit} to end")


def kube_daemon(tmp_path, daemons, *items):
    text, sock = kube_config(str(tmp_path), *items)
    d = Daemon(str(tmp_path), text, sock)
    daemons.append(d)
    return d


@pytest.mark.parametrize("v4_only", [False, True])
def test_runtime_auth_pod_gets_stdin_and_results_come_back(tmp_path, daemons, kube, v4_only):
    kube.faults(attach_v4_only=v4_only)
    d = kube_daemon(tmp_path, daemons, RUNTIME)
    unit, reply = d.submit("kubernetes-runtime-auth",
                           {"secret_kube_config": kube.kubeconfig(namespace="default"),
                            "secret_kube_pod": pod_yaml(["sh", "-c", "cat; echo done"],
                                                        name="awx-job-1")},
                           b"hello from stdin\n")
    assert unit, reply
    st = wait_state(d, unit)
    assert (st["State"], st["Detail"]) == (2, "Finished"), st
    assert results(d, unit) == b"hello from stdin\ndone\n"
    e = unit_status_file(tmp_path, unit)["ExtraData"]
    assert e["PodName"].startswith("awx-job-1-") and e["KubeNamespace"] == "awx"
    assert st["StdoutSize"] == len(b"hello from stdin\ndone\n")
    assert f"awx/{e['PodName']}" in kube.pods()
    assert d.cmd(f"work release {unit}")
    wait_for(lambda: not kube.pods(), 20, "pod deleted on release")


def test_kubeconfig_auth_with_client_certificate_and_multi_mib_stdin(tmp_path, daemons, kube):
    crt, key = kube.add_cert_user("alice", ["team"])
    kc = os.path.join(str(tmp_path), "kubeconfig")
    with open(kc, "w") as f:
        f.write(kube.kubeconfig(namespace="team", inline_ca=False, cert=(crt, key)))
    d = kube_daemon(tmp_path, daemons,
                    {"worktype": "kc", "authmethod": "kubeconfig", "kubeconfig": kc,
                     "image": "busybox", "command": "sh", "params": "-c 'sha256sum; cat /dev/null'"},
                    {"worktype": "echo", "authmethod": "kubeconfig", "kubeconfig": kc,
                     "image": "busybox", "command": "cat"})
    payload = os.urandom(3 << 20)
    unit, reply = d.submit("kc", {}, payload)
    assert unit, reply
    st = wait_state(d, unit)
    assert st["State"] == 2, st
    assert results(d, unit) == f"{hashlib.sha256(payload).hexdigest()}  -\n".encode()
    assert unit_status_file(tmp_path, unit)["ExtraData"]["KubeNamespace"] == "team"
    # and back out, byte for byte: 3 MiB of text through cat
    text = b"".join(b"%d %s\n" % (i, hashlib.sha1(b"%d" % i).hexdigest().encode())
                    for i in range(70000))
    unit, reply = d.submit("echo", {}, text)
    assert unit, reply
    assert wait_state(d, unit)["State"] == 2
    assert results(d, unit) == text


def test_log_stream_cut_again_and_again_loses_and_doubles_nothing(tmp_path, daemons, kube):
    kube.faults(cut_log_after=150000, watch_gone=1)
    d = kube_daemon(tmp_path, daemons, RUNTIME)
    unit, reply = d.submit("kubernetes-runtime-auth",
                           {"secret_kube_config": kube.kubeconfig(),
                            "secret_kube_pod": pod_yaml(["seq", "1", "250000"])})
    assert unit, reply
    st = wait_state(d, unit, timeout=120)
    assert (st["State"], st["Detail"]) == (2, "Finished"), st
    want = b"".join(b"%d\n" % i for i in range(1, 250001))
    got = results(d, unit)
    assert len(got) == len(want) and got == want
    c = kube.state()["counters"]
    assert c["log_requests"] > 5, c
    assert kube.faults()["watch_gone"] == 0  # the watch did get its 410 Gone


def test_watch_that_keeps_ending_and_a_slow_scheduler(tmp_path, daemons, kube):
    kube.faults(watch_end_after=1, schedule_delay=1.5)
    d = kube_daemon(tmp_path, daemons, RUNTIME)
    unit, reply = d.submit("kubernetes-runtime-auth",
                           {"secret_kube_config": kube.kubeconfig(),
                            "secret_kube_pod": pod_yaml(["sh", "-c", "cat"])}, b"x" * 1000)
    assert unit, reply
    st = wait_state(d, unit)
    assert (st["State"], st["Detail"]) == (2, "Finished"), st
    assert results(d, unit) == b"x" * 1000
    assert kube.state()["counters"]["watch_requests"] >= 2


def test_image_pull_failure_fails_the_unit_and_deletes_the_pod(tmp_path, daemons, kube):
    d = kube_daemon(tmp_path, daemons, RUNTIME)
    unit, reply = d.submit("kubernetes-runtime-auth",
                           {"secret_kube_config": kube.kubeconfig(),
                            "secret_kube_pod": pod_yaml(["true"], image="bad/nonesuch:1")})
    assert unit, reply
    st = wait_state(d, unit)
    assert (st["State"], st["Detail"]) == \
        (3, "Error creating pod: container failed to start, ImagePullBackOff"), st
    wait_for(lambda: not kube.pods(), 20, "pod deleted")


def test_pod_pending_past_its_timeout_fails_with_the_reason(tmp_path, daemons, kube):
    kube.faults(unschedulable=True)
    d = kube_daemon(tmp_path, daemons, RUNTIME)
    unit, reply = d.submit("kubernetes-runtime-auth",
                           {"secret_kube_config": kube.kubeconfig(),
                            "secret_kube_pod": pod_yaml(["true"]), "pod_pending_timeout": "1s"})
    assert unit, reply
    st = wait_state(d, unit)
    assert (st["State"], st["Detail"]) == \
        (3, "Error creating pod: timed out waiting for the condition"), st
    wait_for(lambda: not kube.pods(), 20, "pod deleted")


def test_expired_token_and_forbidden_namespace(tmp_path, daemons, kube):
    d = kube_daemon(tmp_path, daemons, RUNTIME)
    kube.add_token("short-lived", "system:serviceaccount:awx:awx", ["awx"])
    kube.faults(expire_tokens=["short-lived"])
    unit, reply = d.submit("kubernetes-runtime-auth",
                           {"secret_kube_config": kube.kubeconfig(token="short-lived"),
                            "secret_kube_pod": pod_yaml(["true"])})
    assert unit, reply
    st = wait_state(d, unit)
    assert (st["State"], st["Detail"]) == (3, "Error creating pod: Unauthorized"), st
    unit, reply = d.submit("kubernetes-runtime-auth",
                           {"secret_kube_config": kube.kubeconfig(),
                            "secret_kube_pod": pod_yaml(["true"]).replace("namespace: awx",
                                                                          "namespace: kube-system")})
    st = wait_state(d, unit)
    assert st["State"] == 3 and st["Detail"] == (
        'Error creating pod: pods is forbidden: User "system:serviceaccount:awx:awx" cannot create '
        'resource "pods" in API group "" in the namespace "kube-system"'), st
    assert not kube.pods()


def test_cancel_and_release_delete_the_pod(tmp_path, daemons, kube):
    d = kube_daemon(tmp_path, daemons, RUNTIME)
    params = {"secret_kube_config": kube.kubeconfig(),
              "secret_kube_pod": pod_yaml(["sh", "-c", "cat; echo started; sleep 600"])}
    unit, reply = d.submit("kubernetes-runtime-auth", params, b"in\n")
    assert unit, reply
    wait_for(lambda: results_so_far(tmp_path, unit) == b"in\nstarted\n", 30, "output")
    assert d.cmd(f"work cancel {unit}")
    st = d.cmd(f"work status {unit}")
    assert (st["State"], st["Detail"]) == (4, "Canceled"), st
    wait_for(lambda: not kube.pods(), 20, "pod deleted on cancel")
    unit, reply = d.submit("kubernetes-runtime-auth", params, b"in\n")
    wait_for(lambda: results_so_far(tmp_path, unit) == b"in\nstarted\n", 30, "output")
    assert d.cmd(f"work release {unit}")
    wait_for(lambda: not kube.pods(), 20, "pod deleted on release")
    assert not os.path.exists(os.path.join(str(tmp_path), "data", "k1", unit))
    assert d.proc.poll() is None


def results_so_far(tmp_path, unit):
    try:
        with open(os.path.join(str(tmp_path), "data", "k1", unit, "stdout"), "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def test_daemon_restart_mid_job_resumes_following_the_pod(tmp_path, daemons, kube):
    d = kube_daemon(tmp_path, daemons, RUNTIME)
    script = "cat; for i in $(seq 1 40); do echo line $i; sleep 0.05; done; read x < /dev/null"
    unit, reply = d.submit("kubernetes-runtime-auth",
                           {"secret_kube_config": kube.kubeconfig(),
                            "secret_kube_pod": pod_yaml(["sh", "-c", script])}, b"stdin\n")
    assert unit, reply
    wait_for(lambda: b"line 5\n" in results_so_far(tmp_path, unit), 30, "some output")
    assert d.cmd(f"work status {unit}")["State"] == 1
    d.stop()
    daemons.remove(d)
    text, sock = kube_config(str(tmp_path), RUNTIME)
    if os.path.exists(sock):
        os.unlink(sock)
    d = Daemon(str(tmp_path), text, sock)
    daemons.append(d)
    st = wait_state(d, unit)
    assert (st["State"], st["Detail"]) == (2, "Finished"), st
    want = b"stdin\n" + b"".join(b"line %d\n" % i for i in range(1, 41))
    assert results(d, unit) == want
    assert kube.state()["counters"]["attach_requests"] == 1


def test_incluster_auth_from_the_service_account_directory(tmp_path, daemons, kube):
    """The daemon runs in a user+mount namespace whose
    /var/run/secrets/kubernetes.io/serviceaccount is the test's directory, as
    a pod's is, with KUBERNETES_SERVICE_HOST/_PORT set as the kubelet sets them."""
    wrap, kube_env = kube.incluster_wrap(tmp_path / "sa")
    env = dict(os.environ, **kube_env)
    text, sock = kube_config(str(tmp_path), {"worktype": "kubernetes-incluster-auth",
                                             "authmethod": "incluster", "allowruntimeauth": True,
                                             "allowruntimeparams": True, "allowruntimepod": True})
    d = Daemon(str(tmp_path), text, sock, wrap=wrap, env=env)
    daemons.append(d)
    unit, reply = d.submit("kubernetes-incluster-auth",
                           {"secret_kube_pod": pod_yaml(["sh", "-c", "cat"]).replace(
                               "  namespace: awx\n", "")}, b"in-cluster\n")
    assert unit, reply
    st = wait_state(d, unit)
    assert (st["State"], st["Detail"]) == (2, "Finished"), st
    assert results(d, unit) == b"in-cluster\n"
    assert unit_status_file(tmp_path, unit)["ExtraData"]["KubeNamespace"] == "awx"
    assert list(kube.pods("awx"))


def test_remote_kubernetes_unit_through_a_hop(mesh, tmp_path, kube):
    """a submits to c through b; c runs the pod (kubeconfig auth, so no
    secret travels), results come back to a, release removes the pod."""
    from conftest import BUILD
    kc = os.path.join(str(tmp_path), "kubeconfig")
    with open(kc, "w") as f:
        f.write(kube.kubeconfig(namespace="awx"))
    kube_type = {"work-kubernetes": {"worktype": "kube", "authmethod": "kubeconfig", "kubeconfig": kc,
                                     "image": "busybox", "command": "sh",
                                     "params": "-c 'cat; echo from-the-pod'"}}
    nodes = []
    for name, peers, extra in (("a", (), ()), ("b", ["a"], ()), ("c", ["b"], [kube_type])):
        n = mesh.node(name, peers=peers, extra=list(extra),
                      node_opts={"datadir": os.path.join(mesh.dir, name, "data")})
        n.serve_control_on_mesh()
        nodes.append(n)
    for n in nodes:
        n.start()
    a, c = nodes[0], nodes[2]
    wait_for(lambda: "c" in a.routes() and "a" in c.routes(), 20, "routes")
    a.wait_advert("c")
    ad = a.advert("c", "control")
    assert {"WorkType": "kube", "Secure": False} in ad["WorkCommands"]
    ctl = os.path.join(BUILD, "src", "cmd", "receptorctl")
    r = subprocess.run([ctl, "--socket", a.sock, "work", "submit", "kube", "--node", "c",
                        "--payload", "-", "-f"], input=b"through the mesh\n", capture_output=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"through the mesh\nfrom-the-pod\n"
    (uid, st), = a.cmd("work list").items()
    assert st["State"] == 2 and st["ExtraData"]["RemoteWorkType"] == "kube"
    remote = c.cmd("work list")[st["ExtraData"]["RemoteUnitID"]]
    assert remote["ExtraData"]["PodName"].startswith("kube-") and remote["Detail"] == "Finished"
    assert a.cmd(f"work release {uid}") == {"released": uid}
    wait_for(lambda: not kube.pods(), 30, "pod deleted on release")


@pytest.mark.parametrize("fault,detail", [
    ({"huge_watch_event": 6 << 20},
     "Error creating pod: a watch event of the pod is larger than 4194304 bytes"),
    ({"truncated_create": True},
     "Error creating pod: the server's answer is not a pod (invalid JSON)"),
    ({"garbage_ws": True}, "Error streaming stdin to pod awx/"),  # then the pod name
])
def test_hostile_api_answers_fail_the_unit_clearly(tmp_path, daemons, kube, fault, detail):
    kube.faults(**fault)
    d = kube_daemon(tmp_path, daemons, RUNTIME)
    unit, reply = d.submit("kubernetes-runtime-auth",
                           {"secret_kube_config": kube.kubeconfig(),
                            "secret_kube_pod": pod_yaml(["sh", "-c", "cat"])}, b"payload\n")
    assert unit, reply
    st = wait_state(d, unit)
    assert st["State"] == 3 and st["Detail"].startswith(detail), st
    assert d.cmd("status")["NodeID"] == "k1"   # the daemon is still there


@pytest.mark.parametrize("delete", [True, False])
def test_restart_while_pending_fails_the_unit_and_deletes_the_pod(tmp_path, daemons, kube, delete):
    kube.faults(unschedulable=True)
    kt = dict(RUNTIME, deletepodonrestart=delete)
    d = kube_daemon(tmp_path, daemons, kt)
    unit, reply = d.submit("kubernetes-runtime-auth",
                           {"secret_kube_config": kube.kubeconfig(),
                            "secret_kube_pod": pod_yaml(["true"])})
    assert unit, reply
    wait_for(lambda: d.cmd(f"work status {unit}")["Detail"] == "Pod created", 30, "pod created")
    d.stop()
    daemons.remove(d)
    text, sock = kube_config(str(tmp_path), kt)
    if os.path.exists(sock):
        os.unlink(sock)
    d = Daemon(str(tmp_path), text, sock)
    daemons.append(d)
    st = d.cmd(f"work status {unit}")
    assert (st["State"], st["Detail"]) == (
        3, "Failed to restart: work unit is not in running state, cannot be restarted"), st
    if delete:
        wait_for(lambda: not kube.pods(), 20, "pod deleted at restart")
    else:
        assert len(kube.pods()) == 1


def test_daemon_stopping_while_a_pod_delete_is_under_way(tmp_path, daemons, kube):
    d = kube_daemon(tmp_path, daemons, RUNTIME)
    unit, reply = d.submit("kubernetes-runtime-auth",
                           {"secret_kube_config": kube.kubeconfig(),
                            "secret_kube_pod": pod_yaml(["sh", "-c", "cat; sleep 600"])}, b"x\n")
    assert unit, reply
    wait_for(lambda: d.cmd(f"work status {unit}")["State"] == 1, 30, "running")
    kube.faults(slow_delete=30)
    assert d.cmd(f"work cancel {unit}")
    d.stop()   # with the DELETE still waiting for its answer
    daemons.remove(d)
    with open(os.path.join(str(tmp_path), "receptor.log"), "rb") as f:
        log = f.read().decode()
    assert "could not be deleted: the daemon is stopping" in log
    assert d.proc.returncode == 0, log[-2000:]


def test_receptorctl_submit_with_secret_files_as_the_docs_show(tmp_path, daemons, kube):
    from conftest import BUILD
    d = kube_daemon(tmp_path, daemons, RUNTIME)
    kc, pod = tmp_path / "kubeconfig", tmp_path / "pod.yml"
    kc.write_text(kube.kubeconfig())
    pod.write_text(pod_yaml(["sh", "-c", "tr a-z A-Z"]))
    r = subprocess.run([os.path.join(BUILD, "src", "cmd", "receptorctl"), "--socket", d.sock,
                        "work", "submit", "kubernetes-runtime-auth",
                        "--param", f"secret_kube_config=@{kc}", "--param", f"secret_kube_pod=@{pod}",
                        "--payload", "-", "-f", "--rm"], input=b"shout\n", capture_output=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"SHOUT\n")
    wait_for(lambda: not kube.pods(), 20, "pod deleted by --rm")


def test_signed_remote_runtime_auth_unit_through_a_hop(mesh, tmp_path, kube):
    """AWX's remote form with signing: a (work-signing, a tls-client) submits
    a kubernetes-runtime-auth unit to c (work-verification, verifysignature,
    its control service on the mesh with TLS) through b; the kubeconfig and
    pod spec travel as runtime params inside the signed submission.  Secrets
    over a plain control connection and unsigned work are refused before any
    pod exists; signed work over TLS runs its pod, its results come back to
    a, the secrets show in no `work list` on either end, release deletes the
    pod."""
    from conftest import BUILD, ROOT
    pki = tmp_path / "pki"
    subprocess.run([os.path.join(ROOT, "scripts", "make-demo-certs"), str(pki), "a", "c"],
                   check=True, capture_output=True, env=dict(os.environ, RECEPTOR=RECEPTOR))
    p = {k: str(pki / k) for k in ("ca.crt", "a.crt", "a.key", "c.crt", "c.key",
                                   "work-private.pem", "work-public.pem")}
    kube_type = {"work-kubernetes": dict(RUNTIME, worktype="kube-signed", verifysignature=True)}
    a = mesh.node("a", extra=[{"work-signing": {"privatekey": p["work-private.pem"],
                                                "tokenexpiration": "5m"}},
                              {"tls-client": {"name": "cli", "cert": p["a.crt"], "key": p["a.key"],
                                              "rootcas": p["ca.crt"]}}],
                  node_opts={"datadir": os.path.join(mesh.dir, "a", "data")})
    b = mesh.node("b", peers=["a"])
    c = mesh.node("c", peers=["b"],
                  extra=[{"tls-server": {"name": "srv", "cert": p["c.crt"], "key": p["c.key"],
                                         "clientcas": p["ca.crt"], "requireclientcert": True}},
                         {"work-verification": {"publickey": p["work-public.pem"]}}, kube_type],
                  node_opts={"datadir": os.path.join(mesh.dir, "c", "data")})
    c.serve_control_on_mesh()
    for item in c.config:
        if "control-service" in item:
            item["control-service"]["tls"] = "srv"
    for n in (a, b, c):
        n.start()
    wait_for(lambda: "c" in a.routes() and "a" in c.routes(), 20, "routes")
    a.wait_advert("c")
    assert {"WorkType": "kube-signed", "Secure": True} in a.advert("c", "control")["WorkCommands"]
    kc, pod = tmp_path / "kubeconfig", tmp_path / "pod.yml"
    kc.write_text(kube.kubeconfig(namespace="default"))
    pod.write_text(pod_yaml(["sh", "-c", "cat; echo signed-pod"], name="signed"))
    ctl = os.path.join(BUILD, "src", "cmd", "receptorctl")

    def submit(*extra):
        return subprocess.run([ctl, "--socket", a.sock, "work", "submit", "kube-signed", "--node", "c",
                               "--param", f"secret_kube_config=@{kc}",
                               "--param", f"secret_kube_pod=@{pod}", "--payload", "-", "-f", *extra],
                              input=b"signed through the mesh\n", capture_output=True, timeout=120)

    def release_all():
        for uid in a.cmd("work list"):
            a.cmd(f"work release {uid}")
    r = submit("--signwork")
    assert r.returncode != 0 and b"cannot send secrets over a non-TLS connection" in r.stderr, r
    release_all()
    r = submit("--tls-client", "cli")
    assert r.returncode != 0
    assert b"could not verify signature: signature is empty" in r.stdout + r.stderr, r
    assert kube.state()["counters"]["creates"] == 0
    release_all()
    r = submit("--tls-client", "cli", "--signwork")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"signed through the mesh\nsigned-pod\n"
    (uid, st), = a.cmd("work list").items()
    assert st["State"] == 2 and st["ExtraData"]["RemoteWorkType"] == "kube-signed"
    remote = c.cmd("work list")[st["ExtraData"]["RemoteUnitID"]]
    assert remote["ExtraData"]["PodName"].startswith("signed-") and remote["Detail"] == "Finished"
    for node in (a, c):
        text = json.dumps(node.cmd("work list"))
        assert kube.token not in text and "certificate-authority-data" not in text, text
    assert a.cmd(f"work release {uid}") == {"released": uid}
    wait_for(lambda: not kube.pods(), 30, "pod deleted on release")
