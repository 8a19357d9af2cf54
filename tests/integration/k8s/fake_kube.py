#!/usr/bin/python3
"""fake_kube.py - a test Kubernetes API server for receptor-c's kubernetes work.

No cluster can run on the test machines, so this server plays one, as close
to the real API (Kubernetes API reference, core/v1) as the tests need.  What
each part models:

* TLS: its own CA and a server certificate for 127.0.0.1/localhost, as a
  cluster's API server has (the CA goes into kubeconfig's
  certificate-authority(-data) or the service-account ca.crt).  Client
  certificates signed by that CA authenticate as their CN (kubeconfig
  client-certificate(-data)/client-key(-data)).
* Authentication and authorization: `Authorization: Bearer <token>` checked
  against the tokens the test made; no or unknown or expired token -> 401
  with a real `Status` body (reason Unauthorized); a known user acting outside
  its namespaces -> 403 with the API server's "pods is forbidden: User ...
  cannot <verb> resource ..." message (reason Forbidden).
* Pods (core/v1): create (generateName gets 5 random characters), get, delete
  (MODIFIED with deletionTimestamp, then DELETED), list and watch with
  `fieldSelector=metadata.name=<name>`, `resourceVersion` and
  `watch=1` (chunked JSON lines of {"type": ADDED|MODIFIED|DELETED|ERROR,
  "object": ...}); one global resourceVersion counter as etcd's revision.
  A watch from a compacted resourceVersion gets an ERROR event with a 410
  `Expired` Status, as a real watch does.
* The kubelet: a pod goes Pending (PodScheduled, then container waiting
  ContainerCreating) -> Running (container running, Ready condition True) ->
  Succeeded/Failed (container terminated with exitCode and reason
  Completed/Error).  The container named `worker` REALLY RUNS: its command +
  args from the pod spec run as a plain local process (the image is not
  pulled; an image whose name starts with `bad/` fails to pull: waiting
  ErrImagePull, then ImagePullBackOff, as the kubelet reports it).  stdout
  and stderr become the container log, one timestamp per line, as the
  kubelet's CRI log does.
* pods/log: `container`, `follow`, `timestamps` (RFC 3339 with nanoseconds
  and a space before the line), `sinceTime` (lines at or after it, as the
  kubelet filters).  Without follow the log so far; with follow the stream
  ends when the container has terminated and its output is drained.
* pods/attach: WebSocket with the `v5.channel.k8s.io` subprotocol (channel 0
  stdin, channel 255 the close signal: [255, 0] closes stdin) or, when the
  client offers no v5, `v4.channel.k8s.io` (stdin ends when the connection
  closes).  With stdinOnce the container's stdin closes when the first
  attach ends, as the kubelet does.
* Secrets (core/v1): create (POST; 409 AlreadyExists with the API's Status
  body), get, replace (PUT; 404 when missing, type immutable) and delete,
  with the API server's checks: a DNS-1123 subdomain name, data values that
  are base64, stringData merged into data, and for type
  kubernetes.io/dockerconfigjson a data[.dockerconfigjson] that is JSON.
  Bearer tokens may be limited to some resources (a service account whose
  role has no rules for secrets gets 403 on them).
* Image pulls with imagePullSecrets: the kubelet looks up each secret the
  pod names in its namespace (a missing one is skipped, as the kubelet only
  warns), decodes .dockerconfigjson and uses the `auths` entries that match
  the image's registry (host[:port], then a path prefix; `auth` is
  base64 user:password, or `username`/`password`), as the kubelet's keyring
  does; without a match it pulls anonymously.
* GET /version: a 1.29 server (upstream decides log reconnect support from
  it).

Fault injection, set by the test over the admin port (plain HTTP on
127.0.0.1, POST /faults with a JSON object; GET /state for pods and
counters):
  cut_log_after: N     every pods/log response is cut after N bytes
  watch_gone: K        the next K watch requests get a 410 ERROR event
  watch_end_after: N   watches end after N events (the server's timeout)
  schedule_delay: s    seconds before a pod is scheduled (a slow scheduler)
  unschedulable: bool  pods stay Pending: PodScheduled False, Unschedulable
  expire_tokens: [..]  these tokens answer 401 from now on
  huge_watch_event: N  watches send one event N bytes long that never ends
  truncated_create: b  pod creation answers 201 with the JSON cut off
  slow_delete: s       pod deletion answers after s seconds
  attach_v4_only: bool attach offers only v4.channel.k8s.io (a server before 1.30)
  garbage_ws: bool     attach takes stdin and the client's close, then answers with
                       bytes that are no WebSocket frames
  image_path: DIR      DIR comes first in the containers' PATH (the image's PATH: the
                       tests put an `ansible-runner` there to choose which one the EE has)
  registry: {"host": "h:port", "username": u, "password": p}
                       a private registry (without podman): an image from host
                       pulls only with these credentials from the pod's
                       imagePullSecrets, else ErrImagePull (401 Unauthorized)
  podman: {"env": {...}, "tls_verify": false}
                       the kubelet runs containers with podman instead: it pulls the
                       image from its registry with the credentials of the pod's
                       imagePullSecrets (none: anonymously; an auth file of its own,
                       so no login of the host's is used; a pull error is
                       ErrImagePull then ImagePullBackOff with podman's message),
                       runs it with `podman run
                       --rm -i` in WORKDIR /runner (the AWX EE's; a fresh directory per pod
                       mounted there), the container's env
                       as -e, stdout+stderr as the log; deleting the pod removes the
                       container.  env: podman's own settings (CONTAINERS_CONF, ...)

The EE image's /runner: a container's command and args run as given, on the
host's filesystem, except that an argument naming /runner (or a path under it,
alone or after `=`, as in `--private-data-dir=/runner`) is rewritten to a
fresh directory of that pod, DIR/pods/<namespace>_<name>/runner: the AWX EE
image has /runner as its WORKDIR, and every pod starts from a clean image.

Run: fake_kube.py --dir DIR.  It writes DIR/ca.crt, DIR/ca.key, DIR/token
(a valid token for user "tester", namespaces default and awx), and, once
listening, DIR/ports.json {"api": port, "admin": port}.
"""
import argparse
import asyncio
import base64
import binascii
import datetime
import json
import os
import random
import re
import signal
import ssl
import string
import subprocess
import sys

