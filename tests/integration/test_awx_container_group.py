"""AWX's container-group flow end to end (issue 11): `ansible-runner-c submit
--container-group` on a control node running AWX's own receptor config.

The command builds the pod spec AWX builds by default (container `worker`,
the EE image, `ansible-runner worker --private-data-dir=/runner`,
imagePullSecrets when a pull secret is named), transmits the job with
process isolation off, submits it as a kubernetes-runtime-auth unit (the
kubeconfig as secret_kube_config, the pod as secret_kube_pod) or a
kubernetes-incluster-auth unit, follows the results into process and
releases the unit, which deletes the pod.

Registry credentials (--container-auth-data, AWX's EE credential) become
AWX's image pull secret: a kubernetes.io/dockerconfigjson Secret created (or
replaced) through the Kubernetes API before the work is submitted, named in
the pod's imagePullSecrets; the fake kubelet pulls with what that secret
holds.

The cluster is k8s/fake_kube.py: its kubelet runs the pod's worker
container as a local process with the container's args as given, on the
host's filesystem except the image's /runner, a fresh directory per pod (see
its header).  Inside the "pod" runs Debian's real `ansible-runner worker`, or
our `ansible-runner-c worker` when the image's PATH puts it first.  The
processed artifacts, events and live output are compared with Debian's
`ansible-runner run` of the same playbook."""
import base64
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def _load(name, file):
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, file))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_conftest = _load("integration_conftest", "conftest.py")
_flow = _load("awx_flow_helpers", "test_awx_flow.py")
# test_kubernetes says `from conftest import`: give it this directory's
# conftest even when pytest has loaded runner/conftest.py under that name
_other = sys.modules.get("conftest")
sys.modules["conftest"] = _conftest
try:
    _kube = _load("kube_helpers", "test_kubernetes.py")
finally:
    if _other is not None:
        sys.modules["conftest"] = _other
    else:
        del sys.modules["conftest"]
sys.path.insert(0, os.path.join(HERE, "k8s"))
from harness import FakeKubeServer  # noqa: E402
isolation_env = _load("isolation_env", os.path.join("runner", "isolation_env.py"))

wait_for = _conftest.wait_for
ARC, REAL_RUNNER, clean_env, normal = _flow.ARC, _flow.REAL_RUNNER, _flow.clean_env, _flow.normal

pytestmark = pytest.mark.skipif(
    not (shutil.which("ansible-playbook", path="/usr/bin:/bin") and os.path.exists(REAL_RUNNER)),
    reason="ansible-playbook and Debian's ansible-runner are needed (scripts/install-deps)")

PLAYBOOK = """\
- name: A job in a container group
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Say hello
      ansible.builtin.debug:
        msg: "hello from the pod"
    - name: Run a command
      ansible.builtin.command: echo counted
    - name: Loop
      ansible.builtin.debug:
        msg: "item {{ item }}"
      loop: [1, 2, 3, 4, 5]
"""


def make_pdd(d):
    (d / "project").mkdir(parents=True)
    (d / "inventory").mkdir()
    (d / "project" / "cg.yml").write_text(PLAYBOOK)
    (d / "inventory" / "hosts").write_text("localhost ansible_connection=local\n")
    return d


@pytest.fixture
def control(tmp_path):
    """AWX's control-node config, unchanged but for file locations, and a test
    cluster whose containers get the clean environment an image gives."""
    kube = FakeKubeServer(tmp_path / "kube", env=clean_env())
    f = _kube.awx_files(str(tmp_path))
    d = _kube.Daemon(str(tmp_path), _kube.AWX_CONFIG.format(**f), f["sock"])
    yield d, kube
    d.stop()
    kube.stop()


def local_run(tmp_path, ident):
    local = make_pdd(tmp_path / "local")
    r = subprocess.run([REAL_RUNNER, "run", str(local), "-p", "cg.yml", "--ident", ident],
                       capture_output=True, env=clean_env(), timeout=300)
    assert r.returncode == 0, r.stderr.decode()
    return r, local / "artifacts" / ident


