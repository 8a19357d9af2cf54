"""Real process isolation for the tests: an Execution Environment image built
from Debian packages, podman set up for this kind of machine, and a private
docker-registry with htpasswd auth and a self-signed TLS certificate.

EE image.  `debootstrap --variant=minbase <suite>` from the apt mirror the
machine itself uses (read from /etc/apt/sources.list*), then
`chroot apt-get install --no-install-recommends ansible-core`, pruned (docs,
man pages, locales, apt lists) and tarred.  The tarball is cached under
$RECEPTOR_C_TEST_CACHE, else $XDG_CACHE_HOME/receptor-c-tests, else
/var/cache/receptor-c-tests (root) or ~/.cache/receptor-c-tests, named by
a hash of the build recipe, so a change of recipe rebuilds and a rerun only
`podman import`s (a few seconds).  A flock serialises concurrent builders.

Podman.  Every test session gets its own containers.conf and storage.conf
(CONTAINERS_CONF, CONTAINERS_STORAGE_CONF) in a temporary directory, so
nothing touches the machine's own podman state and the execution node
starts with no image at all: a job can only get its EE by pulling it.  On
this kind of VM podman needs `runtime = "runc"` and explicit ulimits (the
default nofile of 1048576 is above the hard limit and root may not raise
it; nproc is capped lower still): the fixture probes our own limits first,
then smaller ones, with a real `podman run`; `netns = "none"` because the
jobs run against localhost and the CNI bridge would need iptables.

Registry.  /usr/bin/docker-registry serve with a config written here:
127.0.0.1:<free port>, TLS with an openssl self-signed certificate (SAN
IP:127.0.0.1), htpasswd auth (bcrypt, `htpasswd -B`), storage in the
temporary directory.  The test pushes the EE there from a separate
"builder" storage.
"""
import contextlib
import fcntl
import hashlib
import json
import os
import pathlib
import resource
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import base64
import urllib.request

# Bump RECIPE_VERSION whenever build_rootfs() changes what ends up in the image.
RECIPE_VERSION = 2
EE_PACKAGES = ["ansible-core", "python3-ansible-runner"]  # the worker of a container-group pod
# (ansible_collections: python3-ansible-runner pulls in the `ansible` package, 250 MB of
# collections the test playbooks never use)
PRUNE = ["usr/lib/python3/dist-packages/ansible_collections",
         "usr/share/doc", "usr/share/man", "usr/share/locale", "usr/share/info",
         "var/lib/apt/lists", "var/cache/apt", "var/cache/debconf/templates.dat-old",
         "var/log"]
SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def os_codename():
    for line in pathlib.Path("/etc/os-release").read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return "bookworm"


def apt_mirror(codename):
    """The Debian mirror this machine installs from (first URI serving <codename>)."""
    srcs = sorted(pathlib.Path("/etc/apt/sources.list.d").glob("*.sources"))
    for f in srcs:
        for stanza in f.read_text().split("\n\n"):
            fields = {}
            for line in stanza.splitlines():
                if ":" in line and not line.startswith("#"):
                    k, v = line.split(":", 1)
                    fields[k.strip().lower()] = v.split()
            if "deb" in fields.get("types", []) and codename in fields.get("suites", []):
                if "main" in fields.get("components", []) and fields.get("uris"):
                    return fields["uris"][0]
    lists = [pathlib.Path("/etc/apt/sources.list"),
             *sorted(pathlib.Path("/etc/apt/sources.list.d").glob("*.list"))]
    for f in lists:
        if not f.exists():
            continue
        for line in f.read_text().splitlines():
            w = line.split("#", 1)[0].split()
            if len(w) >= 3 and w[0] == "deb":
                if w[1].startswith("["):
                    w = [w[0]] + [x for x in w[1:] if not x.startswith("[") and "=" not in x
                                  and not x.endswith("]")]
                if len(w) >= 3 and w[2] == codename:
                    return w[1]
    return "http://deb.debian.org/debian"


def cache_dir():
    if os.environ.get("RECEPTOR_C_TEST_CACHE"):
        d = pathlib.Path(os.environ["RECEPTOR_C_TEST_CACHE"])
    elif os.environ.get("XDG_CACHE_HOME"):
        d = pathlib.Path(os.environ["XDG_CACHE_HOME"]) / "receptor-c-tests"
    elif os.geteuid() == 0:
        d = pathlib.Path("/var/cache/receptor-c-tests")
    else:
        d = pathlib.Path.home() / ".cache" / "receptor-c-tests"
    d.mkdir(parents=True, exist_ok=True)
    return d


def recipe():
    codename = os_codename()
    return {"version": RECIPE_VERSION, "suite": codename, "variant": "minbase",
            "packages": EE_PACKAGES, "prune": PRUNE, "arch": os.uname().machine}


def recipe_key():
    return hashlib.sha256(json.dumps(recipe(), sort_keys=True).encode()).hexdigest()[:16]


def _run(argv, log, **kw):
    log.write(("+ " + " ".join(argv) + "\n").encode())
    log.flush()
    p = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, **kw)
    if p.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed with exit code {p.returncode}")


