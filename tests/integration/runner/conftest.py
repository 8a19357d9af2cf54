"""Fixtures for the ansible-runner-c integration tests.

The binary is taken from the meson build dir in $RECEPTOR_BUILD (default
<repo>/build); vectors from tests/vectors/runner.  Every command runs
under a scrubbed environment like the vector captures."""
import os
import pathlib
import shutil
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]
VECTORS = pathlib.Path(os.environ.get("RUNNER_VECTORS", REPO / "tests" / "vectors" / "runner"))


def build_dir():
    return pathlib.Path(os.environ.get("RECEPTOR_BUILD", REPO / "build"))


@pytest.fixture(scope="session")
def arc():
    exe = build_dir() / "src" / "cmd" / "ansible-runner-c"
    if not exe.exists():
        pytest.skip(f"{exe} not built")
    return str(exe)


@pytest.fixture(scope="session")
def vectors():
    if not VECTORS.is_dir():  # the project carries its vectors: missing is a failure
        pytest.fail(f"test vectors missing: {VECTORS}")
    return VECTORS


@pytest.fixture(scope="session")
def real_runner():
    exe = shutil.which("ansible-runner", path="/usr/bin:/bin")
    if not exe:
        pytest.skip("Debian ansible-runner is not installed (scripts/install-deps)")
    return exe


@pytest.fixture(scope="session")
def have_ansible():
    if not shutil.which("ansible-playbook", path="/usr/bin:/bin"):
        pytest.skip("ansible-playbook is not installed (scripts/install-deps)")


def clean_env(extra=None):
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TMPDIR"):
        if k in os.environ:
            env[k] = os.environ[k]
    env.update(extra or {})
    return env


def run(argv, stdin=b"", env=None, timeout=300, cwd=None):
    return subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=clean_env(env), timeout=timeout, cwd=cwd)


@pytest.fixture
def pdd(tmp_path, vectors):
    d = tmp_path / "pdd"
    shutil.copytree(vectors / "pdd", d)
    for p in [d, *d.rglob("*")]:
        if not p.is_symlink():
            p.chmod(p.stat().st_mode | 0o200)
    return d