def same_as_local(r, a, l, b):
    ea, eb = _flow.events_of(a), _flow.events_of(b)
    _flow.check_complete_events(ea)
    assert [normal(e) for e in ea] == [normal(e) for e in eb]
    assert (a / "stdout").read_bytes() == (b / "stdout").read_bytes()
    assert r.stdout.decode() == l.stdout.decode()
    for f in ("status", "rc"):
        assert (a / f).read_text() == (b / f).read_text()
    assert sorted(os.listdir(a)) == sorted(os.listdir(b))


def test_runtime_auth_container_group_with_real_ansible_runner_in_the_pod(control, tmp_path):
    d, kube = control
    kc = tmp_path / "kubeconfig"
    kc.write_text(kube.kubeconfig(namespace="awx"))
    pdd = make_pdd(tmp_path / "job")
    r = subprocess.run([ARC, "submit", str(pdd), "-p", "cg.yml", "--ident", "cg1",
                        "--socket", d.sock, "--container-group", "--kubeconfig", str(kc),
                        "--namespace", "awx", "--container-image", "quay.io/ansible/awx-ee:24.6.1",
                        "--image-pull-secret", "ee-pull", "--keep-unit"],
                       capture_output=True, env=clean_env(), timeout=300)
    err = r.stderr.decode()
    assert r.returncode == 0, err + kube.logtext()
    assert "kubernetes-runtime-auth" in err, err
    # the pod AWX would have made, in the kubeconfig's namespace
    pods = kube.pods("awx")
    assert len(pods) == 1, pods
    (name, pod), = pods.items()
    assert name.startswith("awx/automation-job-cg1-"), name
    spec = pod["spec"]
    assert spec["imagePullSecrets"] == [{"name": "ee-pull"}]
    assert spec["serviceAccountName"] == "default" and spec["automountServiceAccountToken"] is False
    (worker,) = spec["containers"]
    assert worker["name"] == "worker" and worker["image"] == "quay.io/ansible/awx-ee:24.6.1"
    assert worker["args"] == ["ansible-runner", "worker", "--private-data-dir=/runner"]
    assert pod["status"]["phase"] == "Succeeded", pod["status"]
    # the unit as AWX sees it: secrets blanked, the pod in ExtraData
    (unit,) = d.cmd("work list").keys()
    st = d.cmd(f"work status {unit}")
    assert (st["State"], st["WorkType"]) == (2, "kubernetes-runtime-auth"), st
    assert "BEGIN" not in json.dumps(st) and kube.token not in json.dumps(st)
    # what `ansible-runner run` makes of the same playbook
    l, b = local_run(tmp_path, "cg1")
    same_as_local(r, pdd / "artifacts" / "cg1", l, b)
    assert "hello from the pod" in r.stdout.decode()
    assert d.cmd(f"work release {unit}")
    wait_for(lambda: not kube.pods(), 20, "the pod deleted on release")