def build_rootfs(root, log):
    r = recipe()
    mirror = apt_mirror(r["suite"])
    env = {"PATH": SBIN_PATH, "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive",
           "HOME": "/root"}
    _run(["debootstrap", "--variant=" + r["variant"], r["suite"], str(root), mirror], log,
         env=env, timeout=900)
    # debootstrap's own resolver cannot do ansible-core's virtual dependencies: apt can
    _run(["chroot", str(root), "apt-get", "install", "-y", "-q", "--no-install-recommends",
          *r["packages"]], log, env=env, timeout=900)
    _run(["chroot", str(root), "apt-get", "clean"], log, env=env, timeout=120)
    for p in r["prune"]:
        q = root / p
        if q.is_dir() and not q.is_symlink():
            shutil.rmtree(q)
            q.mkdir()  # emptied, not gone: dpkg and friends expect these dirs
        elif q.exists() or q.is_symlink():
            q.unlink()


def ee_tarball(report=print):
    """Path of the cached EE rootfs tarball, building it first if needed."""
    d = cache_dir()
    key = recipe_key()
    tar = d / f"ee-{key}.tar"
    with open(d / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if tar.exists():
            report(f"isolation: EE image from cache {tar}")
            return tar
        t0 = time.monotonic()
        work = pathlib.Path(tempfile.mkdtemp(prefix="ee-build-", dir=d))
        logpath = d / f"ee-{key}.build.log"
        try:
            with open(logpath, "wb") as log:
                try:
                    build_rootfs(work / "root", log)
                    part = d / f"ee-{key}.tar.part"
                    _run(["tar", "--numeric-owner", "-C", str(work / "root"), "-cf", str(part), "."],
                         log, timeout=600)
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    raise RuntimeError(f"building the EE image failed ({e}); see {logpath}") from e
            os.replace(part, tar)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        for old in d.glob("ee-*.tar"):
            if old != tar:
                old.unlink(missing_ok=True)
        report(f"isolation: EE image built in {time.monotonic() - t0:.1f} s -> {tar}")
        return tar


def _limit(kind):
    soft, hard = resource.getrlimit(kind)
    f = lambda v: "-1" if v == resource.RLIM_INFINITY else str(v)
    return f"{f(soft)}:{f(hard)}"


def ulimit_candidates():
    """(nofile, nproc) pairs to try, most generous first.  Our own limits are
    the natural choice, but some VMs cap what runc may set below them (seen:
    nproc above 32768 refused while our hard limit was 96365)."""
    nofile, nproc = _limit(resource.RLIMIT_NOFILE), _limit(resource.RLIMIT_NPROC)
    out = [(nofile, nproc)]
    for cap in (32768, 4096, 1024):
        soft, hard = resource.getrlimit(resource.RLIMIT_NPROC)
        if hard == resource.RLIM_INFINITY or hard > cap:
            out.append((nofile, f"{cap}:{cap}"))
    out.append(("1024:1024", "1024:1024"))
    return out


class Podman:
    """podman with its own configuration and storage under `base`."""

    def __init__(self, base, ulimits=None):
        self.base = pathlib.Path(base)
        self.base.mkdir(parents=True, exist_ok=True)
        self.set_ulimits(ulimits or ulimit_candidates()[0])
        (self.base / "storage.conf").write_text(
            "[storage]\n"
            'driver = "overlay"\n'
            f'graphroot = "{self.base}/graph"\n'
            f'runroot = "{self.base}/run"\n')
        self.env = {"CONTAINERS_CONF": str(self.base / "containers.conf"),
                    "CONTAINERS_STORAGE_CONF": str(self.base / "storage.conf"),
                    "PATH": SBIN_PATH}

    def set_ulimits(self, ulimits):
        self.ulimits = ulimits
        nofile, nproc = ulimits
        (self.base / "containers.conf").write_text(
            "[containers]\n"
            f'default_ulimits = ["nofile={nofile}", "nproc={nproc}"]\n'
            'netns = "none"\n'
            "[engine]\n"
            'runtime = "runc"\n'
            f'tmp_dir = "{self.base}/libpod-tmp"\n')

    def probe(self, image):
        """Finds ulimits this machine lets a container have; (ulimits, None) or (None, error)."""
        err = None
        for lim in ulimit_candidates():
            self.set_ulimits(lim)
            p = self("run", "--rm", image, "ansible-playbook", "--version", check=False)
            if p.returncode == 0:
                return lim, None
            err = p.stderr.decode(errors="replace").strip()
        return None, err

    def __call__(self, *args, check=True, timeout=300, input=None):
        env = dict(os.environ)
        env.update(self.env)
        p = subprocess.run(["podman", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=env, timeout=timeout, input=input)
        if check and p.returncode != 0:
            raise RuntimeError(f"podman {' '.join(args)}: exit {p.returncode}: "
                               f"{p.stderr.decode(errors='replace').strip()}")
        return p

    def container_exists(self, name):
        p = self("ps", "-a", "--format", "{{.Names}}", check=False)
        return name in p.stdout.decode().split()

    def destroy(self):
        with contextlib.suppress(Exception):
            self("rm", "-a", "-f", "-t", "0", check=False, timeout=60)
        with contextlib.suppress(Exception):
            self("rmi", "-a", "-f", check=False, timeout=120)
        # (not `podman system reset`: it would also drop the machine's networks)
        # whatever is still mounted below base (should be nothing) goes first
        with contextlib.suppress(OSError):
            mounts = [l.split()[1] for l in open("/proc/mounts")]
            for m in sorted((m for m in mounts if m.startswith(str(self.base) + "/")), reverse=True):
                subprocess.run(["umount", "-l", m], stderr=subprocess.DEVNULL)
        shutil.rmtree(self.base, ignore_errors=True)


# the registry's port is claimed as the daemons' are (tests/integration/ports.py)
sys.path.append(str(pathlib.Path(__file__).resolve().parent.parent))
from ports import free_port  # noqa: E402


class Registry:
    """docker-registry on 127.0.0.1 with TLS (self-signed) and htpasswd auth."""

    USER = "ee-puller"
    PASSWORD = "s3cret-pull-pass"

    def __init__(self, base):
        self.base = pathlib.Path(base)
        self.base.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        cert, key = self.base / "cert.pem", self.base / "key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=receptor-c test registry", "-addext",
                        "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(["htpasswd", "-B", "-b", "-c", str(self.base / "htpasswd"), self.USER,
                        self.PASSWORD], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        (self.base / "config.yml").write_text(
            "version: 0.1\n"
            "log:\n  level: info\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.base}/data\n"
            f"http:\n  addr: {self.host}\n"
            f"  tls:\n    certificate: {cert}\n    key: {key}\n"
            f"auth:\n  htpasswd:\n    realm: receptor-c-tests\n    path: {self.base}/htpasswd\n")
        self.logpath = self.base / "registry.log"
        self.log = open(self.logpath, "wb")
        self.proc = subprocess.Popen(["/usr/bin/docker-registry", "serve",
                                      str(self.base / "config.yml")],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited ({self.proc.returncode}): "
                                   f"{self.logpath.read_text()[-2000:]}")
            if self.status("/v2/", auth=True) == 200:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("docker-registry did not come up within 30 s")
            time.sleep(0.1)

    def status(self, path, auth=False):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        req = urllib.request.Request(f"https://{self.host}{path}")
        if auth:
            tok = base64.b64encode(f"{self.USER}:{self.PASSWORD}".encode()).decode()
            req.add_header("Authorization", "Basic " + tok)
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=5) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:
            return None

    def log_text(self):
        self.log.flush()
        return self.logpath.read_text(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class EE:
    """An EE image in a private registry, and a node's podman to pull it with."""


TOOLS = ("podman", "docker-registry", "debootstrap", "htpasswd", "openssl", "runc")


class CannotRunContainers(Exception):
    """This machine cannot run the EE (a reason to skip, not a failure)."""


def missing_requirement():
    """Why the EE cannot be built and run here, or None."""
    for tool in TOOLS:
        if not shutil.which(tool, path=SBIN_PATH):
            return f"{tool} is not installed (scripts/install-deps)"
    if os.geteuid() != 0:
        return "building the EE (debootstrap, chroot) and root podman need root"
    return None


@contextlib.contextmanager
def prepared_ee(report=print):
    """Builds (or takes from the cache) the EE, imports it into a builder
    podman, finds ulimits this machine lets a container have, starts the
    registry and pushes the EE there.  Yields an EE (remote, registry, node,
    base, auth); raises CannotRunContainers when this machine cannot run
    containers.  Everything is removed on exit."""
    why = missing_requirement()
    if why:
        raise CannotRunContainers(why)
    t0 = time.monotonic()
    tar = ee_tarball(report)
    key = recipe_key()
    base = pathlib.Path(tempfile.mkdtemp(prefix="receptor-c-iso-"))
    builder = Podman(base / "builder")
    node = None
    registry = None
    try:
        local = f"localhost/receptor-c-ee:{key}"
        builder("import", "-q", str(tar), local)
        ulimits, msg = builder.probe(local)
        if not ulimits:
            report(f"isolation: podman cannot run containers here: {msg}")
            raise CannotRunContainers(f"podman cannot run a container on this machine: {msg}")
        report(f"isolation: podman runs containers with ulimits nofile={ulimits[0]} "
               f"nproc={ulimits[1]}")
        node = Podman(base / "node", ulimits)
        registry = Registry(base / "registry")
        remote = f"{registry.host}/receptor-c-ee:{key}"
        builder("tag", local, remote)
        builder("push", "-q", "--tls-verify=false", "--creds",
                f"{registry.USER}:{registry.PASSWORD}", remote)
        report(f"isolation: EE ready in the registry in {time.monotonic() - t0:.1f} s: {remote}")
        e = EE()
        e.remote, e.registry, e.node, e.base = remote, registry, node, base
        e.auth = {"host": registry.host, "username": registry.USER,
                  "password": registry.PASSWORD, "verify_ssl": False}
        yield e
    finally:
        if registry:
            registry.stop()
        builder.destroy()
        if node:
            node.destroy()
        shutil.rmtree(base, ignore_errors=True)
