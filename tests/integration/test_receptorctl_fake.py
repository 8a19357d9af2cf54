"""A fake Receptor control service that replays upstream's bytes.

receptorctl's integration tests talk to this server instead of a daemon: it
listens on a unix socket (or TCP, optionally TLS), greets every connection
with ``Receptor Control, node <id>``, reads command lines one byte at a time
as upstream does, and answers with the exact replies captured from upstream
receptor (tests/vectors/receptor/control-transcripts.md) or with replies a
test sets up.  It models just enough state for the work commands: submit (with
the stdin phase that ends at the client's half-close), results streaming
(then close), status, list, cancel, release.

Everything the client sends is recorded (``lines``, ``payloads``,
``half_closed``) so tests can assert the protocol, not only the output.
"""

import json
import os
import re
import socket
import ssl
import struct
import threading

CLOSE = object()


def unescape_transcript(text):
    """Undo control-transcripts.md escaping (\\n, \\r, \\t, \\\\, \\xNN)."""
    out = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\":
            out += ch.encode()
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "x":
            out.append(int(text[i + 2:i + 4], 16))
            i += 4
            continue
        out += {"n": b"\n", "r": b"\r", "t": b"\t", "\\": b"\\"}[nxt]
        i += 2
    return bytes(out)


def load_transcript_replies(path):
    """Maps each client line of the transcripts to the server bytes that
    answered it first."""
    replies = {}
    last_cmd = None
    pattern = re.compile(r"^\[\s*[\d.]+\] (C->S|S->C) (.*)$")
    with open(path, encoding="utf-8") as f:
        for raw in f:
            m = pattern.match(raw.rstrip("\n"))
            if not m:
                continue
            data = unescape_transcript(m.group(2))
            if m.group(1) == "C->S":
                last_cmd = data
            elif last_cmd is not None:
                replies.setdefault(last_cmd, data)
                last_cmd = None
    return replies


def go_json(value, struct_order=None):
    """Compact JSON as Go writes it: map keys sorted, struct fields in the
    given order, no spaces, <>& escaped."""
    text = _go_json(value, struct_order or {}, None)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _go_json(value, struct_order, context):
    if isinstance(value, dict):
        order = struct_order.get(context)
        keys = [k for k in order if k in value] if order else sorted(value)
        parts = []
        for k in keys:
            child_ctx = k if isinstance(value[k], (dict, list)) else None
            parts.append(json.dumps(k, ensure_ascii=False) + ":" + _go_json(value[k], struct_order, child_ctx))
        return "{" + ",".join(parts) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_go_json(v, struct_order, context + "[]" if context else None) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


STATUS_ORDER = {
    "Advertisements[]": ["NodeID", "Service", "Time", "ConnType", "Tags", "WorkCommands"],
    "Connections[]": ["NodeID", "Cost"],
    "WorkCommands[]": ["WorkType", "Secure"],
}


class Unit:
    def __init__(self, unit_id, worktype, stdout=b"", state=2, detail="exit status 0"):
        self.unit_id = unit_id
        self.worktype = worktype
        self.stdout = stdout
        self.state = state
        self.detail = detail

    def status(self):
        names = ["Pending", "Running", "Succeeded", "Failed", "Canceled"]
        return {"Detail": self.detail, "ExtraData": None, "State": self.state,
                "StateName": names[self.state], "StdoutSize": len(self.stdout),
                "WorkType": self.worktype}