from aiohttp import web, WSMsgType

# ---- certificates --------------------------------------------------------------------------


def run(*args):
    subprocess.run(args, check=True, capture_output=True)


def make_pki(d):
    ca, cakey = os.path.join(d, "ca.crt"), os.path.join(d, "ca.key")
    srv, srvkey = os.path.join(d, "server.crt"), os.path.join(d, "server.key")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run("openssl", "req", "-x509", *ec, "-keyout", cakey, "-out", ca, "-days", "2",
        "-subj", "/CN=fake-kube-ca")
    run("openssl", "req", *ec, "-keyout", srvkey, "-out", srv + ".csr", "-subj", "/CN=kube-apiserver")
    ext = os.path.join(d, "san.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\n")
    run("openssl", "x509", "-req", "-in", srv + ".csr", "-CA", ca, "-CAkey", cakey,
        "-CAcreateserial", "-out", srv, "-days", "2", "-extfile", ext)
    return ca, srv, srvkey


def make_client_cert(d, name):
    """A client certificate for user name, signed by the server's CA."""
    key, crt = os.path.join(d, name + ".key"), os.path.join(d, name + ".crt")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", key, "-out", crt + ".csr", "-subj", "/CN=" + name)
    run("openssl", "x509", "-req", "-in", crt + ".csr", "-CA", os.path.join(d, "ca.crt"),
        "-CAkey", os.path.join(d, "ca.key"), "-CAcreateserial", "-out", crt, "-days", "2")
    return crt, key


# ---- API objects ---------------------------------------------------------------------------


def now_rfc3339(nano=False):
    t = datetime.datetime.now(datetime.timezone.utc)
    if nano:
        return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}000Z"
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(s):
    s = s.rstrip("Z")
    if "." in s:
        base, frac = s.split(".", 1)
        frac = (frac + "000000")[:6]
        s = base + "." + frac
        fmt = "%Y-%m-%dT%H:%M:%S.%f"
    else:
        fmt = "%Y-%m-%dT%H:%M:%S"
    return datetime.datetime.strptime(s, fmt).replace(tzinfo=datetime.timezone.utc)


def status_body(code, reason, message, details=None):
    b = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
         "message": message, "reason": reason, "code": code}
    if details:
        b["details"] = details
    return b


def api_error(code, reason, message, details=None):
    return web.json_response(status_body(code, reason, message, details), status=code)


DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def secret_checked(obj, ns, url_name=None):
    """The Secret the API server would store from a request body, or the
    error response it gives (the apiserver's decoding and validation)."""
    if not isinstance(obj, dict) or obj.get("kind", "Secret") != "Secret":
        return None, api_error(400, "BadRequest", "the object provided is unrecognized "
                               "(the kind is not Secret)")
    meta = obj.setdefault("metadata", {})
    if not isinstance(meta, dict):
        return None, api_error(400, "BadRequest", "the object provided is unrecognized or invalid")
    if meta.get("namespace", ns) != ns:
        return None, api_error(400, "BadRequest", "the namespace of the provided object does not "
                               "match the namespace sent on the request")
    name = meta.get("name") or ""
    if url_name is not None and name != url_name:
        return None, api_error(400, "BadRequest", f"the name of the object ({name}) does not "
                               f"match the name on the URL ({url_name})")
    if not name:
        return None, api_error(422, "Invalid", 'Secret "" is invalid: metadata.name: Required '
                               "value: name or generateName is required")
    if len(name) > 253 or not DNS1123_SUBDOMAIN.fullmatch(name):
        return None, api_error(422, "Invalid", f'Secret "{name}" is invalid: metadata.name: '
                               f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must '
                               "consist of lower case alphanumeric characters, '-' or '.', and "
                               "must start and end with an alphanumeric character",
                               {"name": name, "kind": "Secret"})
    data = obj.get("data") or {}
    if not isinstance(data, dict):
        return None, api_error(400, "BadRequest", 'Secret in version "v1" cannot be handled as '
                               "a Secret: data must be a mapping")
    for k, v in data.items():
        try:
            base64.b64decode(v if isinstance(v, str) else "!", validate=True)
        except (binascii.Error, ValueError):
            return None, api_error(400, "BadRequest", 'Secret in version "v1" cannot be handled '
                                   f"as a Secret: illegal base64 data in data[{k}]")
    for k, v in (obj.pop("stringData", None) or {}).items():
        data[k] = base64.b64encode(str(v).encode()).decode()
    obj["data"] = data
    obj["type"] = obj.get("type") or "Opaque"
    if obj["type"] == "kubernetes.io/dockerconfigjson":
        raw = data.get(".dockerconfigjson")
        why = "Required value" if raw is None else None
        if raw is not None:
            try:
                json.loads(base64.b64decode(raw))
            except ValueError as e:
                why = f'Invalid value: "<secret contents redacted>": {e}'
        if why:
            return None, api_error(422, "Invalid", f'Secret "{name}" is invalid: '
                                   f"data[.dockerconfigjson]: {why}",
                                   {"name": name, "kind": "Secret"})
    obj.update({"kind": "Secret", "apiVersion": "v1"})
    return obj, None


