"""chatstack preflight, run as an operator runs it: on this machine (its
JSON compared with nproc, free, df and /etc/os-release), against a real
listener holding one of its ports, with a waiver, and on fixture roots."""
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest

TOP = pathlib.Path(__file__).resolve().parents[2]
FIXTURE = TOP / "tests" / "fixtures" / "preflight" / "debian12"
# Our own port range (24000-24999); 241xx for this file.
BASE = 24100


def run(*args, env=None, **kw):
    e = dict(os.environ)
    e.pop("NO_COLOR", None)
    if env:
        e.update(env)
    return subprocess.run(list(args), capture_output=True, text=True,
                          env=e, timeout=60, **kw)


def answers(tmp_path, waive=None, profile="small", hostname="localhost"):
    text = f"""version: 1
profile: {profile}
hostname: {hostname}
bind_address: 127.0.0.1
components:
  mariadb: {{ port: {BASE + 1} }}
  redis: {{ port: {BASE + 2} }}
  rabbitmq: {{ port: {BASE + 3}, dist_port: {BASE + 4}, epmd_port: {BASE + 5} }}
  chatd: {{ instances: 2, port: {BASE + 6} }}
  nginx: {{ http_port: {BASE + 8}, https_port: {BASE + 9} }}
"""
    if waive:
        text += "preflight:\n  waive:\n"
        for check, reason in waive:
            text += f'    - {{ check: {check}, reason: "{reason}" }}\n'
    path = tmp_path / "site.yaml"
    path.write_text(text)
    path.chmod(0o600)
    return str(path)


def check(doc, cid):
    for c in doc["checks"]:
        if c["id"] == cid:
            return c
    raise AssertionError(f"no check {cid} in the report")


def preflight_json(chatstack, *args):
    r = run(chatstack, "preflight", "--json", *args)
    assert r.returncode in (0, 1), r.stderr
    doc = json.loads(r.stdout)
    assert r.returncode == (0 if doc["ok"] else 1)
    return doc