def test_incluster_container_group_with_our_worker_in_the_pod(tmp_path):
    """The control node runs in the cluster (a mount namespace over the
    service-account directory, as test_kubernetes does), so no kubeconfig
    travels; the EE's `ansible-runner` is our ansible-runner-c.  The EE is
    in a private registry: submit, in the same pod, makes the image pull
    secret with the pod's service account."""
    kube = FakeKubeServer(tmp_path / "kube", env=clean_env())
    bin_dir = tmp_path / "image-bin"
    bin_dir.mkdir()
    os.symlink(ARC, bin_dir / "ansible-runner")
    kube.faults(image_path=str(bin_dir),
                registry={"host": REGISTRY, "username": "puller", "password": "pw"})
    wrap, kube_env = kube.incluster_wrap(tmp_path / "sa")
    env = dict(clean_env(), **kube_env)
    f = _kube.awx_files(str(tmp_path))
    d = _kube.Daemon(str(tmp_path), _kube.AWX_CONFIG.format(**f), f["sock"], wrap=wrap, env=env)
    try:
        pdd = make_pdd(tmp_path / "job")
        # an ident that is no DNS label: the pod's name is made one
        r = subprocess.run(wrap + [ARC, "submit", str(pdd), "-p", "cg.yml", "--ident", "Job_2.B",
                                   "--socket", d.sock, "--container-group", "--keep-unit",
                                   "--container-image", REGISTRY + "/ee:1",
                                   "--container-auth-data", f"@{auth_file(tmp_path, 'pw')}"],
                           capture_output=True, env=env, timeout=300)
        err = r.stderr.decode()
        assert r.returncode == 0, err + kube.logtext()
        assert "kubernetes-incluster-auth" in err, err
        assert kube.state()["counters"]["creates"] == 1
        (name,) = kube.pods("default")
        assert re.fullmatch(r"default/automation-job-job-2-b-[a-z0-9]{5}", name), name
        (secret,) = kube.secrets("default")
        assert kube.pods()[name]["spec"]["imagePullSecrets"] == [{"name": secret.split("/")[1]}]
        (unit,) = d.cmd("work list")
        assert d.cmd(f"work release {unit}")
        wait_for(lambda: not kube.pods(), 20, "the pod deleted on release")
        l, b = local_run(tmp_path, "Job_2.B")
        same_as_local(r, pdd / "artifacts" / "Job_2.B", l, b)
    finally:
        d.stop()
        kube.stop()


def test_container_group_errors_are_clear(control, tmp_path):
    d, kube = control
    pdd = make_pdd(tmp_path / "job")
    r = subprocess.run([ARC, "submit", str(pdd), "-p", "cg.yml", "--socket", d.sock,
                        "--container-group", "--kubeconfig", str(tmp_path / "nope")],
                       capture_output=True, env=clean_env(), timeout=60)
    assert r.returncode == 1
    assert "container group: " in r.stderr.decode() and "nope" in r.stderr.decode()
    # an image that cannot be pulled: the unit fails with the kubelet's reason
    kc = tmp_path / "kubeconfig"
    kc.write_text(kube.kubeconfig(namespace="awx"))
    r = subprocess.run([ARC, "submit", str(pdd), "-p", "cg.yml", "--socket", d.sock,
                        "--container-group", "--kubeconfig", str(kc), "--namespace", "awx",
                        "--container-image", "bad/ee:1"],
                       capture_output=True, env=clean_env(), timeout=120)
    assert r.returncode == 1, r.stderr.decode()
    assert "ImagePullBackOff" in r.stderr.decode() or "ErrImagePull" in r.stderr.decode(), \
        r.stderr.decode()
    wait_for(lambda: d.cmd("work list") == {}, 20, "the unit released")
    wait_for(lambda: not kube.pods(), 20, "the pod deleted")


OVERRIDE = """\
apiVersion: v1
kind: Pod
metadata:
  namespace: awx
  labels:
    team: platform
  annotations:
    example.org/owner: ops
spec:
  serviceAccountName: awx-jobs
  automountServiceAccountToken: null
  nodeSelector:
    disktype: ssd
  tolerations:
  - key: dedicated
    operator: Equal
    value: awx
    effect: NoSchedule
  containers:
  - name: worker
    image: not/this:1
    args: [sleep, infinity]
    resources:
      limits:
        cpu: "2"
"""


