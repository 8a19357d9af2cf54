#!/usr/bin/env python3
"""Captures seeds for fuzz_quic: the QUIC packets a real receptor sends to a
control service over the mesh.  Two daemons (a with a TCP listener, b peering
to it) talk through a relay here that decodes the TCP framing (2-byte
little-endian length, spec 1) and keeps the payload of every data message
(type 0, 36-byte header, spec 3.2) addressed to service "control".  Each
`receptorctl`-style `connect` from b to a's control service gives one seed:
b's datagrams in order, each with the 2-byte length prefix fuzz_quic splits on.

usage: capture_seeds.py BUILD_DIR OUT_DIR [connections]"""
import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "integration"))
from conftest import free_port  # noqa: E402


def relay(src, dst, packets, lock):
    buf = b""
    while True:
        try:
            data = src.recv(65536)
        except OSError:
            data = b""
        if not data:
            dst.close()
            return
        dst.sendall(data)
        buf += data
        while len(buf) >= 2:
            n = buf[0] | buf[1] << 8
            if len(buf) < 2 + n:
                break
            msg, buf = buf[2:2 + n], buf[2 + n:]
            if len(msg) >= 36 and msg[0] == 0 and msg[28:36].rstrip(b"\0") == b"control":
                with lock:
                    packets.append(msg[36:])


def main():
    build, out = sys.argv[1], sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    os.makedirs(out, exist_ok=True)
    receptor = os.path.join(build, "src/cmd/receptor")
    tmp = tempfile.mkdtemp(prefix="quic-seeds-")
    pa, pr = free_port(), free_port()
    sock_a, sock_b = os.path.join(tmp, "a.sock"), os.path.join(tmp, "b.sock")
    cfg = {
        "a": f"---\n- node:\n    id: a\n    datadir: {tmp}/a\n- tcp-listener:\n    port: {pa}\n"
             f"- control-service:\n    service: control\n    filename: {sock_a}\n",
        "b": f"---\n- node:\n    id: b\n    datadir: {tmp}/b\n- tcp-peer:\n    address: 127.0.0.1:{pr}\n"
             f"- control-service:\n    filename: {sock_b}\n",
    }
    procs = []
    for name, text in cfg.items():
        path = os.path.join(tmp, name + ".yml")
        with open(path, "w") as f:
            f.write(text)
        procs.append(subprocess.Popen([receptor, "--config", path], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", pr))
    listener.listen(1)
    time.sleep(0.5)
    peer, _ = listener.accept()
    upstream = socket.create_connection(("127.0.0.1", pa))
    packets, lock = [], threading.Lock()
    threading.Thread(target=relay, args=(peer, upstream, packets, lock), daemon=True).start()
    threading.Thread(target=relay, args=(upstream, peer, [], lock), daemon=True).start()
    time.sleep(2)
    try:
        for i in range(count):
            with lock:
                packets.clear()
            c = socket.socket(socket.AF_UNIX)
            c.connect(sock_b)
            c.sendall(b"connect a control\n")
            c.settimeout(10)
            got = b""
            while b"\n" not in got:
                got += c.recv(4096)
            c.sendall(b"status\n" if i % 2 == 0 else b"work list\n")
            try:
                while c.recv(65536):
                    pass
            except socket.timeout:
                pass
            c.close()
            time.sleep(0.5)
            with lock:
                seed = b"".join(len(p).to_bytes(2, "little") + p for p in packets)
            if seed:
                name = hashlib.sha256(seed).hexdigest()[:16]
                with open(os.path.join(out, name), "wb") as f:
                    f.write(seed)
                print(f"seed {name}: {len(packets)} datagrams, {len(seed)} bytes")
    finally:
        for p in procs:
            p.terminate()
            p.wait()


if __name__ == "__main__":
    main()
