"""The test-target infrastructure itself (scripts/target): a target boots
with systemd as PID 1, runs commands with their exit code and stdio, takes
copies of host files, and stops cleanly."""


def test_target_boots_systemd_as_pid1(target):
    r = target.run("systemctl", "is-system-running")
    assert r.stdout.strip() in ("running", "degraded")
    r = target.run("cat", "/proc/1/comm")
    assert r.stdout.strip() == "systemd"


def test_target_exec_passes_exit_code_and_stdio(target):
    r = target.run("sh", "-c", "cat; echo err >&2; exit 7", input="hello\n")
    assert r.returncode == 7
    assert r.stdout == "hello\n"
    assert r.stderr == "err\n"


def test_target_copy_puts_files_inside(target, tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_text("content\n")
    (tmp_path / "d" / "f").chmod(0o640)
    target.copy(tmp_path / "d", "/opt/here")
    r = target.run("stat", "-c", "%a %n", "/opt/here/f")
    assert r.stdout.strip() == "640 /opt/here/f"
    target.copy(tmp_path / "d" / "f", "/root")
    assert target.run("cat", "/root/f").stdout == "content\n"


def test_target_stop_ends_the_container(target):
    root = target.root
    target.stop()
    assert (root / "etc" / "debian_version").exists()
    r = target.run("true")
    assert r.returncode != 0
    assert "not running" in r.stderr


def test_target_offline_has_no_apt_source_and_no_network(target_factory):
    t = target_factory(offline=True)
    r = t.run("sh", "-c", "cat /etc/apt/sources.list; "
              "ls /etc/apt/sources.list.d")
    assert r.stdout.strip() == ""
    r = t.run("find", "/var/lib/apt/lists", "-maxdepth", "1", "-type", "f",
              "!", "-name", "lock")
    assert r.stdout == ""
    r = t.run("ip", "-o", "link")
    names = [line.split(":")[1].strip() for line in r.stdout.splitlines()]
    assert names == ["lo"]
