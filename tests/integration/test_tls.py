"""TLS with real daemons: certificates made by our own --cert-* commands
(checked with certtool, openssl and the spec's SAN bytes), TCP backend
links with mutual TLS, every failure mode with a log line naming the peer
and the reason, mintls13, the control service's tcptls port, and
certificate rotation through `reload` without dropping established links.
"""
import hashlib
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import RECEPTOR, SANITIZED, SLOW, free_port, wait_for

SPEC_SAN = "302182096C6F63616C686F7374A01406092B0601040192081301A0070C056E6F646531"
PEER = r"tls 127\.0\.0\.1:\d+"


def clean(r):
    """A finished receptor run, checked for sanitizer reports."""
    assert "Sanitizer" not in r.stderr and "runtime error:" not in r.stderr, r.stderr[-4000:]
    return r


def receptor(*args, stdin=None):
    return clean(subprocess.run([RECEPTOR, *args], capture_output=True, text=True, input=stdin,
                                timeout=120 * SLOW))


def run_config(node):
    node.write_config()
    return clean(subprocess.run([RECEPTOR, "--config", node.config_path], capture_output=True, text=True,
                                timeout=60 * SLOW))


class PKI:
    def __init__(self, d):
        self.d = str(d)

    def path(self, name):
        return os.path.join(self.d, name)

    def ca(self, name):
        r = receptor("--cert-init", f"commonname={name} CA", "bits=2048",
                     f"outcert={self.path(name + '.crt')}", f"outkey={self.path(name + '.key')}")
        assert r.returncode == 0, r.stderr

    def cert(self, name, ca, nodeids, dns=("localhost",), ips=("127.0.0.1",), notbefore=None,
             notafter=None):
        args = ["--cert-makereq", "bits=2048", f"commonname={name}",
                f"outreq={self.path(name + '.csr')}", f"outkey={self.path(name + '.key')}"]
        args += [f"dnsname={x}" for x in dns] + [f"ipaddress={x}" for x in ips]
        args += [f"nodeid={x}" for x in nodeids]
        r = receptor(*args)
        assert r.returncode == 0, r.stderr
        args = ["--cert-signreq", f"req={self.path(name + '.csr')}", f"cacert={self.path(ca + '.crt')}",
                f"cakey={self.path(ca + '.key')}", f"outcert={self.path(name + '.crt')}", "verify=true"]
        if notbefore:
            args += [f"notbefore={notbefore}", f"notafter={notafter}"]
        r = receptor(*args)
        assert r.returncode == 0, r.stderr

    def der(self, name):
        r = subprocess.run(["openssl", "x509", "-in", self.path(name + ".crt"), "-outform", "DER"],
                           capture_output=True, check=True)
        return r.stdout

    def sha256(self, name, colons=True):
        h = hashlib.sha256(self.der(name)).hexdigest().upper()
        return ":".join(h[i:i + 2] for i in range(0, len(h), 2)) if colons else h


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    p = PKI(tmp_path_factory.mktemp("pki"))
    p.ca("ca")
    p.ca("other")
    p.cert("node1", "ca", ["node1"])
    p.cert("node1b", "ca", ["node1"])                      # rotation target
    p.cert("node2", "ca", ["node2"])
    p.cert("node2-other", "other", ["node2"])             # signed by the wrong CA
    p.cert("node1-expired", "ca", ["node1"], notbefore="2020-01-01T00:00:00Z",
           notafter="2021-01-01T00:00:00Z")
    p.cert("node1-example", "ca", ["node1"], dns=("example.com",), ips=())
    return p


# ---- the certificate commands -------------------------------------------------------