@pytest.fixture
def listener():
    """A real process listening on a port of the answers (chatd's)."""
    port = BASE + 6
    code = ("import socket,sys,time\n"
            "s=socket.socket()\n"
            "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
            f"s.bind(('127.0.0.1',{port}))\n"
            "s.listen()\n"
            "print('ready',flush=True)\n"
            "time.sleep(120)\n")
    p = subprocess.Popen(["/usr/bin/python3", "-c", code],
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        yield port, p.pid
    finally:
        p.kill()
        p.wait()


def test_preflight_json_matches_nproc_free_df_and_os_release(chatstack):
    doc = preflight_json(chatstack, "--profile", "small", "--offline")
    assert doc["profile"] == "small"

    nproc = int(run("nproc").stdout)
    assert check(doc, "cpu.cores")["data"]["cores"] == nproc

    mem = run("free", "-b").stdout.splitlines()[1].split()
    assert mem[0] == "Mem:"
    assert check(doc, "memory.total")["data"]["total_bytes"] == int(mem[1])
    swap = run("free", "-b").stdout.splitlines()[2].split()
    assert check(doc, "swap")["data"]["total_bytes"] == int(swap[1])

    for fs in check(doc, "disk.free")["data"]["filesystems"]:
        out = run("df", "-B1", "--output=size,avail",
                  fs["checked"]).stdout.splitlines()[1].split()
        assert fs["total_bytes"] == int(out[0])
        # Free space moves while other work runs: within 256 MiB.
        assert abs(fs["avail_bytes"] - int(out[1])) < 256 << 20
        out = run("df", "--output=itotal,iavail",
                  fs["checked"]).stdout.splitlines()[1].split()
        assert fs["total_inodes"] == int(out[0])
        assert abs(fs["avail_inodes"] - int(out[1])) < 100000

    rel = dict(line.split("=", 1) for line in
               pathlib.Path("/etc/os-release").read_text().splitlines()
               if "=" in line)
    distro = check(doc, "os.distro")["data"]
    assert distro["id"] == rel["ID"].strip('"')
    assert distro["version_id"] == rel["VERSION_ID"].strip('"')
    assert check(doc, "os.kernel")["data"]["release"] == \
        run("uname", "-r").stdout.strip()
    assert check(doc, "os.arch")["data"]["arch"] == \
        run("uname", "-m").stdout.strip()
    assert check(doc, "privileges")["data"]["euid"] == os.geteuid()
    pid1 = pathlib.Path("/proc/1/comm").read_text().strip()
    assert check(doc, "systemd.pid1")["data"]["pid1"] == pid1


def test_preflight_held_port_is_an_error_naming_the_process(
        chatstack, tmp_path, listener):
    port, pid = listener
    path = answers(tmp_path)
    doc = preflight_json(chatstack, "--answers", path, "--offline")
    c = check(doc, "ports.free")
    assert c["status"] == "error"
    assert c["message"] == f"{port}/tcp is held by python3 (pid {pid})"
    assert f"components.chatd.port" in c["remedy"]
    assert doc["ok"] is False

    r = run(chatstack, "preflight", "--answers", path, "--offline")
    assert r.returncode == 1
    assert f"{port}/tcp is held by python3 (pid {pid})" in r.stdout
    assert "ERROR    ports.free" in r.stdout


def test_preflight_waiver_turns_held_port_into_warning_with_reason(
        chatstack, tmp_path, listener):
    port, pid = listener
    path = answers(tmp_path, waive=[("ports.free", "shared lab port")])
    doc = preflight_json(chatstack, "--answers", path, "--offline")
    c = check(doc, "ports.free")
    assert c["status"] == "warning"
    assert c["status_unwaived"] == "error"
    assert c["waived"] is True
    assert c["waiver"] == "shared lab port"
    assert c["message"] == f"{port}/tcp is held by python3 (pid {pid})"
    assert doc["counts"]["waived"] == 1

    r = run(chatstack, "preflight", "--answers", path, "--offline")
    assert "WAIVED   ports.free" in r.stdout
    assert "waived: shared lab port (an error, shown as a warning)" \
        in r.stdout


def test_preflight_as_a_user_says_root_is_needed_and_who_it_cannot_see(
        chatstack, listener):
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run as another user")
    port, pid = listener
    d = pathlib.Path(tempfile.mkdtemp(prefix="cs-preflight-"))
    try:
        d.chmod(0o755)
        path = answers(d)
        os.chown(path, 65534, 65534)
        r = run("setpriv", "--reuid=65534", "--regid=65534",
                "--clear-groups", chatstack, "preflight", "--json",
                "--offline", "--answers", path)
    finally:
        shutil.rmtree(d)
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    c = check(doc, "privileges")
    assert c["status"] == "error"
    assert c["data"]["euid"] == 65534
    c = check(doc, "ports.free")
    assert c["status"] == "error"
    assert c["message"] == \
        f"{port}/tcp is held by a process this user cannot see"
    assert "run preflight as root" in c["remedy"]


def test_preflight_ports_free_once_the_listener_is_gone(chatstack, tmp_path):
    doc = preflight_json(chatstack, "--answers", answers(tmp_path),
                         "--offline")
    assert check(doc, "ports.free")["status"] == "pass"


def test_preflight_refuses_a_waiver_of_an_unknown_check(chatstack, tmp_path):
    path = answers(tmp_path, waive=[("cpu.everything", "just go")])
    r = run(chatstack, "preflight", "--answers", path)
    assert r.returncode == 1
    assert "a waiver names 'cpu.everything', which is not a preflight check" \
        in r.stderr
    assert r.stdout == ""


def test_preflight_fixture_root_exit_code_follows_errors(chatstack, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(FIXTURE, root, symlinks=True)
    r = run(chatstack, "preflight", "--root", str(root))
    assert r.returncode == 0, r.stdout
    assert "0 errors" in r.stdout

    (root / "proc" / "1" / "comm").write_text("tini\n")
    r = run(chatstack, "preflight", "--root", str(root))
    assert r.returncode == 1
    assert "PID 1 is 'tini', not systemd" in r.stdout
    doc = preflight_json(chatstack, "--root", str(root))
    assert check(doc, "systemd.pid1")["status"] == "error"
    assert check(doc, "cpu.cores")["data"]["cores"] == 8


def tree_state(root):
    """Every path under root with its type, size, mode and mtime."""
    state = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        state[str(p.relative_to(root))] = (st.st_mode, st.st_size,
                                           st.st_mtime_ns)
    return state


def test_preflight_changes_nothing_under_its_root(chatstack, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(FIXTURE, root, symlinks=True)
    before = tree_state(root)
    time.sleep(0.01)
    run(chatstack, "preflight", "--root", str(root))
    run(chatstack, "preflight", "--json", "--root", str(root))
    assert tree_state(root) == before


def test_preflight_table_has_colour_only_on_a_terminal(chatstack, tmp_path):
    r = run(chatstack, "preflight", "--root", str(FIXTURE))
    assert "\033[" not in r.stdout
    if shutil.which("script") is None:
        pytest.skip("'script' (bsdutils) is not installed to make a tty")
    cmd = f"{chatstack} preflight --root {FIXTURE}"
    r = run("script", "-qec", cmd, "/dev/null")
    assert "\033[32mok" in r.stdout
    r = run("script", "-qec", cmd, "/dev/null", env={"NO_COLOR": "1"})
    assert "ok " in r.stdout
    assert "\033[" not in r.stdout


def test_preflight_json_events_carry_one_check_event_each(chatstack):
    r = run(chatstack, "--events", "json", "preflight", "--root",
            str(FIXTURE))
    assert r.returncode == 0
    events = [json.loads(line) for line in r.stdout.splitlines()]
    checks = [e for e in events if e["type"] == "check"]
    assert len(checks) == 17
    assert checks[0]["step"] == "privileges"
    assert checks[0]["data"]["status"] == "pass"


def test_preflight_usage_errors(chatstack):
    r = run(chatstack, "preflight", "--profile", "huge")
    assert r.returncode == 2
    assert "unknown profile 'huge'" in r.stderr
    r = run(chatstack, "preflight", "extra")
    assert r.returncode == 2


def test_preflight_bad_answer_file_names_the_line(chatstack, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("version: 1\nprofile: enormous\n")
    path.chmod(0o600)
    r = run(chatstack, "preflight", "--answers", str(path))
    assert r.returncode == 1
    assert f"{path}:2:" in r.stderr


def test_preflight_dns_lookup_that_never_answers_is_bounded(
        chatstack, tmp_path):
    """In a private network namespace (so port 53 is ours alone), a DNS
    server that never answers: the look-up gives up after its bound and
    the check says so, instead of hanging the install."""
    for tool in ("unshare", "ip", "mount"):
        if shutil.which(tool) is None:
            pytest.skip(f"'{tool}' is not installed")
    if os.geteuid() != 0:
        pytest.skip("needs root for a private network namespace")
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\noptions timeout:30 attempts:3\n")
    path = answers(tmp_path, hostname="chat.example.test")
    script = f"""
set -e
ip link set lo up
mount --bind {resolv} /etc/resolv.conf
/usr/bin/python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
time.sleep(60)' &
sleep 0.3
{chatstack} preflight --json --answers {path} || true
kill $!
"""
    r = subprocess.run(["unshare", "-mn", "sh", "-c", script],
                       capture_output=True, text=True, timeout=50)
    doc = json.loads(r.stdout)
    c = check(doc, "hostname.resolves")
    assert c["status"] == "warning", c
    assert c["message"] == \
        "looking up 'chat.example.test' took longer than 3000 ms"
    assert "/etc/resolv.conf" in c["remedy"]


@pytest.mark.parametrize("v6only,status", [(1, "pass"), (0, "error")])
def test_preflight_ipv6_wildcard_collides_only_when_dual_stack(
        chatstack, tmp_path, v6only, status):
    """[::]:PORT with IPV6_V6ONLY leaves 127.0.0.1:PORT free; without it,
    it holds IPv4 too."""
    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
        s.bind(("::", BASE + 1))  # MariaDB's port in answers()
        s.listen()
        doc = preflight_json(chatstack, "--answers", answers(tmp_path),
                             "--offline")
    finally:
        s.close()
    c = check(doc, "ports.free")
    assert c["status"] == status, c
    if status == "error":
        assert c["message"].startswith(f"{BASE + 1}/tcp is held by python3")