def test_pod_spec_override_and_labels_as_awx_builds_them(control, tmp_path):
    """An instance group's pod_spec_override is deep-merged into AWX's
    default pod (mappings merge, lists replace, null keeps the default);
    the EE image and the worker command still win; the pod carries AWX's
    name and labels (ansible-awx, ansible-awx-job-id)."""
    d, kube = control
    kc = tmp_path / "kubeconfig"
    kc.write_text(kube.kubeconfig(namespace="awx"))
    override = tmp_path / "override.yml"
    override.write_text(OVERRIDE)
    pdd = make_pdd(tmp_path / "job")
    r = subprocess.run([ARC, "submit", str(pdd), "-p", "cg.yml", "--ident", "42",
                        "--socket", d.sock, "--container-group", "--kubeconfig", str(kc),
                        "--namespace", "default", "--container-image", "quay.io/ansible/awx-ee:24.6.1",
                        "--pod-spec-override", str(override), "--awx-install-id", "5f0e-install",
                        "--keep-unit"],
                       capture_output=True, env=clean_env(), timeout=300)
    assert r.returncode == 0, r.stderr.decode() + kube.logtext()
    pods = kube.pods("awx")  # the override's namespace wins over --namespace
    assert len(pods) == 1, kube.pods()
    (name, pod), = pods.items()
    assert name.startswith("awx/automation-job-42"), name
    meta, spec = pod["metadata"], pod["spec"]
    assert meta["labels"] == {"team": "platform", "ansible-awx": "5f0e-install", "ansible-awx-job-id": "42"}
    assert meta["annotations"] == {"example.org/owner": "ops"}
    assert spec["serviceAccountName"] == "awx-jobs"
    assert spec["automountServiceAccountToken"] is False  # null in the override keeps the default
    assert spec["nodeSelector"] == {"disktype": "ssd"}
    assert spec["tolerations"][0]["key"] == "dedicated"
    (worker,) = spec["containers"]
    assert worker["image"] == "quay.io/ansible/awx-ee:24.6.1"
    assert worker["args"] == ["ansible-runner", "worker", "--private-data-dir=/runner"]
    assert worker["resources"] == {"limits": {"cpu": "2"}}  # the list replaced the default's
    assert pod["status"]["phase"] == "Succeeded", pod["status"]
    assert "hello from the pod" in r.stdout.decode()
    (unit,) = d.cmd("work list").keys()
    assert d.cmd(f"work release {unit}")
    wait_for(lambda: not kube.pods(), 20, "the pod deleted on release")


def test_pod_spec_override_errors_are_clear(control, tmp_path):
    d, kube = control
    pdd = make_pdd(tmp_path / "job")
    for text, words in (("- just\n- a list\n", "must be a YAML or JSON mapping"),
                        ("spec:\n  containers: []\n", "spec.containers[0] must be a mapping")):
        override = tmp_path / "override.yml"
        override.write_text(text)
        r = subprocess.run([ARC, "submit", str(pdd), "-p", "cg.yml", "--socket", d.sock,
                            "--container-group", "--pod-spec-override", str(override)],
                           capture_output=True, env=clean_env(), timeout=60)
        assert r.returncode == 1
        assert words in r.stderr.decode(), r.stderr.decode()
    assert d.cmd("work list") == {}
    assert not kube.pods()


SLEEPER = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Started
      ansible.builtin.debug:
        msg: "sleeping in the pod"
    - name: Sleep
      ansible.builtin.command: sleep 300
