"""The Debian packages (debian/, `make package`), built, checked and used
on a fresh Debian 12.

Design: `make package` builds receptor-c and ansible-runner-c from a copy of
the tree with dpkg-buildpackage (unit tests included); lintian must report
nothing but the tags listed in LINTIAN_ACCEPTED, each with its reason.  The
packages are then installed with apt into a debootstrap'd Debian 12
(minbase) chroot, which fetches the dependencies the packages declare from
the Debian mirror: a missing dependency fails here, not on a user's machine.
In the chroot, two nodes run from the installed files as the `receptor`
user (the first from the shipped example config with a listener in place of
local-only), and receptorctl pings across and runs a work unit on the other
node.  Marked `long` (minutes: a compile and a debootstrap); it needs root
and the Debian mirror, and says so when either is missing.
"""

import os
import shutil
import subprocess
import time

import pytest

from conftest import ROOT, free_port

pytestmark = pytest.mark.long

MIRROR = os.environ.get("RECEPTOR_DEBIAN_MIRROR", "http://deb.debian.org/debian")
# lintian tags allowed to remain, each with the reason it stays (none today:
# lintian 2.116 reports nothing for the packages)
LINTIAN_ACCEPTED = set()


def sh(argv, timeout=1800, check=True, **kw):
    p = subprocess.run(argv, capture_output=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{argv} failed ({p.returncode}):\n{p.stdout.decode(errors='replace')[-3000:]}"
                             f"\n{p.stderr.decode(errors='replace')[-3000:]}")
    return p


def in_root(root, *argv, timeout=600, check=True):
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive"}
    return sh(["chroot", root, *argv], timeout=timeout, check=check, env=env)


