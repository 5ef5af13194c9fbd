"""The chatstack command line, run as a user would run it."""
import json
import subprocess


def run(*args, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, **kw)


def test_help_lists_every_command(chatstack):
    r = run(chatstack, "--help")
    assert r.returncode == 0
    for name in ("preflight", "plan", "install", "status", "verify",
                 "uninstall", "answers", "bundle", "certs", "remote",
                 "version"):
        assert f"  {name} " in r.stdout


def test_every_command_has_help(chatstack):
    for name in ("preflight", "plan", "install", "status", "verify",
                 "uninstall", "answers", "bundle", "certs", "remote",
                 "version"):
        r = run(chatstack, name, "--help")
        assert r.returncode == 0, name
        assert r.stdout.startswith(f"usage: chatstack {name}"), name


def test_unknown_command_is_usage_error(chatstack):
    r = run(chatstack, "frobnicate")
    assert r.returncode == 2
    assert "unknown command 'frobnicate'" in r.stderr


def test_no_command_is_usage_error(chatstack):
    r = run(chatstack)
    assert r.returncode == 2
    assert "usage: chatstack" in r.stderr


def test_bad_events_value_is_usage_error(chatstack):
    r = run(chatstack, "--events", "xml", "version")
    assert r.returncode == 2
    assert "'text' or 'json'" in r.stderr


def test_version_matches_version_file(chatstack):
    import pathlib
    want = (pathlib.Path(__file__).parents[2] / "VERSION").read_text().strip()
    r = run(chatstack, "version")
    assert r.returncode == 0
    assert r.stdout == f"chatstack {want}\n"


def test_log_file_is_private(chatstack, tmp_path):
    log = tmp_path / "install.log"
    r = run(chatstack, "--log-file", str(log), "version")
    assert r.returncode == 0
    assert log.exists()
    assert (log.stat().st_mode & 0o777) == 0o600