"""


def test_ctrl_c_deletes_the_pod_and_releases_the_unit(control, tmp_path):
    """Ctrl-C sends `work cancel`, which deletes the pod (the worker with it,
    so no `canceled` status can come back, as in AWX, which stops reading
    on cancel): the command says so, exits 130 and releases the unit."""
    d, kube = control
    kc = tmp_path / "kubeconfig"
    kc.write_text(kube.kubeconfig(namespace="awx"))
    pdd = make_pdd(tmp_path / "job")
    (pdd / "project" / "sleep.yml").write_text(SLEEPER)
    p = subprocess.Popen([ARC, "submit", str(pdd), "-p", "sleep.yml", "--socket", d.sock,
                          "--container-group", "--kubeconfig", str(kc), "--namespace", "awx"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env())
    try:
        for line in p.stdout:
            if b"sleeping in the pod" in line:
                break
        (pod,) = kube.pods("awx").values()
        assert pod["status"]["phase"] == "Running"
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    err = err.decode()
    assert p.returncode == 130, err
    assert "canceling work unit" in err and "released work unit" in err, err
    # not the 30 s --cancel-wait for a status that cannot come
    assert "its pod is deleted, so no final status comes back" in err, err
    assert "giving up waiting" not in err, err
    wait_for(lambda: not kube.pods(), 20, "the pod deleted")
    assert d.cmd("work list") == {}
    assert kube.state()["counters"]["deletes"] >= 1


REGISTRY = "registry.test:5000"


def auth_file(tmp_path, password, host="https://" + REGISTRY + "/ee"):
    """AWX's registry credential inputs in a 0600 file (@FILE: a password on
    a command line is visible to every user)."""
    f = tmp_path / "registry-auth.json"
    f.write_text(json.dumps({"host": host, "username": "puller", "password": password,
                             "verify_ssl": False}))
    f.chmod(0o600)
    return f


def awx_dockerconfig(host, user, password):
    """The .dockerconfigjson text AWX's PodManager.create_secret makes."""
    tok = base64.b64encode(f"{user}:{password}".encode()).decode()
    return json.dumps({"auths": {host: {"auth": tok}}}, indent=4)


def submit_cg(d, kc, pdd, *extra, ident="ps1", timeout=300):
    return subprocess.run([ARC, "submit", str(pdd), "-p", "cg.yml", "--ident", ident,
                           "--socket", d.sock, "--container-group", "--kubeconfig", str(kc),
                           "--namespace", "awx", "--container-image", REGISTRY + "/ee:1", *extra],
                          capture_output=True, env=clean_env(), timeout=timeout)


def test_registry_credential_becomes_awx_image_pull_secret(control, tmp_path):
    """As AWX with an EE credential: the secret automation-<install id
    [:5]>-image-pull-secret-<credential> of type kubernetes.io/dockerconfigjson
    holds {"auths": {host[:port]: {"auth": base64(user:password)}}}, the pod
    names it in imagePullSecrets and the kubelet pulls the private image
    with it.  A second job with the same credential uses it as it is; the
    secret stays after the job (AWX does not delete it either)."""
    d, kube = control
    kube.faults(registry={"host": REGISTRY, "username": "puller", "password": "pw-1"})
    kc = tmp_path / "kubeconfig"
    kc.write_text(kube.kubeconfig(namespace="awx"))
    auth = auth_file(tmp_path, "pw-1")
    pdd = make_pdd(tmp_path / "job")
    r = submit_cg(d, kc, pdd, "--container-auth-data", f"@{auth}", "--awx-install-id",
                  "5f0e7c2a-1111-2222-3333-444455556666", "--keep-unit")
    err = r.stderr.decode()
    assert r.returncode == 0, err + kube.logtext()
    secrets = kube.secrets("awx")
    assert len(secrets) == 1, kube.secrets()
    (key, sec), = secrets.items()
    name = sec["metadata"]["name"]
    assert re.fullmatch(r"automation-5f0e7-image-pull-secret-[0-9a-f]{8}", name), name
    assert key == "awx/" + name
    assert f"image pull secret {name} in namespace awx" in err, err
    assert sec["type"] == "kubernetes.io/dockerconfigjson"
    assert list(sec["data"]) == [".dockerconfigjson"]
    assert base64.b64decode(sec["data"][".dockerconfigjson"]).decode() == \
        awx_dockerconfig(REGISTRY, "puller", "pw-1")
    (pod,) = kube.pods("awx").values()
    assert pod["spec"]["imagePullSecrets"] == [{"name": name}]
    assert pod["status"]["phase"] == "Succeeded", pod["status"]
    assert "hello from the pod" in r.stdout.decode()
    # the password went to the cluster's secret only: not to the worker, not into the unit
    (unit,) = d.cmd("work list").keys()
    assert "pw-1" not in json.dumps(d.cmd(f"work status {unit}"))
    assert d.cmd(f"work release {unit}")
    wait_for(lambda: not kube.pods(), 20, "the pod deleted on release")
    # the same credential again: the secret is used as it is, and it stays
    shutil.rmtree(pdd / "artifacts", ignore_errors=True)
    r = submit_cg(d, kc, pdd, "--container-auth-data", f"@{auth}", "--awx-install-id",
                  "5f0e7c2a-1111-2222-3333-444455556666", ident="ps2")
    assert r.returncode == 0, r.stderr.decode() + kube.logtext()
    c = kube.state()["counters"]
    assert (c["secret_creates"], c["secret_replaces"], c["secret_deletes"]) == (1, 0, 0), c
    assert list(kube.secrets("awx")) == [key]


