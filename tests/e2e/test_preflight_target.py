"""chatstack preflight inside a fresh Debian 12 target with systemd as
PID 1: its JSON compared with what nproc, free, df and /etc/os-release say
there, and a port held inside the target named by its process."""
import json
import os
import pathlib
import shutil
import subprocess

import pytest

TOP = pathlib.Path(__file__).resolve().parents[2]
# Our own port range (24000-24999); 242xx for this file. Targets share the
# host's network, so these must not be used by anything else.
BASE = 24200
DEST = "/opt/cs-preflight"
# glibc comes from the target itself; everything else is copied in.
SYSTEM_LIBS = ("libc.so", "libm.so", "ld-linux", "libpthread.so",
               "libdl.so", "librt.so", "linux-vdso")

pytestmark = pytest.mark.skipif(
    not (TOP / "scripts" / "target").exists(),
    reason="scripts/target is missing (it comes with the bundles work)")

ANSWERS = f"""version: 1
profile: small
hostname: localhost
bind_address: 127.0.0.1
components:
  mariadb: {{ port: {BASE + 1} }}
  redis: {{ port: {BASE + 2} }}
  rabbitmq: {{ port: {BASE + 3}, dist_port: {BASE + 4}, epmd_port: {BASE + 5} }}
  chatd: {{ instances: 2, port: {BASE + 6} }}
  nginx: {{ http_port: {BASE + 8}, https_port: {BASE + 9} }}
"""


def install(target, chatstack, tmp_path):
    """Copies chatstack and the libraries it needs (bar glibc) in."""
    stage = tmp_path / "stage"
    (stage / "lib").mkdir(parents=True)
    (stage / "bin").mkdir()
    shutil.copy2(chatstack, stage / "bin" / "chatstack")
    out = subprocess.run(["ldd", chatstack], capture_output=True,
                         text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split("=>")
        if len(parts) != 2 or not parts[1].strip().startswith("/"):
            continue
        name, path = parts[0].strip(), parts[1].split()[0]
        if any(name.startswith(s) for s in SYSTEM_LIBS):
            continue
        shutil.copy2(os.path.realpath(path), stage / "lib" / name)
    (stage / "site.yaml").write_text(ANSWERS)
    (stage / "site.yaml").chmod(0o600)
    target.copy(stage, DEST)


def preflight(target, *extra):
    r = target.run("env", f"LD_LIBRARY_PATH={DEST}/lib",
                   f"{DEST}/bin/chatstack", "preflight", "--json",
                   "--profile", "small", "--offline", "--answers",
                   f"{DEST}/site.yaml", *extra)
    assert r.returncode in (0, 1), r.stderr
    doc = json.loads(r.stdout)
    assert r.returncode == (0 if doc["ok"] else 1)
    return {c["id"]: c for c in doc["checks"]}, doc


def test_preflight_json_in_a_debian12_target_matches_its_tools(
        target, chatstack, tmp_path):
    install(target, chatstack, tmp_path)
    checks, doc = preflight(target)
    assert doc["profile"] == "small"

    # A fresh Debian 12 with systemd: these must simply pass.
    for cid in ("privileges", "os.distro", "os.arch", "systemd.pid1",
                "existing.services", "ports.free", "cpu.cores",
                "memory.total"):
        assert checks[cid]["status"] == "pass", checks[cid]

    nproc = int(target.run("nproc", check=True).stdout)
    assert checks["cpu.cores"]["data"]["cores"] == nproc

    free = target.run("free", "-b", check=True).stdout.splitlines()
    assert checks["memory.total"]["data"]["total_bytes"] == \
        int(free[1].split()[1])
    assert checks["swap"]["data"]["total_bytes"] == int(free[2].split()[1])

    for fs in checks["disk.free"]["data"]["filesystems"]:
        df = target.run("df", "-B1", "--output=size,avail,itotal,iavail",
                        fs["checked"], check=True).stdout.splitlines()
        size, avail, itotal, iavail = map(int, df[1].split())
        assert fs["total_bytes"] == size
        assert abs(fs["avail_bytes"] - avail) < 256 << 20
        assert fs["total_inodes"] == itotal
        assert abs(fs["avail_inodes"] - iavail) < 100000

    rel = target.run("cat", "/etc/os-release", check=True).stdout
    rel = dict(line.split("=", 1) for line in rel.splitlines() if "=" in line)
    assert checks["os.distro"]["data"]["id"] == rel["ID"].strip('"')
    assert checks["os.distro"]["data"]["version_id"] == \
        rel["VERSION_ID"].strip('"')
    assert checks["os.kernel"]["data"]["release"] == \
        target.run("uname", "-r", check=True).stdout.strip()
    assert checks["systemd.pid1"]["data"]["pid1"] == "systemd"

    # The table an operator reads, from the same run of checks.
    r = target.run("env", f"LD_LIBRARY_PATH={DEST}/lib",
                   f"{DEST}/bin/chatstack", "preflight", "--profile",
                   "small", "--offline", "--answers", f"{DEST}/site.yaml")
    assert r.returncode == (0 if doc["ok"] else 1), r.stdout
    assert "ok       systemd.pid1        PID 1 is systemd" in r.stdout
    assert "preflight (small profile):" in r.stdout


def test_preflight_in_a_target_names_the_process_holding_a_port(
        target, chatstack, tmp_path):
    install(target, chatstack, tmp_path)
    port = BASE + 6
    # systemd-socket-activate listens without starting anything until a
    # connection comes: a real listener from the minimal system.
    r = target.run(
        "sh", "-c",
        f"systemd-socket-activate -l 127.0.0.1:{port} true "
        f">/dev/null 2>&1 & echo $!; "
        f"for i in 1 2 3 4 5 6 7 8 9 10; do "
        f"grep -qi ':{port:04X} 00000000:0000 0A' /proc/net/tcp && break; "
        f"sleep 0.2; done")
    pid = int(r.stdout.split()[0])
    checks, doc = preflight(target)
    c = checks["ports.free"]
    assert c["status"] == "error"
    assert c["message"] == \
        f"{port}/tcp is held by systemd-socket-activate (pid {pid})"
    assert doc["ok"] is False
    target.run("kill", str(pid))