class FakeControl:
    """One fake node.  ``replies`` maps a command line (bytes, without the
    newline) to the bytes to answer; a list value is consumed in order."""

    def __init__(self, node_id="A", version="", transcripts=None):
        self.node_id = node_id
        self.version = version
        self.replies = {}
        if transcripts:
            for cmd, reply in load_transcript_replies(transcripts).items():
                self.replies[cmd.rstrip(b"\r\n")] = reply
        self.units = {}
        self.next_unit = "sUHen3zS"
        self.unit_output = b""   # what a submitted unit "prints": its stdin unless set
        self.unit_state = 2
        self.unit_detail = "exit status 0"
        self.submit_error = None
        self.results_reset = False  # end results streams with a TCP reset, part way
        self.remote_nodes = {}   # node -> FakeControl reached by "connect N control"
        self.lines = []          # every command line received, in order
        self.connections = 0
        self.payloads = []
        self.half_closed = []    # per submit: was EOF seen after the payload
        self.lock = threading.Lock()
        self.listener = None
        self.threads = []
        self.address = None
        self.tls_context = None

    # ------------------------------------------------------------ listening

    def listen_unix(self, path):
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.address = path
        self._start()

    def listen_tcp(self, tls_context=None):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.address = self.listener.getsockname()[1]
        self.tls_context = tls_context
        self._start()

    def _start(self):
        self.listener.listen(16)
        t = threading.Thread(target=self._accept_loop, daemon=True)
        t.start()
        self.threads.append(t)

    def close(self):
        if self.listener:
            try:
                self.listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.listener.close()

    def _accept_loop(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            if self.tls_context:
                try:
                    conn = self.tls_context.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError):
                    conn.close()
                    continue
            t = threading.Thread(target=self.serve, args=(conn,), daemon=True)
            t.start()

    # ------------------------------------------------------------ session

    def serve(self, conn):
        with self.lock:
            self.connections += 1
        try:
            conn.sendall(f"Receptor Control, node {self.node_id}\n".encode())
            self._command_loop(conn)
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def _command_loop(self, conn):
        while True:
            line = read_line(conn)
            if line is None:
                return
            line = line.replace(b"\r", b"")
            if not line:
                continue
            with self.lock:
                self.lines.append(line)
            if self.dispatch(conn, line) is CLOSE:
                return

    def dispatch(self, conn, line):
        if line.startswith(b"{"):
            return self._json_command(conn, json.loads(line))
        words = line.decode().split(" ")
        if words[0] == "connect" and len(words) >= 3 and words[1] in self.remote_nodes:
            conn.sendall(b"Connecting\n")
            return self.remote_nodes[words[1]].serve(conn) or CLOSE
        if words[:2] == ["work", "results"]:
            return self._results(conn, words[2])
        if words[:2] == ["work", "status"] and words[2] in self.units:
            return self._send(conn, go_json(self.units[words[2]].status()))
        if words[:2] in (["work", "release"], ["work", "force-release"], ["work", "cancel"]) \
                and words[2] in self.units:
            key = "cancelled" if words[1] == "cancel" else "released"
            if key == "released":
                del self.units[words[2]]
            return self._send(conn, go_json({key: words[2]}))
        if words == ["work", "list"] and self.units:
            return self._send(conn, go_json({u.unit_id: u.status() for u in self.units.values()}))
        reply = self.replies.get(line)
        if isinstance(reply, list):
            reply = reply.pop(0) if reply else None
        if reply is None:
            reply = b"ERROR: Unknown command\n"
        conn.sendall(reply)
        return None

    def _send(self, conn, text):
        conn.sendall(text.encode() + b"\n")

    def _json_command(self, conn, cmd):
        if cmd.get("command") == "status" and cmd.get("requested_fields") == ["Version"]:
            return self._send(conn, go_json({"Version": self.version}))
        if cmd.get("command") == "work" and cmd.get("subcommand") == "submit":
            return self._submit(conn, cmd)
        reply = self.replies.get(json.dumps(cmd, separators=(",", ":")).encode())
        conn.sendall(reply or b"ERROR: Unknown command\n")
        return None

    def _submit(self, conn, cmd):
        if self.submit_error:
            conn.sendall(self.submit_error)
            return None
        unit_id = self.next_unit
        conn.sendall(f"Work unit created with ID {unit_id}. Send stdin data and EOF.\n".encode())
        data = bytearray()
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        with self.lock:
            self.payloads.append(bytes(data))
            self.half_closed.append(True)
        output = self.unit_output or bytes(data)
        self.units[unit_id] = Unit(unit_id, "remote" if cmd["node"] != self.node_id else cmd["worktype"],
                                   output, self.unit_state, self.unit_detail)
        self._send(conn, go_json({"result": "Job Started", "unitid": unit_id}))
        return CLOSE

    def _results(self, conn, unit_id):
        unit = self.units.get(unit_id)
        if not unit:
            conn.sendall(f"ERROR: unknown work unit {unit_id}\n".encode())
            return None
        conn.sendall(f"Streaming results for work unit {unit_id}\n".encode())
        if self.results_reset:
            conn.sendall(unit.stdout[:len(unit.stdout) // 2])
            # the reset comes after the client's half-close, as a stream cut
            # mid-way does; sent earlier, it races the client's shutdown(),
            # which then fails with ENOTCONN instead (the test saw both)
            conn.settimeout(30)
            try:
                while conn.recv(65536):
                    pass
            except OSError:
                pass
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return CLOSE  # close() now sends a reset instead of a FIN
        conn.sendall(unit.stdout)
        return CLOSE


def read_line(conn):
    """Reads one line byte by byte (no read-ahead, like upstream); None at EOF."""
    data = bytearray()
    while True:
        b = conn.recv(1)
        if not b:
            return None if not data else bytes(data)
        if b == b"\n":
            return bytes(data)
        data += b


def make_tls_files(directory):
    """A CA and a server certificate for 127.0.0.1/localhost (openssl CLI)."""
    import subprocess

    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-keyout", "ca.key", "-out", "ca.crt")
    with open(os.path.join(directory, "ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key",
        "-out", "server.csr")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "2", "-extfile", "ext.cnf", "-out", "server.crt")
    return {name: os.path.join(directory, name) for name in ("ca.crt", "server.crt", "server.key")}
