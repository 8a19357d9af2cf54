"""Ports for daemons to listen on, shared by every suite of this project
(tests/integration, its runner suite, the local registry of the isolation
tests).

A port is chosen here and bound later by the daemon, so it must not be
handed out twice meanwhile: bind(0) returned the same port for two nodes of
one mesh (seen in CI: "address already in use"), and outgoing connections
of a suite running beside this one take ports from the same ephemeral
range.  So ports come from below that range, each claimed by a file in
PORT_CLAIMS that every suite of the same user honours; a suite's claims go
when it exits, and a claim older than PORT_CLAIM_MAX_AGE (a suite killed)
is taken over."""
import atexit
import os
import random
import socket
import time

PORT_CLAIMS = f"/tmp/receptor-test-ports-{os.getuid()}"
PORT_CLAIM_MAX_AGE = 3 * 3600
_claimed = []


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _claim(port):
    path = os.path.join(PORT_CLAIMS, str(port))
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        try:
            if time.time() - os.stat(path).st_mtime < PORT_CLAIM_MAX_AGE:
                return False
            os.unlink(path)
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except OSError:
            return False
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    _claimed.append(path)
    return True


@atexit.register
def _release_claims():
    for path in _claimed:
        try:
            os.unlink(path)
        except OSError:
            pass


def free_port(kind="tcp"):
    os.makedirs(PORT_CLAIMS, exist_ok=True)
    high = min(_ephemeral_low(), 65536)
    low = 10000 if high > 12000 else 1024
    rnd = random.SystemRandom()
    for _ in range(1000):
        port = rnd.randrange(low, high)
        s = socket.socket(type=socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            s.close()
        if _claim(port):
            return port
    raise RuntimeError("no free port to claim below the ephemeral range")
