"""command-service with real daemons: a command run on a terminal for each
connection to the service, reached with receptorctl connect across the mesh
(upstream pkg/services/command.go)."""
import os
import subprocess

from conftest import BUILD, RECEPTOR, wait_for

RECEPTORCTL = os.path.join(BUILD, "src", "cmd", "receptorctl")


def two_nodes(mesh, command, service="shell"):
    a = mesh.node("a")
    b = mesh.node("b", peers=["a"],
                  extra=[{"command-service": {"service": service, "command": command}}])
    a.start()
    b.start()
    wait_for(lambda: "b" in a.routes(), 20, "route to b")
    a.wait_advert("b", service, timeout=20)
    return a, b


def connect(node, target, service, data):
    r = subprocess.run([RECEPTORCTL, "--socket", node.sock, "connect", target, service],
                       input=data, capture_output=True, timeout=60)
    return r.returncode, r.stdout.decode(errors="replace")


def test_command_service_runs_the_command_per_connection(mesh):
    a, b = two_nodes(mesh, "sh -c 'read line; echo \"got:$line\"; tr a-z A-Z'")
    # the advertisement says what it is, as upstream's
    assert a.advert("b", "shell")["Tags"] == {"type": "Command Service"}
    rc, out = connect(a, "b", "shell", b"hello\nmore words\n")
    assert rc == 0
    # a terminal: input is echoed, lines end in CR LF
    assert "got:hello\r\n" in out
    assert "MORE WORDS\r\n" in out
    # stdin EOF ended tr, so the command ended and the connection closed;
    # a second connection runs a fresh command
    rc, out = connect(a, "b", "shell", b"again\n")
    assert rc == 0 and "got:again\r\n" in out
    assert "exited with status 0" in b.logtext()


def test_command_service_output_and_exit_without_input(mesh):
    """A command that ends on its own closes the connection after all of its
    output, while the client still has stdin open."""
    a, b = two_nodes(mesh, "sh -c 'seq 1 50000; exit 3'")
    p = subprocess.Popen([RECEPTORCTL, "--socket", a.sock, "connect", "b", "shell"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    out = p.stdout.read()  # stdin still open: the command's end ends the connection
    p.stdin.close()
    assert p.wait(30) == 0
    # every byte, then receptorctl's own newline at the end
    want = b"".join(b"%d\r\n" % i for i in range(1, 50001)) + b"\n"
    assert len(out) == len(want) and out == want, out[-300:]
    wait_for(lambda: "exited with status 3" in b.logtext(), 10, "exit logged")


def test_command_service_command_that_cannot_run(mesh):
    a, b = two_nodes(mesh, "/nonexistent/program --flag")
    rc, out = connect(a, "b", "shell", b"x\n")
    assert rc == 0
    assert "cannot run the command: No such file or directory" in out
    wait_for(lambda: "exited with status 127" in b.logtext(), 10, "exit logged")
    # the daemon keeps serving
    assert b.status()["NodeID"] == "b"


def test_command_service_hangs_up_the_command_when_the_peer_goes(mesh):
    """The connecting node going away closes the stream, which hangs the
    terminal up: the command is ended by SIGHUP."""
    a, b = two_nodes(mesh, "sleep 1000")
    p = subprocess.Popen([RECEPTORCTL, "--socket", a.sock, "connect", "b", "shell"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    wait_for(lambda: "running sleep" in b.logtext(), 20, "command started")
    a.stop()
    p.kill()
    p.wait()
    wait_for(lambda: "killed by signal 1" in b.logtext(), 60, "command hung up")
    assert b.status()["NodeID"] == "b"


def startup_output(tmp_path, entries):
    """Runs receptor on a local-only config with entries; it must stop:
    returns what it printed."""
    cfg = tmp_path / "r.yml"
    cfg.write_text("---\n- node:\n    id: x\n- local-only\n" + entries)
    r = subprocess.run([RECEPTOR, "--config", str(cfg)], capture_output=True, timeout=30)
    assert r.returncode != 0
    return r.stdout + r.stderr


def test_command_service_config_errors(tmp_path):
    out = startup_output(tmp_path, "- command-service:\n    service: s\n    command: \"'unterminated\"\n")
    assert b"command-service s" in out
    # a TLS config that does not exist
    out = startup_output(tmp_path, "- command-service:\n    service: s\n    command: cat\n    tls: nosuch\n")
    assert b"command-service: unknown tls-server nosuch" in out


def test_work_python_is_still_refused(tmp_path):
    out = startup_output(tmp_path, "- work-python:\n    worktype: w\n    plugin: p\n    function: f\n")
    assert b"work-python is not supported: it is deprecated upstream" in out