def image_registry(image):
    """(registry host[:port], repository path) of an image reference, as the
    kubelet's keyring splits it (no registry part: docker.io)."""
    ref = image.split("@", 1)[0]
    first, _, rest = ref.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        host, path = first, rest
    else:
        host, path = "docker.io", ref
    last = path.rsplit("/", 1)
    if ":" in last[-1]:
        path = path[: path.rfind(":")]
    return host, path


def dockerconfig_credentials(text, image):
    """The (username, password) pairs of a .dockerconfigjson that apply to
    image: the `auths` keys are URLs or host[:port][/path]; a key matches
    when its host is the image's registry and its path a prefix of the
    image's repository (index.docker.io and docker.io are the same)."""
    try:
        auths = json.loads(text).get("auths") or {}
    except (ValueError, AttributeError):
        return []
    host, path = image_registry(image)
    alias = {"index.docker.io": "docker.io", "registry-1.docker.io": "docker.io"}
    out = []
    for key, entry in auths.items() if isinstance(auths, dict) else ():
        k = re.sub(r"^[a-z]+://", "", key).rstrip("/")
        khost, _, kpath = k.partition("/")
        if alias.get(khost, khost) != alias.get(host, host):
            continue
        if kpath and kpath not in ("v1", "v2") and not (path == kpath or path.startswith(kpath + "/")):
            continue
        if not isinstance(entry, dict):
            continue
        user, pw = entry.get("username"), entry.get("password")
        if entry.get("auth"):
            try:
                user, _, pw = base64.b64decode(entry["auth"]).decode().partition(":")
            except (binascii.Error, ValueError):
                continue
        if user is not None and pw is not None:
            out.append((user, pw))
    return out


class Pod:
    def __init__(self, server, ns, obj):
        self.server = server
        self.ns = ns
        self.obj = obj
        self.proc = None
        self.container = None     # podman mode: the container's name
        self.log = []            # (timestamp text, datetime, bytes of one line incl. newline)
        self.log_changed = asyncio.Event()
        self.terminated = False
        self.stdin_open = True
        self.attached = False
        self.task = None

    @property
    def name(self):
        return self.obj["metadata"]["name"]

    def worker(self):
        return next((c for c in self.obj["spec"]["containers"] if c["name"] == "worker"),
                    self.obj["spec"]["containers"][0])

    def set_status(self, phase, cstate, ready=False, scheduled=True, sched_reason=None,
                   sched_message=None):
        c = self.worker()
        st = self.obj["status"]
        st["phase"] = phase
        conds = [{"type": "PodScheduled", "status": "True" if scheduled else "False",
                  "lastTransitionTime": now_rfc3339()}]
        if sched_reason:
            conds[0]["reason"] = sched_reason
            conds[0]["message"] = sched_message
        if scheduled:
            for t in ("Initialized", "ContainersReady", "Ready"):
                conds.append({"type": t, "status": "True" if ready or t == "Initialized"
                              else "False", "lastTransitionTime": now_rfc3339()})
            st["containerStatuses"] = [{"name": c["name"], "image": c.get("image", ""),
                                        "ready": ready, "restartCount": 0, "state": cstate}]
        st["conditions"] = conds
        self.server.modified(self)


# ---- the server ----------------------------------------------------------------------------


