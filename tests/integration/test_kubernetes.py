"""Kubernetes work units (issue 11, spec 10.3, upstream pkg/workceptor/kubernetes.go).

Phase 1: the `work-kubernetes` entry is configured and checked as upstream's
Prepare does, AWX's control-node config starts and advertises both kubernetes
work types, and submissions are checked as upstream's SetFromParams does
(runtime parameters refused without their allowruntime* permission, secrets
kept in the status file but redacted in `work status` / `work list`).  The
Kubernetes API client is not in yet: a started unit fails with a detail that
says so."""
import json
import os
import re
import socket
import subprocess

import pytest

from conftest import RECEPTOR, wait_for

AWX_CONFIG = """\
- local-only: null
- log-level: debug
- node:
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
          "tlskey": "receptor.key", "ca": "receptor-ca.crt", "cakey": "receptor-ca.key"}.items()}
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
    def __init__(self, tmp_path, text, sock):
        self.sock = sock
        self.path = os.path.join(tmp_path, "receptor.yml")
        with open(self.path, "w") as fh:
            fh.write(text)
        self.log = open(os.path.join(tmp_path, "receptor.log"), "wb")
        self.proc = subprocess.Popen([RECEPTOR, "--config", self.path], stdout=self.log,
                                     stderr=subprocess.STDOUT)
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


def test_started_unit_fails_clearly_and_release_removes_it(tmp_path, daemons):
    text, sock = kube_config(str(tmp_path), {"worktype": "k", "namespace": "ns", "image": "i"})
    d = Daemon(str(tmp_path), text, sock)
    daemons.append(d)
    unit, reply = d.submit("k", {}, b"stdin")
    assert unit, reply
    st = wait_for(lambda: (s := d.cmd(f"work status {unit}"))["State"] == 3 and s, 15, "failure")
    assert "Kubernetes API client is not implemented" in st["Detail"], st
    assert d.cmd(f"work release {unit}")
    assert not os.path.exists(os.path.join(str(tmp_path), "data", "k1", unit))