@pytest.fixture
def debs(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("building and installing packages needs root")
    for tool in ("dpkg-buildpackage", "dh", "debootstrap", "lintian"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed (./scripts/install-deps)")
    out = tmp_path / "deb"
    sh(["make", "-C", ROOT, "package", f"PKGDIR={out}"], timeout=3600)
    names = sorted(p.name for p in out.glob("*.deb"))
    assert names == ["ansible-runner-c-dbgsym_1.4.9+c_amd64.deb", "ansible-runner-c_1.4.9+c_amd64.deb",
                     "receptor-c-dbgsym_1.4.9+c_amd64.deb", "receptor-c_1.4.9+c_amd64.deb"], names
    return out


def lintian_tags(changes):
    p = sh(["lintian", "--tag-display-limit", "0", str(changes)], check=False)
    tags = []
    for line in p.stdout.decode().splitlines():
        if line[:3] in ("E: ", "W: ", "I: "):
            tags.append(line)
    return tags


@pytest.fixture
def chroot(tmp_path):
    root = tmp_path / "bookworm"
    try:
        sh(["curl", "-sfI", "--max-time", "20", f"{MIRROR}/dists/bookworm/Release"], timeout=60)
    except AssertionError:
        pytest.skip(f"the Debian mirror {MIRROR} is not reachable: no debootstrap")
    sh(["debootstrap", "--variant=minbase", "bookworm", str(root), MIRROR], timeout=3600)
    proc = root / "proc"
    sh(["mount", "-t", "proc", "proc", str(proc)])
    procs = []
    try:
        yield root, procs
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        sh(["umount", str(proc)], check=False)
        if not os.path.ismount(proc):
            shutil.rmtree(root, ignore_errors=True)


def node_config(example, node_id, port, peer_port=None):
    """The shipped example config for node_id, listening (or dialing) on loopback."""
    text = example.replace("- node:\n", f"- node:\n    id: {node_id}\n")
    if peer_port is None:
        listener = f"- tcp-listener:\n    port: {port}\n    bindaddr: 127.0.0.1\n"
    else:
        listener = f"- tcp-peer:\n    address: 127.0.0.1:{peer_port}\n"
    text = text.replace("- local-only\n", listener)
    if peer_port is not None:
        text = text.replace("/var/run/receptor/receptor.sock", f"/var/run/receptor/{node_id}.sock")
        text += "- work-command:\n    worktype: echo\n    command: cat\n"
    return text


def wait_in_root(root, argv, what, tries=100):
    last = None
    for _ in range(tries):
        last = in_root(root, *argv, check=False)
        if last.returncode == 0:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}: {last.stdout!r} {last.stderr!r}")


def test_package_builds_installs_and_runs(debs, chroot):
    changes = next(debs.glob("*.changes"))
    tags = lintian_tags(changes)
    unexplained = [t for t in tags if t.split()[2] not in LINTIAN_ACCEPTED]
    assert unexplained == [], "\n".join(tags)

    root, procs = chroot
    for deb in ("receptor-c_1.4.9+c_amd64.deb", "ansible-runner-c_1.4.9+c_amd64.deb"):
        shutil.copy(debs / deb, root / "tmp" / deb)
    in_root(root, "apt-get", "update", "-qq", timeout=1200)
    # only the packages' own dependencies (no recommends: ansible-core is optional)
    in_root(root, "apt-get", "install", "-y", "-qq", "--no-install-recommends",
            "/tmp/receptor-c_1.4.9+c_amd64.deb", "/tmp/ansible-runner-c_1.4.9+c_amd64.deb", timeout=1800)

    # the files, the user, the directories and their modes
    assert in_root(root, "id", "-un", "receptor").stdout == b"receptor\n"
    assert in_root(root, "stat", "-c", "%U:%G %a", "/var/lib/receptor").stdout == b"receptor:receptor 700\n"
    assert in_root(root, "stat", "-c", "%U:%G %a", "/run/receptor").stdout == b"receptor:receptor 755\n"
    unit = (root / "lib/systemd/system/receptor.service").read_text()
    assert "ExecStart=/usr/bin/receptor --config ${RECEPTOR_CONFIG}" in unit
    assert "User=receptor" in unit and "Group=receptor" in unit
    assert (root / "usr/lib/tmpfiles.d/receptor-c.conf").read_text().strip().endswith(
        "d /run/receptor 0755 receptor receptor -")
    for man in ("usr/share/man/man8/receptor.8.gz", "usr/share/man/man1/receptorctl.1.gz",
                "usr/share/man/man1/ansible-runner-c.1.gz"):
        assert (root / man).exists(), man
    assert in_root(root, "ansible-runner-c", "--version").stdout.strip() == b"2.3.1"
    # the dlopen'd libraries came with the package's dependencies
    for lib in ("libgnutls.so.30", "libngtcp2_crypto_gnutls.so.2", "libcurl-gnutls.so.4"):
        assert in_root(root, "sh", "-c", f"ldconfig -p | grep -q {lib}", check=False).returncode == 0, lib

    # two nodes from the installed files, as the receptor user
    example = (root / "etc/receptor/receptor.conf").read_text()
    port = free_port()
    (root / "etc/receptor/a.conf").write_text(node_config(example, "a", port))
    (root / "etc/receptor/b.conf").write_text(node_config(example, "b", None, peer_port=port))
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    logs = []
    for name in ("a", "b"):
        log = open(root / "tmp" / f"{name}.log", "wb")
        logs.append(log)
        procs.append(subprocess.Popen(
            ["chroot", str(root), "setpriv", "--reuid=receptor", "--regid=receptor", "--init-groups",
             "/usr/bin/receptor", "--config", f"/etc/receptor/{name}.conf"],
            stdout=log, stderr=subprocess.STDOUT, env=env))
    try:
        sock = "/var/run/receptor/receptor.sock"
        wait_in_root(root, ["receptorctl", "--socket", sock, "ping", "b", "--count", "1"], "a ping of b")
        status = in_root(root, "receptorctl", "--socket", sock, "status").stdout.decode()
        assert "Node ID: a" in status
        r = in_root(root, "receptorctl", "--socket", sock, "work", "submit", "echo", "--node", "b",
                    "-l", "hello from the package", "-f", "--rm", timeout=120)
        assert r.stdout.decode().startswith("hello from the package\n"), r
        assert in_root(root, "stat", "-c", "%U", "/var/lib/receptor/a").stdout == b"receptor\n"
    except AssertionError:
        for name in ("a", "b"):
            print(name, (root / "tmp" / f"{name}.log").read_text(errors="replace")[-3000:])
        raise
    finally:
        for log in logs:
            log.close()