class FakeKube:
    def __init__(self, d):
        self.dir = d
        self.rv = 1000
        self.pods = {}            # (ns, name) -> Pod
        self.secrets = {}         # (ns, name) -> Secret object
        self.history = []         # (rv, type, ns, name, object copy)
        self.watchers = set()
        self.faults = {}
        self.counters = {"log_requests": 0, "watch_requests": 0, "attach_requests": 0,
                         "creates": 0, "deletes": 0, "unauthorized": 0, "forbidden": 0,
                         "secret_creates": 0, "secret_replaces": 0, "secret_deletes": 0,
                         "secret_gets": 0}
        self.tokens = {}          # token -> (user, namespaces[, resources or None: all])
        self.users = {}           # client-cert CN -> namespaces

    # ---- bookkeeping
    def next_rv(self):
        self.rv += 1
        return str(self.rv)

    def event(self, kind, pod):
        rv = self.next_rv()
        pod.obj["metadata"]["resourceVersion"] = rv
        obj = json.loads(json.dumps(pod.obj))
        self.history.append((int(rv), kind, pod.ns, pod.name, obj))
        del self.history[:-1000]
        for w in list(self.watchers):
            w.put_nowait((int(rv), kind, pod.ns, pod.name, obj))

    def modified(self, pod):
        if (pod.ns, pod.name) in self.pods:
            self.event("MODIFIED", pod)

    # ---- auth
    def authenticate(self, request):
        """(user, namespaces) or a 401 response."""
        auth = request.headers.get("Authorization", "")
        expired = set(self.faults.get("expire_tokens", []))
        if auth.startswith("Bearer "):
            tok = auth[7:].strip()
            if tok in self.tokens and tok not in expired:
                return self.tokens[tok]
        elif not auth:
            peer = request.transport.get_extra_info("peercert") if request.transport else None
            if peer:
                cn = dict(x[0] for x in peer.get("subject", ())).get("commonName")
                if cn in self.users:
                    return cn, self.users[cn]
        self.counters["unauthorized"] += 1
        return api_error(401, "Unauthorized", "Unauthorized")

    def authorize(self, who, verb, ns, resource="pods"):
        user, namespaces = who[0], who[1]
        resources = who[2] if len(who) > 2 else None
        if ns in namespaces and (resources is None or resource in resources):
            return None
        self.counters["forbidden"] += 1
        return api_error(403, "Forbidden",
                         f'{resource} is forbidden: User "{user}" cannot {verb} resource '
                         f'"{resource}" in API group "" in the namespace "{ns}"',
                         {"kind": resource})

    def guard(self, request, verb, resource="pods"):
        who = self.authenticate(request)
        if isinstance(who, web.Response):
            return who
        return self.authorize(who, verb, request.match_info["ns"], resource)

    # ---- pods
    async def create_pod(self, request):
        deny = self.guard(request, "create")
        if deny is not None:
            return deny
        ns = request.match_info["ns"]
        try:
            obj = json.loads(await request.read())
            assert isinstance(obj, dict) and obj.get("kind", "Pod") == "Pod"
            containers = obj["spec"]["containers"]
            assert isinstance(containers, list) and containers
        except (ValueError, KeyError, TypeError, AssertionError):
            return api_error(400, "BadRequest", "the object provided is unrecognized or invalid")
        meta = obj.setdefault("metadata", {})
        if meta.get("namespace", ns) != ns:
            return api_error(400, "BadRequest",
                             "the namespace of the provided object does not match the namespace "
                             "sent on the request")
        name = meta.get("name")
        if not name:
            gen = meta.get("generateName")
            if not gen:
                return api_error(422, "Invalid", 'Pod "" is invalid: metadata.name: Required value: '
                                 "name or generateName is required")
            name = gen + "".join(random.choice(string.ascii_lowercase + string.digits)
                                 for _ in range(5))
        if (ns, name) in self.pods:
            return api_error(409, "AlreadyExists", f'pods "{name}" already exists',
                             {"name": name, "kind": "pods"})
        meta.update({"name": name, "namespace": ns, "uid": "%032x" % random.getrandbits(128),
                     "creationTimestamp": now_rfc3339()})
        obj.update({"kind": "Pod", "apiVersion": "v1", "status": {"phase": "Pending",
                                                                     "qosClass": "BestEffort"}})
        pod = Pod(self, ns, obj)
        self.pods[(ns, name)] = pod
        self.counters["creates"] += 1
        self.event("ADDED", pod)
        pod.task = asyncio.ensure_future(self.kubelet(pod))
        if self.faults.get("truncated_create"):
            return web.Response(status=201, body=json.dumps(obj).encode()[:40],
                                content_type="application/json")
        return web.json_response(obj, status=201)

    def find(self, request):
        ns, name = request.match_info["ns"], request.match_info["name"]
        pod = self.pods.get((ns, name))
        if not pod:
            return None, api_error(404, "NotFound", f'pods "{name}" not found',
                                   {"name": name, "kind": "pods"})
        return pod, None

    async def get_pod(self, request):
        deny = self.guard(request, "get")
        if deny is not None:
            return deny
        pod, err = self.find(request)
        return err if err is not None else web.json_response(pod.obj)

    async def delete_pod(self, request):
        deny = self.guard(request, "delete")
        if deny is not None:
            return deny
        await asyncio.sleep(float(self.faults.get("slow_delete", 0)))
        pod, err = self.find(request)
        if err is not None:
            return err
        self.counters["deletes"] += 1
        pod.obj["metadata"]["deletionTimestamp"] = now_rfc3339()
        pod.obj["metadata"]["deletionGracePeriodSeconds"] = 0
        self.event("MODIFIED", pod)
        self.kill(pod)
        del self.pods[(pod.ns, pod.name)]
        self.event("DELETED", pod)
        return web.json_response(pod.obj)

    # ---- secrets
    def secret_response(self, obj, status=200):
        return web.json_response(obj, status=status)

    async def secret_body(self, request):
        try:
            return json.loads(await request.read()), None
        except ValueError:
            return None, api_error(400, "BadRequest", 'Secret in version "v1" cannot be handled '
                                   "as a Secret: the body is not JSON")

    def secret_not_found(self, name):
        return api_error(404, "NotFound", f'secrets "{name}" not found',
                         {"name": name, "kind": "secrets"})

    async def create_secret(self, request):
        deny = self.guard(request, "create", "secrets")
        if deny is not None:
            return deny
        ns = request.match_info["ns"]
        obj, err = await self.secret_body(request)
        if err is None:
            obj, err = secret_checked(obj, ns)
        if err is not None:
            return err
        name = obj["metadata"]["name"]
        if (ns, name) in self.secrets:
            return api_error(409, "AlreadyExists", f'secrets "{name}" already exists',
                             {"name": name, "kind": "secrets"})
        obj["metadata"].update({"namespace": ns, "uid": "%032x" % random.getrandbits(128),
                                "creationTimestamp": now_rfc3339(),
                                "resourceVersion": self.next_rv()})
        self.secrets[(ns, name)] = obj
        self.counters["secret_creates"] += 1
        return self.secret_response(obj, 201)

    async def get_secret(self, request):
        deny = self.guard(request, "get", "secrets")
        if deny is not None:
            return deny
        ns, name = request.match_info["ns"], request.match_info["name"]
        self.counters["secret_gets"] += 1
        obj = self.secrets.get((ns, name))
        return self.secret_response(obj) if obj is not None else self.secret_not_found(name)

    async def replace_secret(self, request):
        deny = self.guard(request, "update", "secrets")
        if deny is not None:
            return deny
        ns, name = request.match_info["ns"], request.match_info["name"]
        obj, err = await self.secret_body(request)
        if err is None:
            obj, err = secret_checked(obj, ns, url_name=name)
        if err is not None:
            return err
        old = self.secrets.get((ns, name))
        if old is None:
            return self.secret_not_found(name)
        rv = obj["metadata"].get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            return api_error(409, "Conflict", f'Operation cannot be fulfilled on secrets "{name}": '
                             "the object has been modified; please apply your changes to the "
                             "latest version and try again", {"name": name, "kind": "secrets"})
        if obj["type"] != old["type"]:
            return api_error(422, "Invalid", f'Secret "{name}" is invalid: type: Invalid value: '
                             f'"{obj["type"]}": field is immutable', {"name": name, "kind": "Secret"})
        for k in ("uid", "creationTimestamp"):
            obj["metadata"][k] = old["metadata"][k]
        obj["metadata"].update({"namespace": ns, "resourceVersion": self.next_rv()})
        self.secrets[(ns, name)] = obj
        self.counters["secret_replaces"] += 1
        return self.secret_response(obj)

    async def delete_secret(self, request):
        deny = self.guard(request, "delete", "secrets")
        if deny is not None:
            return deny
        ns, name = request.match_info["ns"], request.match_info["name"]
        obj = self.secrets.pop((ns, name), None)
        if obj is None:
            return self.secret_not_found(name)
        self.counters["secret_deletes"] += 1
        return web.json_response({"kind": "Status", "apiVersion": "v1", "metadata": {},
                                  "status": "Success", "details": {
                                      "name": name, "kind": "secrets",
                                      "uid": obj["metadata"]["uid"]}})

    def pull_credentials(self, pod, image):
        """What the kubelet pulls image with: the matching credentials of
        the pod's imagePullSecrets, in order (a secret that does not exist
        or is not a docker config is skipped)."""
        creds = []
        for ref in pod.obj["spec"].get("imagePullSecrets") or []:
            sec = self.secrets.get((pod.ns, (ref or {}).get("name")))
            if not sec or sec.get("type") not in ("kubernetes.io/dockerconfigjson",
                                                  "kubernetes.io/dockercfg"):
                continue
            data = sec.get("data") or {}
            if ".dockerconfigjson" in data:
                text = base64.b64decode(data[".dockerconfigjson"])
            elif ".dockercfg" in data:  # the old format: the auths mapping alone
                text = b'{"auths": ' + base64.b64decode(data[".dockercfg"]) + b"}"
            else:
                continue
            creds += [c for c in dockerconfig_credentials(text, image) if c not in creds]
        return creds

    def kill(self, pod):
        if getattr(pod, "container", None) and self.faults.get("podman"):
            # the podman client is not the container: remove the container itself
            subprocess.Popen(["podman", "rm", "-f", "-t", "0", pod.container],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env=self.podman_env(self.faults["podman"]))
        if pod.proc and pod.proc.returncode is None:
            try:
                pod.proc.kill()
            except ProcessLookupError:
                pass
        if pod.task:
            pod.task.cancel()
        pod.terminated = True
        pod.log_changed.set()

    async def list_pods(self, request):
        deny = self.guard(request, "list" if request.query.get("watch") not in ("1", "true")
                          else "watch")
        if deny is not None:
            return deny
        ns = request.match_info["ns"]
        want = None
        sel = request.query.get("fieldSelector", "")
        if sel:
            if not sel.startswith("metadata.name="):
                return api_error(400, "BadRequest", f'"{sel}" is not a known field selector: '
                                 'only "metadata.name", "metadata.namespace"')
            want = sel.split("=", 1)[1]
        if request.query.get("watch") in ("1", "true"):
            return await self.watch(request, ns, want)
        items = [p.obj for (n, name), p in sorted(self.pods.items())
                 if n == ns and (want is None or name == want)]
        return web.json_response({"kind": "PodList", "apiVersion": "v1",
                                  "metadata": {"resourceVersion": str(self.rv)}, "items": items})

    async def watch(self, request, ns, want):
        self.counters["watch_requests"] += 1
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)

        async def send(kind, obj):
            await resp.write(json.dumps({"type": kind, "object": obj}).encode() + b"\n")

        if self.faults.get("watch_gone", 0) > 0:
            self.faults["watch_gone"] -= 1
            await send("ERROR", status_body(410, "Expired", "too old resource version: "
                                            f"{request.query.get('resourceVersion', '0')} "
                                            f"({self.rv})"))
            return resp
        if self.faults.get("huge_watch_event"):
            # an event that never ends: {"type":"MODIFIED","object":{"x":"xxxx...
            await resp.write(b'{"type":"MODIFIED","object":{"x":"')
            for _ in range(int(self.faults["huge_watch_event"]) // 65536):
                await resp.write(b"x" * 65536)
            return resp
        q = asyncio.Queue()
        self.watchers.add(q)
        sent = 0
        limit = self.faults.get("watch_end_after")
        try:
            since = request.query.get("resourceVersion", "")
            if since and since != "0":
                for ev in self.history:
                    if ev[0] > int(since):
                        q.put_nowait(ev)
            else:  # "0" or unset: synthetic ADDED events for what exists now
                for (n, name), p in sorted(self.pods.items()):
                    if n == ns and (want is None or name == want):
                        q.put_nowait((self.rv, "ADDED", n, name, json.loads(json.dumps(p.obj))))
            while limit is None or sent < limit:
                rv, kind, n, name, obj = await q.get()
                if n != ns or (want is not None and name != want):
                    continue
                await send(kind, obj)
                sent += 1
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.watchers.discard(q)
        return resp

    # ---- the kubelet
    async def kubelet(self, pod):
        delay = float(self.faults.get("schedule_delay", 0))
        while self.faults.get("unschedulable"):
            if pod.obj["status"].get("conditions") is None:
                pod.set_status("Pending", None, scheduled=False, sched_reason="Unschedulable",
                               sched_message="0/1 nodes are available: 1 Insufficient cpu. "
                               "preemption: 0/1 nodes are available: 1 No preemption victims "
                               "found for incoming pod.")
            await asyncio.sleep(0.1)
        if delay:
            await asyncio.sleep(delay)
        c = pod.worker()
        pod.set_status("Pending", {"waiting": {"reason": "ContainerCreating"}})
        await asyncio.sleep(0.05)
        if c.get("image", "").startswith("bad/"):
            await self.pull_failed(pod, c, f'rpc error: code = Unknown desc = failed to pull and '
                                   f'unpack image "{c["image"]}": not found')
            return
        reg = self.faults.get("registry")
        if reg and not self.faults.get("podman") and image_registry(c.get("image", ""))[0] == reg["host"]:
            if (reg["username"], reg["password"]) not in self.pull_credentials(pod, c["image"]):
                await self.pull_failed(pod, c, f'rpc error: code = Unknown desc = failed to pull and '
                                       f'unpack image "{c["image"]}": failed to resolve reference '
                                       f'"{c["image"]}": pull access denied, repository does not '
                                       "exist or may require authorization: authorization failed: "
                                       "401 Unauthorized")
                return
        if self.faults.get("podman"):
            await self.kubelet_podman(pod, c, self.faults["podman"])
            return
        argv = [self.in_image(pod, a) for a in
                list(c.get("command") or []) + list(c.get("args") or [])]
        if not argv:
            argv = ["/bin/true"]
        env = dict(os.environ)
        if self.faults.get("image_path"):
            env["PATH"] = self.faults["image_path"] + os.pathsep + env.get("PATH", "")
        for e in c.get("env") or []:
            env[e["name"]] = e.get("value", "")
        started = now_rfc3339()
        try:
            pod.proc = await asyncio.create_subprocess_exec(
                *argv, stdin=subprocess.PIPE if c.get("stdin") else subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=self.dir,
                start_new_session=True)
        except OSError as e:
            pod.set_status("Failed", {"terminated": {"exitCode": 128, "reason": "StartError",
                                                     "message": str(e)}})
            pod.terminated = True
            pod.log_changed.set()
            return
        await self.run_container(pod, c, started)

    async def pull_failed(self, pod, c, msg):
        """The kubelet's answer to a pull that failed: ErrImagePull with the
        runtime's message, then ImagePullBackOff, again and again."""
        for i in range(100):
            reason = "ErrImagePull" if i % 2 == 0 else "ImagePullBackOff"
            detail = msg if reason == "ErrImagePull" else f'Back-off pulling image "{c["image"]}"'
            pod.set_status("Pending", {"waiting": {"reason": reason, "message": detail}})
            await asyncio.sleep(0.2)

    async def run_container(self, pod, c, started):
        """The container is running as pod.proc: its output is the log, its
        exit the pod's end."""
        pod.set_status("Running", {"running": {"startedAt": started}}, ready=True)
        if not c.get("stdin"):
            pod.stdin_open = False
        partial = b""
        while True:
            chunk = await pod.proc.stdout.read(65536)
            if not chunk:
                break
            data = partial + chunk
            *lines, partial = data.split(b"\n")
            for line in lines:
                self.log_line(pod, line + b"\n")
        if partial:
            self.log_line(pod, partial)
        rc = await pod.proc.wait()
        pod.terminated = True
        pod.log_changed.set()
        pod.set_status("Succeeded" if rc == 0 else "Failed",
                       {"terminated": {"exitCode": rc, "reason": "Completed" if rc == 0 else "Error",
                                       "startedAt": started, "finishedAt": now_rfc3339()}})

    def podman_env(self, pm):
        env = dict(os.environ)
        env.update(pm.get("env") or {})
        return env

    async def kubelet_podman(self, pod, c, pm):
        """The worker container as a real container from its image."""
        env = self.podman_env(pm)
        poddir = os.path.join(self.dir, "pods", f"{pod.ns}_{pod.name}")
        os.makedirs(poddir, exist_ok=True)
        # the node has no login of its own: only the pod's secrets count
        authfile = os.path.join(poddir, "auth.json")
        with open(authfile, "w") as f:
            f.write('{"auths": {}}')
        pull = ["podman", "pull", "-q", "--authfile", authfile]
        if pm.get("tls_verify") is False:
            pull.append("--tls-verify=false")
        # as the kubelet: each matching credential in turn, else anonymously
        attempts = [["--creds", f"{u}:{p}"] for u, p in
                    self.pull_credentials(pod, c.get("image", ""))] or [[]]
        for creds in attempts:
            proc = await asyncio.create_subprocess_exec(*pull, *creds, c.get("image", ""),
                                                        stdout=subprocess.PIPE,
                                                        stderr=subprocess.PIPE, env=env)
            _, err = await proc.communicate()
            if proc.returncode == 0:
                break
        if proc.returncode != 0:
            msg = err.decode(errors="replace").strip().splitlines()
            await self.pull_failed(pod, c, msg[-1] if msg else
                                   f"podman pull exited {proc.returncode}")
            return
        pod.container = f"k8s_{pod.ns}_{pod.name}"
        # the AWX EE's WORKDIR /runner, fresh for every pod (as an image gives it)
        runner = os.path.join(poddir, "runner")
        os.makedirs(runner, exist_ok=True)
        # (podman gives containers TERM=xterm; a kubelet gives none without a tty)
        argv = ["podman", "run", "--rm", "--name", pod.container, "-v", f"{runner}:/runner",
                "-w", "/runner", "--unsetenv", "TERM"]
        if c.get("stdin"):
            argv.append("-i")
        for e in c.get("env") or []:
            argv += ["-e", f'{e["name"]}={e.get("value", "")}']
        argv.append(c["image"])
        argv += list(c.get("command") or []) + list(c.get("args") or [])
        started = now_rfc3339()
        pod.proc = await asyncio.create_subprocess_exec(
            *argv, stdin=subprocess.PIPE if c.get("stdin") else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        await self.run_container(pod, c, started)

    def in_image(self, pod, arg):
        """The container's filesystem is the host's, except the EE image's
        /runner (its WORKDIR, where AWX's `ansible-runner worker
        --private-data-dir=/runner` unpacks the job): each pod gets a fresh
        directory for it, and an argument naming /runner or a path under it
        (alone or after `=`) names that directory instead."""
        root = os.path.join(self.dir, "pods", f"{pod.ns}_{pod.name}", "runner")

        def sub(m):
            os.makedirs(root, exist_ok=True)
            return m.group(1) + root
        return re.sub(r"(^|=)/runner(?=/|$)", sub, arg)

    def log_line(self, pod, line):
        ts = now_rfc3339(nano=True)
        pod.log.append((ts, parse_time(ts), line))
        pod.log_changed.set()

    async def pod_log(self, request):
        deny = self.guard(request, "get", "pods/log")
        if deny is not None:
            return deny
        pod, err = self.find(request)
        if err is not None:
            return err
        self.counters["log_requests"] += 1
        want = request.query.get("container")
        names = [c["name"] for c in pod.obj["spec"]["containers"]]
        if want and want not in names:
            return api_error(400, "BadRequest", f"container {want} is not valid for pod {pod.name}")
        if pod.obj["status"].get("phase") == "Pending":
            return api_error(400, "BadRequest", f'container "{want or names[0]}" in pod '
                             f'"{pod.name}" is waiting to start: ContainerCreating')
        follow = request.query.get("follow") in ("true", "1")
        stamps = request.query.get("timestamps") in ("true", "1")
        since = request.query.get("sinceTime")
        since_t = parse_time(since) if since else None
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        budget = self.faults.get("cut_log_after")
        i = 0
        try:
            while True:
                while i < len(pod.log):
                    ts, t, line = pod.log[i]
                    i += 1
                    if since_t and t < since_t:
                        continue
                    out = (ts.encode() + b" " + line) if stamps else line
                    if budget is not None:
                        if budget <= 0:
                            return resp
                        out = out[:budget]
                        budget -= len(out)
                    await resp.write(out)
                if not follow or pod.terminated and i >= len(pod.log):
                    break
                pod.log_changed.clear()
                if i < len(pod.log):
                    continue
                await pod.log_changed.wait()
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return resp

    async def pod_attach(self, request):
        deny = self.guard(request, "create", "pods/attach")
        if deny is not None:
            return deny
        pod, err = self.find(request)
        if err is not None:
            return err
        self.counters["attach_requests"] += 1
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        known = ("v4.channel.k8s.io",) if self.faults.get("attach_v4_only") else \
            ("v5.channel.k8s.io", "v4.channel.k8s.io")  # a server older than 1.30 knows no v5
        proto = next((p for p in known if p in offered), None)
        if proto is None:
            return api_error(400, "BadRequest", "Upgrade request required" if not offered[0]
                             else "no supported websocket subprotocol offered")
        if pod.obj["status"].get("phase") != "Running":
            return api_error(400, "BadRequest",
                             "cannot attach to a container in a completed pod; current phase is "
                             + pod.obj["status"].get("phase", ""))
        garbage = self.faults.get("garbage_ws")
        ws = web.WebSocketResponse(protocols=(proto,), max_msg_size=16 << 20,
                                   autoclose=not garbage)
        await ws.prepare(request)
        if garbage:
            # the client's stdin and close are read (and dropped), then garbage
            # instead of the closing frame: the worst moment for a client
            async for msg in ws:
                if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                    break
            request.transport.write(b"\xff\xff garbage, not a websocket frame" * 10)
            await asyncio.sleep(0.5)
            request.transport.close()
            if pod.proc and pod.proc.stdin and pod.worker().get("stdinOnce"):
                pod.proc.stdin.close()  # the attach is over: stdinOnce closes stdin
            return ws
        stdin = pod.proc.stdin if pod.proc and pod.stdin_open else None
        try:
            async for msg in ws:
                if msg.type != WSMsgType.BINARY or not msg.data:
                    continue
                ch, data = msg.data[0], msg.data[1:]
                if ch == 0 and stdin:
                    stdin.write(data)
                    await stdin.drain()
                elif ch == 255 and proto.startswith("v5") and data[:1] == b"\0" and stdin:
                    stdin.close()
                    stdin = None
        except (ConnectionResetError, BrokenPipeError):
            pass
        finally:
            if stdin and pod.worker().get("stdinOnce"):
                stdin.close()
                pod.stdin_open = False
        return ws

    async def version(self, request):
        who = self.authenticate(request)
        if isinstance(who, web.Response):
            return who
        return web.json_response({"major": "1", "minor": "29", "gitVersion": "v1.29.0",
                                  "platform": "linux/amd64"})

    async def not_found(self, request):
        return api_error(404, "NotFound", "the server could not find the requested resource")

    # ---- admin
    async def admin_faults(self, request):
        self.faults.update(json.loads(await request.read()))
        return web.json_response(self.faults)

    async def admin_state(self, request):
        pods = {f"{ns}/{name}": p.obj for (ns, name), p in self.pods.items()}
        secrets = {f"{ns}/{name}": o for (ns, name), o in self.secrets.items()}
        return web.json_response({"pods": pods, "secrets": secrets, "counters": self.counters,
                                  "rv": self.rv})

    async def admin_token(self, request):
        body = json.loads(await request.read())
        self.tokens[body["token"]] = (body["user"], body["namespaces"], body.get("resources"))
        return web.json_response({})

    async def admin_user(self, request):
        body = json.loads(await request.read())
        self.users[body["user"]] = body["namespaces"]
        return web.json_response({})


async def main_async(d):
    ca, crt, key = make_pki(d)
    fk = FakeKube(d)
    token = "".join(random.choice(string.ascii_letters + string.digits) for _ in range(40))
    fk.tokens[token] = ("system:serviceaccount:awx:awx", ["default", "awx"])
    with open(os.path.join(d, "token"), "w") as f:
        f.write(token)
    api = web.Application(client_max_size=16 << 20)
    p = "/api/v1/namespaces/{ns}/pods"
    api.router.add_post(p, fk.create_pod)
    api.router.add_get(p, fk.list_pods)
    api.router.add_get(p + "/{name}", fk.get_pod)
    api.router.add_delete(p + "/{name}", fk.delete_pod)
    api.router.add_get(p + "/{name}/log", fk.pod_log)
    api.router.add_get(p + "/{name}/attach", fk.pod_attach)
    api.router.add_post(p + "/{name}/attach", fk.pod_attach)
    sp = "/api/v1/namespaces/{ns}/secrets"
    api.router.add_post(sp, fk.create_secret)
    api.router.add_get(sp + "/{name}", fk.get_secret)
    api.router.add_put(sp + "/{name}", fk.replace_secret)
    api.router.add_delete(sp + "/{name}", fk.delete_secret)
    api.router.add_get("/version", fk.version)
    api.router.add_route("*", "/{tail:.*}", fk.not_found)
    admin = web.Application()
    admin.router.add_post("/faults", fk.admin_faults)
    admin.router.add_get("/state", fk.admin_state)
    admin.router.add_post("/token", fk.admin_token)
    admin.router.add_post("/user", fk.admin_user)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(crt, key)
    ctx.load_verify_locations(ca)
    ctx.verify_mode = ssl.CERT_OPTIONAL
    runners = []
    ports = {}
    for name, app, sslctx in (("api", api, ctx), ("admin", admin, None)):
        r = web.AppRunner(app, access_log=None)
        await r.setup()
        site = web.TCPSite(r, "127.0.0.1", 0, ssl_context=sslctx)
        await site.start()
        ports[name] = site._server.sockets[0].getsockname()[1]
        runners.append(r)
    tmp = os.path.join(d, "ports.json.tmp")
    with open(tmp, "w") as f:
        json.dump(ports, f)
    os.rename(tmp, os.path.join(d, "ports.json"))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    await stop.wait()
    for p in list(fk.pods.values()):
        fk.kill(p)
    for r in runners:
        await r.cleanup()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    a = ap.parse_args()
    asyncio.run(main_async(a.dir))


if __name__ == "__main__":
    sys.exit(main())
