"""The test Kubernetes API server (k8s/fake_kube.py) checked against what the
real API does, with plain Python clients, so that the kubernetes work tests
built on it test receptor-c and not the fake's mistakes."""
import asyncio
import base64
import http.client
import json
import os
import ssl
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "k8s"))
from harness import FakeKubeServer  # noqa: E402

from conftest import wait_for  # noqa: E402


@pytest.fixture
def kube(tmp_path):
    k = FakeKubeServer(tmp_path / "kube")
    yield k
    k.stop()


def request(k, method, path, body=None, token=None, headers=None):
    ctx = ssl.create_default_context(cafile=k.ca)
    c = http.client.HTTPSConnection("127.0.0.1", k.port, context=ctx, timeout=30)
    h = dict(headers or {})
    if token != "":
        h["Authorization"] = f"Bearer {token or k.token}"
    if body is not None:
        body = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def pod_spec(command, stdin=False, image="busybox", prefix="job-"):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": prefix},
            "spec": {"restartPolicy": "Never",
                     "containers": [{"name": "worker", "image": image, "command": command,
                                     "stdin": stdin, "stdinOnce": stdin}]}}


def create(k, spec, ns="default"):
    st, data = request(k, "POST", f"/api/v1/namespaces/{ns}/pods", spec)
    assert st == 201, data
    return json.loads(data)["metadata"]["name"]


def phase(k, name, ns="default"):
    return k.pods()[f"{ns}/{name}"]["status"]["phase"]


def test_tls_and_token_checks_answer_real_status_bodies(kube):
    st, data = request(kube, "GET", "/api/v1/namespaces/default/pods", token="")
    assert st == 401
    assert json.loads(data) == {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                "status": "Failure", "message": "Unauthorized",
                                "reason": "Unauthorized", "code": 401}
    st, data = request(kube, "GET", "/api/v1/namespaces/default/pods", token="nope")
    assert st == 401
    st, data = request(kube, "POST", "/api/v1/namespaces/kube-system/pods", pod_spec(["true"]))
    assert st == 403
    body = json.loads(data)
    assert body["reason"] == "Forbidden" and body["message"] == (
        'pods is forbidden: User "system:serviceaccount:awx:awx" cannot create resource "pods" '
        'in API group "" in the namespace "kube-system"')
    # the server's certificate is only trusted with its CA
    with pytest.raises(ssl.SSLError):
        c = http.client.HTTPSConnection("127.0.0.1", kube.port,
                                        context=ssl.create_default_context(), timeout=10)
        c.request("GET", "/version")
    st, data = request(kube, "GET", "/version")
    assert st == 200 and json.loads(data)["minor"] == "29"
    kube.faults(expire_tokens=[kube.token])
    assert request(kube, "GET", "/version")[0] == 401


def test_pod_runs_its_command_with_phases_watch_and_logs(kube):
    name = create(kube, pod_spec(["sh", "-c", "echo one; echo two; exit 3"]))
    assert name.startswith("job-") and len(name) == 9
    wait_for(lambda: phase(kube, name) == "Failed", 20, "pod end")
    pod = kube.pods()[f"default/{name}"]
    term = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 3 and term["reason"] == "Error"
    st, data = request(kube, "GET", f"/api/v1/namespaces/default/pods/{name}/log?container=worker")
    assert st == 200 and data == b"one\ntwo\n"
    st, data = request(kube, "GET", f"/api/v1/namespaces/default/pods/{name}/log?timestamps=true")
    lines = data.decode().splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["one", "two"]
    since = lines[1].split(" ", 1)[0]
    st, data = request(kube, "GET",
                       f"/api/v1/namespaces/default/pods/{name}/log?sinceTime={since}")
    assert data == b"two\n"
    st, data = request(kube, "GET", f"/api/v1/namespaces/default/pods?fieldSelector="
                       f"metadata.name%3D{name}")
    items = json.loads(data)["items"]
    assert [i["metadata"]["name"] for i in items] == [name]


def test_watch_events_and_410_gone(kube):
    kube.faults(watch_end_after=4)
    name = create(kube, pod_spec(["sh", "-c", "exit 0"]))
    wait_for(lambda: phase(kube, name) == "Succeeded", 20, "pod end")
    st, data = request(kube, "GET", "/api/v1/namespaces/default/pods?watch=1&resourceVersion=1"
                       f"&fieldSelector=metadata.name%3D{name}")
    events = [json.loads(x) for x in data.splitlines()]
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "MODIFIED", "MODIFIED"]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs) and len(set(rvs)) == 4
    kube.faults(watch_gone=1)
    st, data = request(kube, "GET", "/api/v1/namespaces/default/pods?watch=1")
    ev = json.loads(data)
    assert ev["type"] == "ERROR" and ev["object"]["code"] == 410 and \
        ev["object"]["reason"] == "Expired"