def test_wrong_registry_password_fails_the_unit_then_the_secret_is_replaced(control, tmp_path):
    """A wrong password makes a secret the kubelet cannot pull with: the unit
    fails with the kubelet's reason (ErrImagePull/ImagePullBackOff) in
    Receptor's detail.
    With the password corrected the secret is replaced (same name, new data)
    and the job runs."""
    d, kube = control
    kube.faults(registry={"host": REGISTRY, "username": "puller", "password": "right"})
    kc = tmp_path / "kubeconfig"
    kc.write_text(kube.kubeconfig(namespace="awx"))
    pdd = make_pdd(tmp_path / "job")
    r = submit_cg(d, kc, pdd, "--container-auth-data", f"@{auth_file(tmp_path, 'wrong')}",
                  "--pod-pending-timeout", "3s", timeout=120)
    err = r.stderr.decode()
    assert r.returncode == 1, err
    detail = err.split("Receptor detail:", 1)[-1]
    assert "ErrImagePull" in detail or "ImagePullBackOff" in detail, err
    wait_for(lambda: d.cmd("work list") == {}, 20, "the unit released")
    wait_for(lambda: not kube.pods(), 20, "the pod deleted")
    (sec,) = kube.secrets("awx").values()
    shutil.rmtree(pdd / "artifacts", ignore_errors=True)
    r = submit_cg(d, kc, pdd, "--container-auth-data", f"@{auth_file(tmp_path, 'right')}")
    assert r.returncode == 0, r.stderr.decode() + kube.logtext()
    (new,) = kube.secrets("awx").values()
    assert new["metadata"]["name"] == sec["metadata"]["name"]
    assert new["metadata"]["uid"] == sec["metadata"]["uid"]  # replaced, not made anew
    assert base64.b64decode(new["data"][".dockerconfigjson"]).decode() == \
        awx_dockerconfig(REGISTRY, "puller", "right")
    assert kube.state()["counters"]["secret_replaces"] == 1


def test_pull_secret_that_cannot_be_made_submits_nothing(control, tmp_path):
    """The cluster credential may not manage secrets (403), is refused (401),
    or the API server cannot be reached: a clear error naming it, exit 1,
    no work unit, no pod."""
    d, kube = control
    pdd = make_pdd(tmp_path / "job")
    auth = auth_file(tmp_path, "pw")
    kube.add_token("pods-only", "system:serviceaccount:awx:jobs", ["awx"],
                   resources=["pods", "pods/log", "pods/attach"])
    closed = _conftest.free_port()
    cases = (
        (kube.kubeconfig(namespace="awx", token="pods-only"),
         ["403 Forbidden", 'cannot get resource "secrets"',
          "needs get, create and update rights on secrets in namespace awx"]),
        (kube.kubeconfig(namespace="awx", token="no-such-token"),
         ["401 Unauthorized", "refused the credentials of the kubeconfig's user"]),
        (kube.kubeconfig(namespace="awx").replace(kube.url, f"https://127.0.0.1:{closed}"),
         [f"cannot reach the Kubernetes API at https://127.0.0.1:{closed}"]),
    )
    for text, words in cases:
        kc = tmp_path / "kubeconfig"
        kc.write_text(text)
        r = submit_cg(d, kc, pdd, "--container-auth-data", f"@{auth}", timeout=120)
        err = r.stderr.decode()
        assert r.returncode == 1, err
        assert "container group: the image pull secret automation-ansib-image-pull-secret-" in err, err
        for w in words:
            assert w in err, (w, err)
        assert "work unit" not in err, err
        assert d.cmd("work list") == {}
        assert not kube.pods() and not kube.secrets()
    # a credential named twice is a usage error
    r = submit_cg(d, tmp_path / "kubeconfig", pdd, "--container-auth-data", f"@{auth}",
                  "--image-pull-secret", "ee-pull")
    assert r.returncode == 2 and "give one" in r.stderr.decode(), r.stderr.decode()