def test_cert_validity_may_reach_the_year_9999(pki):
    """Go parses any RFC 3339 year; the time parser that also reads mesh
    adverts refuses years past 2262 (int64 nanoseconds), so certificate
    validity is parsed to the second."""
    pki.cert("node1-long", "ca", ["node1"], notbefore="2020-01-01T00:00:00Z",
             notafter="9999-12-31T23:59:59Z")
    r = subprocess.run(["openssl", "x509", "-in", pki.path("node1-long.crt"), "-noout", "-enddate"],
                       capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "notAfter=Dec 31 23:59:59 9999 GMT", r.stdout


def test_cert_commands_verify_with_certtool_and_openssl(pki):
    r = subprocess.run(["certtool", "--verify", "--load-ca-certificate", pki.path("ca.crt"),
                        "--infile", pki.path("node1.crt")], capture_output=True, text=True)
    assert r.returncode == 0 and "Verified" in r.stdout, r.stdout + r.stderr
    r = subprocess.run(["openssl", "verify", "-CAfile", pki.path("ca.crt"), pki.path("node1.crt")],
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip().endswith(": OK"), r.stdout + r.stderr
    r = subprocess.run(["openssl", "verify", "-CAfile", pki.path("other.crt"), pki.path("node1.crt")],
                       capture_output=True, text=True)
    assert r.returncode != 0


def san_hex(path, kind="x509"):
    out = subprocess.run(["openssl", "asn1parse", "-in", path], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    for i, line in enumerate(out):
        if "X509v3 Subject Alternative Name" in line:
            return out[i + 1].split("[HEX DUMP]:")[1].strip()
    raise AssertionError(f"no SAN in {path}")


def test_cert_san_bytes_as_spec(pki, tmp_path):
    r = receptor("--cert-makereq", "bits=2048", "commonname=n1", "dnsname=localhost", "nodeid=node1",
                 f"outreq={tmp_path}/r.csr", f"outkey={tmp_path}/r.key")
    assert r.returncode == 0, r.stderr
    r = receptor("--cert-signreq", f"req={tmp_path}/r.csr", f"cacert={pki.path('ca.crt')}",
                 f"cakey={pki.path('ca.key')}", f"outcert={tmp_path}/r.crt", "verify=yes")
    assert r.returncode == 0, r.stderr
    assert san_hex(f"{tmp_path}/r.csr") == SPEC_SAN
    assert san_hex(f"{tmp_path}/r.crt") == SPEC_SAN
    # OpenSSL writes the same bytes for the same names (spec 7.4)
    subprocess.run(["openssl", "req", "-new", "-key", f"{tmp_path}/r.key", "-subj", "/CN=n1", "-out",
                    f"{tmp_path}/o.csr", "-addext",
                    "subjectAltName = DNS:localhost, otherName:1.3.6.1.4.1.2312.19.1;UTF8:node1"],
                   check=True, capture_output=True)
    assert san_hex(f"{tmp_path}/o.csr") == SPEC_SAN


def test_cert_files_formats(pki):
    for name, header in (("ca.crt", "CERTIFICATE"), ("ca.key", "RSA PRIVATE KEY"),
                         ("node1.csr", "CERTIFICATE REQUEST"), ("node1.key", "RSA PRIVATE KEY")):
        with open(pki.path(name)) as f:
            assert f.readline() == f"-----BEGIN {header}-----\n", name
        assert os.stat(pki.path(name)).st_mode & 0o777 == 0o600, name
    ca = subprocess.run(["openssl", "x509", "-in", pki.path("ca.crt"), "-noout", "-text"],
                        capture_output=True, text=True, check=True).stdout
    assert "CA:TRUE" in ca and "Certificate Sign" in ca and "Digital Signature" in ca
    assert "TLS Web Client Authentication, TLS Web Server Authentication" in ca
    leaf = subprocess.run(["openssl", "x509", "-in", pki.path("node1.crt"), "-noout", "-text"],
                          capture_output=True, text=True, check=True).stdout
    assert "CA:TRUE" not in leaf and "sha256WithRSAEncryption" in leaf
    assert "TLS Web Client Authentication, TLS Web Server Authentication" in leaf


def test_cert_signreq_prompt_and_errors(pki, tmp_path):
    out = f"{tmp_path}/x.crt"
    base = ["--cert-signreq", f"req={pki.path('node1.csr')}", f"cacert={pki.path('ca.crt')}",
            f"cakey={pki.path('ca.key')}", f"outcert={out}"]
    r = receptor(*base, stdin="no\n")
    assert r.returncode == 1 and "Error: user declined" in r.stderr
    assert "  Names:\n    DNS Name: localhost\n    IP Address: 127.0.0.1\n    Receptor Node ID: node1\n" \
        in r.stdout
    assert not os.path.exists(out)
    r = receptor(*base, stdin="y\n")
    assert r.returncode == 0 and os.path.exists(out), r.stderr
    r = receptor("--cert-makereq", "commonname=x", f"outreq={tmp_path}/x.csr")
    assert r.returncode == 1 and "must provide either InKey or OutKey" in r.stderr
    with open(f"{tmp_path}/garbage.pem", "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    r = receptor("--cert-signreq", f"req={tmp_path}/garbage.pem", f"cacert={pki.path('ca.crt')}",
                 f"cakey={pki.path('ca.key')}", f"outcert={out}", "verify=true")
    assert r.returncode == 1 and r.stderr.startswith("Error: ")


# ---- mesh links over TLS -------------------------------------------------------------


def server_item(pki, cert="node1", **opts):
    item = {"name": "srv", "cert": pki.path(cert + ".crt"), "key": pki.path(cert + ".key"),
            "requireclientcert": True, "clientcas": pki.path("ca.crt")}
    item.update(opts)
    return {"tls-server": item}


def client_item(pki, cert="node2", **opts):
    item = {"name": "cli", "cert": pki.path(cert + ".crt"), "key": pki.path(cert + ".key"),
            "rootcas": pki.path("ca.crt")}
    item.update(opts)
    return {"tls-client": item}


def tls_pair(mesh, pki, server=None, client=None, host="localhost"):
    port = mesh.port("node1")
    n1 = mesh.node("node1", listen=False, extra=[
        server or server_item(pki),
        {"tcp-listener": {"port": port, "bindaddr": "127.0.0.1", "tls": "srv"}}])
    n2 = mesh.node("node2", listen=False, extra=[
        client or client_item(pki),
        {"tcp-peer": {"address": f"{host}:{port}", "tls": "cli"}}])
    n1.start()
    n2.start()
    return n1, n2


def log_line(node, pattern, timeout=15):
    return wait_for(lambda: re.search(pattern, node.logtext()), timeout, f"{node.name} log {pattern!r}")


def test_mutual_tls_link(mesh, pki):
    n1, n2 = tls_pair(mesh, pki)
    wait_for(lambda: "node1" in n2.routes() and "node2" in n1.routes(), 20, "TLS link")
    log_line(n1, rf"Connection established with node2 \({PEER}\)")
    log_line(n2, r"Connection established with node1 \(tls 127\.0\.0\.1:\d+\)")


def echo_server(port_holder):
    """Accepts one connection and echoes it until EOF."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    port_holder.append(ls.getsockname()[1])
    c, _ = ls.accept()
    ls.close()
    while True:
        d = c.recv(1 << 20)
        if not d:
            break
        c.sendall(d)
    c.shutdown(socket.SHUT_WR)
    c.close()


def test_stream_traffic_over_tls_link(mesh, pki):
    """A QUIC stream (tcp-server -> tcp-client proxies) across the TLS link,
    both directions at once: the TLS filter under load and back-pressure."""
    size = (8 << 20) if SANITIZED else (64 << 20)
    holder = []
    srv = threading.Thread(target=echo_server, args=(holder,), daemon=True)
    srv.start()
    wait_for(lambda: holder, 5, "echo server")
    in_port = free_port()
    port = mesh.port("node1")
    n1 = mesh.node("node1", listen=False, extra=[
        server_item(pki), {"tcp-listener": {"port": port, "bindaddr": "127.0.0.1", "tls": "srv"}},
        {"tcp-client": {"service": "fwd", "address": f"127.0.0.1:{holder[0]}"}}])
    n2 = mesh.node("node2", listen=False, extra=[
        client_item(pki), {"tcp-peer": {"address": f"localhost:{port}", "tls": "cli"}},
        {"tcp-server": {"port": in_port, "bindaddr": "127.0.0.1", "remotenode": "node1",
                        "remoteservice": "fwd"}}])
    n1.start()
    n2.start()
    wait_for(lambda: "node1" in n2.routes() and "node2" in n1.routes(), 20, "TLS link")
    assert n2.cmd("ping node1")["Success"]
    data = os.urandom(1 << 20)
    sent = hashlib.sha256()
    s = socket.create_connection(("127.0.0.1", in_port), timeout=60 * SLOW)

    def sender():
        for _ in range(size >> 20):
            s.sendall(data)
            sent.update(data)
        s.shutdown(socket.SHUT_WR)

    t0 = time.monotonic()
    t = threading.Thread(target=sender)
    t.start()
    got, h = 0, hashlib.sha256()
    while True:
        d = s.recv(1 << 20)
        if not d:
            break
        got += len(d)
        h.update(d)
    t.join()
    s.close()
    elapsed = time.monotonic() - t0
    assert got == size and h.hexdigest() == sent.hexdigest()
    print(f"\n{2 * size / elapsed / 1e6:.0f} MB/s through one TLS link, both directions at once")


def test_ip_address_host(mesh, pki):
    n1, n2 = tls_pair(mesh, pki, host="127.0.0.1")
    wait_for(lambda: "node1" in n2.routes(), 20, "TLS link to an IP address")


def test_client_without_certificate(mesh, pki):
    n1 = mesh.node("node1", listen=False, extra=[
        server_item(pki), {"tcp-listener": {"port": mesh.port("node1"), "bindaddr": "127.0.0.1", "tls": "srv"}}])
    n1.start()
    ctx = ssl.create_default_context(cafile=pki.path("ca.crt"))
    with socket.create_connection(("127.0.0.1", mesh.port("node1")), timeout=10) as s:
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            with ctx.wrap_socket(s, server_hostname="localhost") as t:
                t.recv(100)  # TLS 1.3: the refusal arrives after the client's Finished
                raise ConnectionError("closed")
    log_line(n1, rf"ERROR .*TLS handshake failed: {PEER}: peer certificate missing")


def test_plain_peer_to_tls_listener(mesh, pki):
    port = mesh.port("node1")
    n1 = mesh.node("node1", listen=False, extra=[
        server_item(pki), {"tcp-listener": {"port": port, "bindaddr": "127.0.0.1", "tls": "srv"}}])
    n2 = mesh.node("node2", listen=False, extra=[{"tcp-peer": {"address": f"127.0.0.1:{port}"}}])
    n1.start()
    n2.start()
    # the dialer waits up to 60 s for an answer, so the listener's own 15 s
    # handshake timeout is what ends it
    log_line(n1, rf"TLS handshake failed: {PEER}: ", timeout=30)
    # and garbage that looks like a TLS record header
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"\x16\x03\x01\xff\xff" + os.urandom(4096))
        s.settimeout(10 * SLOW)
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
    assert n1.status()["NodeID"] == "node1"


def test_tls_peer_to_plain_listener(mesh, pki):
    port = mesh.port("node1")
    n1 = mesh.node("node1", listen=False, extra=[
        {"tcp-listener": {"port": port, "bindaddr": "127.0.0.1"}}])
    n2 = mesh.node("node2", listen=False, extra=[
        client_item(pki), {"tcp-peer": {"address": f"localhost:{port}", "tls": "cli"}}])
    n1.start()
    n2.start()
    log_line(n2, r"Backend connection failed \(will retry\): dial tcp localhost:\d+: tls 127\.0\.0\.1:\d+: ",
             timeout=30)
    assert "node1" not in n2.routes()


def test_client_cert_from_wrong_ca(mesh, pki):
    n1, n2 = tls_pair(mesh, pki, client=client_item(pki, cert="node2-other"))
    log_line(n1, rf"TLS handshake failed: {PEER}: x509: certificate signed by unknown authority")
    log_line(n2, r"tls 127\.0\.0\.1:\d+: remote error: ")
    assert "node2" not in n1.routes()


def test_server_cert_from_wrong_ca(mesh, pki):
    n1, n2 = tls_pair(mesh, pki, client=client_item(pki, rootcas=pki.path("other.crt")))
    log_line(n2, r"Backend connection failed \(will retry\): dial tcp localhost:\d+: "
                 r"tls 127\.0\.0\.1:\d+: x509: certificate signed by unknown authority")
    assert "node1" not in n2.routes()


def test_expired_certificate(mesh, pki):
    n1, n2 = tls_pair(mesh, pki, server=server_item(pki, cert="node1-expired"))
    log_line(n2, r"tls 127\.0\.0\.1:\d+: x509: certificate has expired or is not yet valid: "
                 r"current time \S+ is after 2021-01-01T00:00:00Z")


def test_host_name_mismatch(mesh, pki):
    n1, n2 = tls_pair(mesh, pki, server=server_item(pki, cert="node1-example"))
    log_line(n2, r"tls 127\.0\.0\.1:\d+: x509: certificate is valid for example\.com, not localhost")


def test_pinned_fingerprint_mismatch(mesh, pki):
    wrong = pki.sha256("node2")
    n1, n2 = tls_pair(mesh, pki, client=client_item(pki, pinnedservercert=[wrong]))
    log_line(n2, r"tls 127\.0\.0\.1:\d+: presented certificate does not match any pinned fingerprint")
    assert "node1" not in n2.routes()


def test_pinned_fingerprint_match(mesh, pki):
    right = pki.sha256("node1", colons=False).lower()
    n1, n2 = tls_pair(mesh, pki, client=client_item(pki, pinnedservercert=["00" * 64, right]),
                      server=server_item(pki, pinnedclientcert=[pki.sha256("node2")]))
    wait_for(lambda: "node1" in n2.routes(), 20, "TLS link with pins")


def test_pinned_client_mismatch(mesh, pki):
    n1, n2 = tls_pair(mesh, pki, server=server_item(pki, pinnedclientcert=[pki.sha256("node1")]))
    log_line(n1, rf"TLS handshake failed: {PEER}: presented certificate does not match any pinned fingerprint")


def test_bad_fingerprint_is_a_startup_error(mesh, pki):
    n1 = mesh.node("node1", extra=[server_item(pki, pinnedclientcert=["AB:CD"])])
    r = run_config(n1)
    assert r.returncode == 1
    assert "error preparing tls server config: error decoding fingerprints: " \
           "fingerprints must be 32 or 64 bytes for sha256 or sha512" in r.stderr


def test_node_id_startup_check(mesh, pki):
    n1 = mesh.node("node1", extra=[server_item(pki, cert="node2")])
    r = run_config(n1)
    assert r.returncode == 1
    assert (f"Error: error preparing tls server config: nodeID=node1 not found in certificate name(s); "
            f"names found=[node2]; cfg section=srv; server cert={pki.path('node2.crt')}") in r.stderr
    # skipreceptornamescheck lets it start
    i = next(k for k, item in enumerate(n1.config) if "tls-server" in item)
    n1.config[i] = server_item(pki, cert="node2", skipreceptornamescheck=True)
    n1.start()
    assert n1.status()["NodeID"] == "node1"


def test_unknown_tls_name(mesh, pki):
    n1 = mesh.node("node1", listen=False, extra=[
        {"tcp-listener": {"port": mesh.port("node1"), "tls": "nope"}}])
    r = run_config(n1)
    assert r.returncode == 1 and "unknown TLS config nope" in r.stderr


def test_mintls13(mesh, pki):
    n1, n2 = tls_pair(mesh, pki, server=server_item(pki, mintls13=True))
    wait_for(lambda: "node1" in n2.routes(), 20, "TLS 1.3 link")
    # a TLS 1.2 client is refused, and the log says who and why
    ctx = ssl.create_default_context(cafile=pki.path("ca.crt"))
    ctx.load_cert_chain(pki.path("node2.crt"), pki.path("node2.key"))
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", mesh.port("node1")), timeout=10) as s:
        with pytest.raises(ssl.SSLError):
            ctx.wrap_socket(s, server_hostname="localhost")
    log_line(n1, rf"TLS handshake failed: {PEER}: .*(version|protocol)")


def test_tls12_allowed_without_mintls13(mesh, pki):
    n1 = mesh.node("node1", listen=False, extra=[
        server_item(pki), {"tcp-listener": {"port": mesh.port("node1"), "bindaddr": "127.0.0.1", "tls": "srv"}}])
    n1.start()
    ctx = ssl.create_default_context(cafile=pki.path("ca.crt"))
    ctx.load_cert_chain(pki.path("node2.crt"), pki.path("node2.key"))
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", mesh.port("node1")), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            assert t.version() == "TLSv1.2"
            assert t.cipher()[0] in ("ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES128-GCM-SHA256",
                                     "AES256-GCM-SHA384")


# ---- the control service's TCP port ---------------------------------------------------


def control_tls_node(mesh, pki):
    port = free_port()
    n1 = mesh.node("node1", extra=[server_item(pki), {"control-service": {
        "service": "", "tcplisten": f"127.0.0.1:{port}", "tcptls": "srv"}}])
    n1.start()
    return n1, port


def test_control_tcptls(mesh, pki):
    n1, port = control_tls_node(mesh, pki)
    ctx = ssl.create_default_context(cafile=pki.path("ca.crt"))
    ctx.load_cert_chain(pki.path("node2.crt"), pki.path("node2.key"))
    with socket.create_connection(("127.0.0.1", port), timeout=10 * SLOW) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            f = t.makefile("rwb")
            assert f.readline() == b"Receptor Control, node node1\n"
            f.write(b"status\n")
            f.flush()
            assert b'"NodeID":"node1"' in f.readline()


def test_control_tcptls_refuses_without_client_cert(mesh, pki):
    n1, port = control_tls_node(mesh, pki)
    ctx = ssl.create_default_context(cafile=pki.path("ca.crt"))
    with socket.create_connection(("127.0.0.1", port), timeout=10 * SLOW) as s:
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            with ctx.wrap_socket(s, server_hostname="localhost") as t:
                if not t.recv(100):
                    raise ConnectionError("closed")
    log_line(n1, rf"ERROR .*Control service TLS handshake error: {PEER}: peer certificate missing")


def test_control_tcptls_handshake_timeout(mesh, pki):
    n1, port = control_tls_node(mesh, pki)
    with socket.create_connection(("127.0.0.1", port), timeout=30 * SLOW) as s:
        t0 = time.time()
        assert s.recv(100) == b""  # never a greeting in plain text; closed after 10 s
        assert 8 < time.time() - t0 < 20 * SLOW
    log_line(n1, rf"Control service TLS handshake error: {PEER}: TLS handshake timed out after 10 s")


# ---- certificate rotation ---------------------------------------------------------------


def peer_cert_sha256(port, pki):
    ctx = ssl.create_default_context(cafile=pki.path("ca.crt"))
    ctx.load_cert_chain(pki.path("node2.crt"), pki.path("node2.key"))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            return hashlib.sha256(t.getpeercert(binary_form=True)).hexdigest()


def test_rotation_through_reload(mesh, pki):
    live = mesh.dir + "/live"
    os.makedirs(live)
    shutil.copy(pki.path("node1.crt"), live + "/srv.crt")
    shutil.copy(pki.path("node1.key"), live + "/srv.key")
    server = server_item(pki)
    server["tls-server"].update(cert=live + "/srv.crt", key=live + "/srv.key")
    n1, n2 = tls_pair(mesh, pki, server=server)
    wait_for(lambda: "node1" in n2.routes() and "node2" in n1.routes(), 20, "TLS link")
    port = mesh.port("node1")
    old = hashlib.sha256(pki.der("node1")).hexdigest()
    new = hashlib.sha256(pki.der("node1b")).hexdigest()
    assert peer_cert_sha256(port, pki) == old
    established = n1.logtext().count("Connection established with node2")

    shutil.copy(pki.path("node1b.crt"), live + "/srv.crt")
    shutil.copy(pki.path("node1b.key"), live + "/srv.key")
    assert n1.cmd("reload") == {"Success": True}
    assert peer_cert_sha256(port, pki) == new     # new handshakes: the new certificate
    time.sleep(2 * SLOW)
    assert "node1" in n2.routes()                 # the established link stayed up
    assert n1.logtext().count("Connection established with node2") == established

    # a broken file is refused and the previous certificate stays in use
    with open(live + "/srv.crt", "w") as f:
        f.write("garbage\n")
    c = n1.ctl()
    try:
        reply = c.line("reload")
    finally:
        c.close()
    reply = json.loads(reply)
    assert reply["Success"] is False and reply["Error"].endswith("ERRORCODE 4"), reply
    assert peer_cert_sha256(port, pki) == new
    assert "node1" in n2.routes()


def test_command_service_over_tls(mesh, pki):
    """command-service's `tls` names the tls-server its mesh listener uses:
    a dial with the matching tls-client gets the command; a plain dial does
    not."""
    n1, n2 = tls_pair(mesh, pki, server=server_item(pki))
    n1.stop()
    n1.config.append({"command-service": {"service": "shell", "command": "sh -c 'echo over-tls'",
                                          "tls": "srv"}})
    n1.start()
    wait_for(lambda: "node1" in n2.routes(), 20 * SLOW, "route to node1")
    n2.wait_advert("node1", "shell", timeout=20)
    ctl = os.path.join(os.path.dirname(RECEPTOR), "receptorctl")
    r = subprocess.run([ctl, "--socket", n2.sock, "connect", "--tls-client", "cli", "node1", "shell"],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    assert b"over-tls\r\n" in r.stdout, r.stdout + r.stderr
    r = subprocess.run([ctl, "--socket", n2.sock, "connect", "node1", "shell"],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    assert b"over-tls" not in r.stdout