def test_delete_kills_the_container(kube):
    name = create(kube, pod_spec(["sleep", "60"]))
    wait_for(lambda: phase(kube, name) == "Running", 20, "running")
    st, _ = request(kube, "DELETE", f"/api/v1/namespaces/default/pods/{name}")
    assert st == 200 and f"default/{name}" not in kube.pods()
    st, data = request(kube, "GET", f"/api/v1/namespaces/default/pods/{name}")
    assert st == 404 and json.loads(data)["reason"] == "NotFound"


def test_image_pull_failure_and_unschedulable(kube):
    name = create(kube, pod_spec(["true"], image="bad/nonesuch:1"))
    reasons = set()

    def seen():
        cs = kube.pods()[f"default/{name}"]["status"].get("containerStatuses") or [{}]
        reasons.add(cs[0].get("state", {}).get("waiting", {}).get("reason"))
        return {"ErrImagePull", "ImagePullBackOff"} <= reasons
    wait_for(seen, 20, "pull failures")
    assert phase(kube, name) == "Pending"
    kube.faults(unschedulable=True)
    name = create(kube, pod_spec(["true"]))
    cond = wait_for(lambda: kube.pods()[f"default/{name}"]["status"].get("conditions"), 20, "cond")
    assert cond[0]["type"] == "PodScheduled" and cond[0]["reason"] == "Unschedulable"


def attach(kube, name, payload, protocols):
    import aiohttp

    async def go():
        ctx = ssl.create_default_context(cafile=kube.ca)
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(
                    f"{kube.url}/api/v1/namespaces/default/pods/{name}/attach"
                    "?container=worker&stdin=true", protocols=protocols, ssl=ctx,
                    headers={"Authorization": f"Bearer {kube.token}"}) as ws:
                for i in range(0, len(payload), 65536):
                    await ws.send_bytes(b"\0" + payload[i:i + 65536])
                if ws.protocol.startswith("v5"):
                    await ws.send_bytes(b"\xff\0")
                    await asyncio.sleep(0.2)
                return ws.protocol
    return asyncio.run(go())


@pytest.mark.parametrize("protocols,want", [
    (("v5.channel.k8s.io", "v4.channel.k8s.io"), "v5.channel.k8s.io"),
    (("v4.channel.k8s.io",), "v4.channel.k8s.io")])
def test_attach_feeds_stdin_and_log_follow_streams_output(kube, protocols, want):
    name = create(kube, pod_spec(["sh", "-c", "sha256sum; echo done"], stdin=True))
    wait_for(lambda: phase(kube, name) == "Running", 20, "running")
    payload = os.urandom(300000)
    assert attach(kube, name, payload, protocols) == want
    st, data = request(kube, "GET",
                       f"/api/v1/namespaces/default/pods/{name}/log?follow=true&container=worker")
    import hashlib
    assert data == f"{hashlib.sha256(payload).hexdigest()}  -\ndone\n".encode()
    wait_for(lambda: phase(kube, name) == "Succeeded", 20, "end")


def test_log_stream_cut_fault(kube):
    name = create(kube, pod_spec(["sh", "-c", "for i in 1 2 3 4 5 6 7 8; do echo line$i; done"]))
    wait_for(lambda: phase(kube, name) == "Succeeded", 20, "end")
    kube.faults(cut_log_after=12)
    st, data = request(kube, "GET", f"/api/v1/namespaces/default/pods/{name}/log?follow=true")
    assert data == b"line1\nline2\n"
    assert kube.state()["counters"]["log_requests"] == 1


def test_client_certificate_user(kube):
    crt, key = kube.add_cert_user("alice", ["team"])
    ctx = ssl.create_default_context(cafile=kube.ca)
    ctx.load_cert_chain(crt, key)
    c = http.client.HTTPSConnection("127.0.0.1", kube.port, context=ctx, timeout=30)
    c.request("GET", "/api/v1/namespaces/team/pods")
    r = c.getresponse()
    assert r.status == 200, r.read()
    r.read()
    c.request("GET", "/api/v1/namespaces/default/pods")
    r = c.getresponse()
    assert r.status == 403 and 'User "alice"' in json.loads(r.read())["message"]
    c.close()
    text = kube.kubeconfig(namespace="awx")
    assert base64.b64encode(open(kube.ca, "rb").read()).decode() in text
    assert time.time()


def dockerconfig_secret(name, auths, ns="default"):
    text = json.dumps({"auths": auths}).encode()
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns},
            "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": base64.b64encode(text).decode()}}