@pytest.fixture(scope="module")
def registry_ee():
    """The EE image (Debian's ansible-core and ansible-runner, built by
    runner/isolation_env.py) in a private registry with a password."""
    if os.environ.get("RECEPTOR_ISOLATION_SKIP_SANITIZED") and os.environ.get("RECEPTOR_SANITIZED"):
        pytest.skip("real-container tests: RECEPTOR_ISOLATION_SKIP_SANITIZED is set")
    try:
        with isolation_env.prepared_ee(lambda m: None) as e:
            yield e
    except isolation_env.CannotRunContainers as why:
        pytest.skip(str(why))


def test_container_group_pod_runs_the_ee_image_from_the_registry(registry_ee, tmp_path):
    """The pod is a real container: the fake kubelet pulls the EE from the
    private registry with podman, with the credentials of the image pull
    secret submit made from --container-auth-data (the node has no login of
    its own), and runs it; Debian's ansible-runner worker inside the image
    runs the job. Results equal `ansible-runner run` of the same playbook on
    the host; a wrong password is ErrImagePull with the registry's answer,
    and the corrected credential replaces the secret."""
    ee = registry_ee
    kube = FakeKubeServer(tmp_path / "kube", env=clean_env())
    f = _kube.awx_files(str(tmp_path))
    d = _kube.Daemon(str(tmp_path), _kube.AWX_CONFIG.format(**f), f["sock"])
    try:
        kc = tmp_path / "kubeconfig"
        kc.write_text(kube.kubeconfig(namespace="awx"))
        kube.faults(podman={"env": ee.node.env, "tls_verify": False})
        auth = tmp_path / "ee-auth.json"
        auth.write_text(json.dumps(dict(ee.auth, password="wrong-password")))
        auth.chmod(0o600)
        pdd = make_pdd(tmp_path / "job")
        argv = [ARC, "submit", str(pdd), "-p", "cg.yml", "--ident", "pm1", "--socket", d.sock,
                "--container-group", "--kubeconfig", str(kc), "--namespace", "awx",
                "--container-image", ee.remote, "--container-auth-data", f"@{auth}"]
        r = subprocess.run(argv, capture_output=True, env=clean_env(), timeout=300)
        assert r.returncode == 1, r.stderr.decode()
        assert "ErrImagePull" in r.stderr.decode() or "ImagePullBackOff" in r.stderr.decode(), \
            r.stderr.decode()
        wait_for(lambda: d.cmd("work list") == {}, 30, "the unit released")
        (sec,) = kube.secrets("awx").values()
        assert sec["type"] == "kubernetes.io/dockerconfigjson"
        auth.write_text(json.dumps(ee.auth))
        shutil.rmtree(pdd / "artifacts", ignore_errors=True)
        r = subprocess.run(argv, capture_output=True, env=clean_env(), timeout=600)
        assert r.returncode == 0, r.stderr.decode() + kube.logtext()
        assert kube.state()["counters"]["secret_replaces"] == 1
        l, b = local_run(tmp_path, "pm1")
        same_as_local(r, pdd / "artifacts" / "pm1", l, b)
        assert "hello from the pod" in r.stdout.decode()
        wait_for(lambda: not kube.pods(), 30, "the pod deleted on release")
        wait_for(lambda: not ee.node("ps", "-a", "-q", check=False).stdout.strip(), 30,
                 "no container left")
    finally:
        d.stop()
        kube.stop()
