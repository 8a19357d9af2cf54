"""harness.py - runs fake_kube.py for a test and drives it: where it listens,
its CA and token, kubeconfig files that point at it, fault injection, and
what pods it holds."""
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


class FakeKubeServer:
    def __init__(self, d, env=None):
        """env: the server's environment, which its containers inherit (the
        image's environment); None: the test's."""
        self.dir = str(d)
        os.makedirs(self.dir, exist_ok=True)
        self.log = open(os.path.join(self.dir, "fake_kube.log"), "wb")
        self.proc = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "fake_kube.py"),
                                      "--dir", self.dir], stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env)
        ports = os.path.join(self.dir, "ports.json")
        deadline = time.time() + 60
        while not os.path.exists(ports):
            if self.proc.poll() is not None or time.time() > deadline:
                raise AssertionError("fake_kube did not start: " + self.logtext())
            time.sleep(0.05)
        with open(ports) as f:
            p = json.load(f)
        self.port, self.admin_port = p["api"], p["admin"]
        self.url = f"https://127.0.0.1:{self.port}"
        self.ca = os.path.join(self.dir, "ca.crt")
        with open(os.path.join(self.dir, "token")) as f:
            self.token = f.read().strip()

    def logtext(self):
        with open(os.path.join(self.dir, "fake_kube.log"), "rb") as f:
            return f.read().decode(errors="replace")

    def _admin(self, path, body=None):
        req = urllib.request.Request(f"http://127.0.0.1:{self.admin_port}{path}",
                                     data=None if body is None else json.dumps(body).encode(),
                                     method="GET" if body is None else "POST")
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def faults(self, **kw):
        return self._admin("/faults", kw)

    def state(self):
        return self._admin("/state")

    def pods(self, ns=None):
        return {k: v for k, v in self.state()["pods"].items() if ns is None or k.startswith(ns + "/")}

    def secrets(self, ns=None):
        return {k: v for k, v in self.state()["secrets"].items()
                if ns is None or k.startswith(ns + "/")}

    def add_token(self, token, user, namespaces, resources=None):
        """A bearer token for user in namespaces; resources: the only
        resources it may use (e.g. ["pods", "pods/log"]), None: all."""
        self._admin("/token", {"token": token, "user": user, "namespaces": list(namespaces),
                               "resources": None if resources is None else list(resources)})

    def add_cert_user(self, user, namespaces):
        """A client certificate (crt, key paths) for user, trusted by the server."""
        sys.path.insert(0, HERE)
        import fake_kube
        crt, key = fake_kube.make_client_cert(self.dir, user)
        self._admin("/user", {"user": user, "namespaces": list(namespaces)})
        return crt, key

    def kubeconfig(self, namespace="default", token=None, inline_ca=True, cert=None):
        """kubeconfig text for this server (a context, a cluster, a user)."""
        import base64
        with open(self.ca, "rb") as f:
            ca = base64.b64encode(f.read()).decode()
        cluster = f"    certificate-authority-data: {ca}\n" if inline_ca else \
            f"    certificate-authority: {self.ca}\n"
        if cert:
            user = f"    client-certificate: {cert[0]}\n    client-key: {cert[1]}\n"
        else:
            user = f"    token: {token or self.token}\n"
        return ("apiVersion: v1\nkind: Config\n"
                "clusters:\n- name: fake\n  cluster:\n"
                f"    server: {self.url}\n{cluster}"
                "users:\n- name: tester\n  user:\n" + user +
                "contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: tester\n"
                f"    namespace: {namespace}\n"
                "current-context: fake\n")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def incluster_wrap(self, sa_dir, namespace="awx"):
        """A command prefix that runs a program in a user+mount namespace whose
        /run/secrets/kubernetes.io/serviceaccount is sa_dir, filled with this
        server's token, CA and the namespace, as a pod's is; with the
        environment the kubelet gives (KUBERNETES_SERVICE_HOST/_PORT)."""
        sa = pathlib.Path(sa_dir)
        sa.mkdir()
        (sa / "token").write_text(self.token + "\n")
        (sa / "namespace").write_text(namespace)
        (sa / "ca.crt").write_bytes(pathlib.Path(self.ca).read_bytes())
        mnt = "/run/secrets/kubernetes.io/serviceaccount"
        wrap = ["unshare", "-rm", "sh", "-c",
                f'mount -t tmpfs none /run && mkdir -p {mnt} && mount --bind "$0" {mnt} && exec "$@"',
                str(sa)]
        return wrap, {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(self.port)}