def test_secrets_create_get_replace_delete_as_the_api(kube):
    p = "/api/v1/namespaces/default/secrets"
    s = dockerconfig_secret("pull", {"reg.test:5000": {"auth": base64.b64encode(b"u:p").decode()}})
    st, data = request(kube, "POST", p, s)
    assert st == 201, data
    made = json.loads(data)
    assert made["type"] == "kubernetes.io/dockerconfigjson" and made["metadata"]["uid"]
    st, data = request(kube, "POST", p, s)
    assert st == 409
    assert json.loads(data) == {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                "status": "Failure", "message": 'secrets "pull" already exists',
                                "reason": "AlreadyExists", "code": 409,
                                "details": {"name": "pull", "kind": "secrets"}}
    st, data = request(kube, "GET", p + "/pull")
    assert st == 200 and json.loads(data)["data"] == s["data"]
    s2 = dockerconfig_secret("pull", {"reg.test:5000": {"username": "u", "password": "q"}})
    st, data = request(kube, "PUT", p + "/pull", s2)
    assert st == 200 and json.loads(data)["metadata"]["uid"] == made["metadata"]["uid"], data
    st, data = request(kube, "PUT", p + "/other", s2)
    assert st == 400  # the name in the body is not the URL's
    st, data = request(kube, "PUT", p + "/pull", dict(s2, type="Opaque"))
    assert st == 422 and b"field is immutable" in data
    # the API server's checks: a DNS-1123 name, base64 data, a docker config that is JSON
    st, data = request(kube, "POST", p, dockerconfig_secret("Bad_Name", {}))
    assert st == 422 and json.loads(data)["reason"] == "Invalid"
    bad = dockerconfig_secret("x", {})
    bad["data"][".dockerconfigjson"] = base64.b64encode(b"{not json").decode()
    st, data = request(kube, "POST", p, bad)
    assert st == 422 and b"data[.dockerconfigjson]" in data
    bad["data"][".dockerconfigjson"] = "%%%"
    st, data = request(kube, "POST", p, bad)
    assert st == 400
    st, data = request(kube, "DELETE", p + "/pull")
    assert st == 200 and json.loads(data)["status"] == "Success"
    st, data = request(kube, "GET", p + "/pull")
    assert st == 404 and json.loads(data)["message"] == 'secrets "pull" not found'
    # a service account whose role has no rules for secrets
    kube.add_token("pods-only", "system:serviceaccount:default:jobs", ["default"], ["pods"])
    st, data = request(kube, "POST", p, s, token="pods-only")
    assert st == 403 and json.loads(data)["message"].startswith(
        'secrets is forbidden: User "system:serviceaccount:default:jobs" cannot create resource '
        '"secrets"')
    st, data = request(kube, "POST", "/api/v1/namespaces/default/pods", pod_spec(["true"]),
                       token="pods-only")
    assert st == 201


def test_kubelet_pulls_with_the_pods_image_pull_secrets(kube):
    """A private registry's image pulls only with matching credentials from
    the pod's imagePullSecrets; a missing secret or other credentials give
    ErrImagePull."""
    kube.faults(registry={"host": "reg.test:5000", "username": "u", "password": "p"})
    p = "/api/v1/namespaces/default/secrets"
    tok = base64.b64encode(b"u:p").decode()
    for name, auths in (("right", {"https://reg.test:5000/v1/": {"auth": tok}}),
                        ("plain", {"reg.test:5000/team": {"username": "u", "password": "p"}}),
                        ("wrong", {"reg.test:5000": {"auth": base64.b64encode(b"u:x").decode()}}),
                        ("elsewhere", {"other.test": {"auth": tok}})):
        st, data = request(kube, "POST", p, dockerconfig_secret(name, auths))
        assert st == 201, data

    def run(secrets):
        spec = pod_spec(["true"], image="reg.test:5000/team/ee:1")
        spec["spec"]["imagePullSecrets"] = [{"name": n} for n in secrets]
        return create(kube, spec)

    good = [run(["right"]), run(["missing", "plain"]), run(["wrong", "right"])]
    bad = [run([]), run(["wrong"]), run(["elsewhere", "missing"])]
    for name in good:
        wait_for(lambda: phase(kube, name) == "Succeeded", 20, f"{name} ran")

    def waiting(name):
        st = kube.pods()[f"default/{name}"]["status"].get("containerStatuses") or [{}]
        return st[0].get("state", {}).get("waiting", {}).get("reason")
    for name in bad:
        wait_for(lambda: waiting(name) in ("ErrImagePull", "ImagePullBackOff"), 20,
                 f"{name} cannot pull")
        assert phase(kube, name) == "Pending"
