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


def test_subcommand_usage_errors_name_the_command_and_the_option(chatstack):
    cases = [
        (["answers", "validate"], "chatstack answers validate: "
         "takes one answer FILE"),
        (["answers", "example", "x"], "chatstack answers example: "),
        (["bundle", "verify", "--bogus"], "chatstack bundle verify: "
         "unknown option '--bogus'"),
        (["certs", "ensure", "--bogus"], "chatstack certs ensure: "
         "unknown option '--bogus'"),
        (["certs", "ensure", "--hostname"], "chatstack certs ensure: "
         "option '--hostname' needs a value"),
        (["preflight", "--bogus"], "chatstack preflight: "
         "unknown option '--bogus'"),
        (["preflight", "--answers"], "chatstack preflight: "
         "option '--answers' needs a value"),
        (["install", "--bogus"], "chatstack install: "
         "unknown option '--bogus'"),
        (["plan", "--answers"], "chatstack plan: "
         "option '--answers' needs a value"),
        # The engine's commands share one parser; each takes only its own.
        (["status", "--purge"], "chatstack status: "
         "option '--purge' does not apply to this command"),
        (["verify", "--yes"], "chatstack verify: "
         "option '--yes' does not apply to this command"),
        (["uninstall", "--no-verify"], "chatstack uninstall: "
         "option '--no-verify' does not apply to this command"),
        (["plan", "-y"], "chatstack plan: "
         "option '-y' does not apply to this command"),
    ]
    for args, first in cases:
        r = run(chatstack, *args)
        assert r.returncode == 2, args
        lines = r.stderr.splitlines()
        # One sentence, then where help is; nothing from getopt itself.
        assert lines[0].startswith(first), (args, r.stderr)
        path = first.split(":")[0]
        assert lines[1] == f"Run '{path} --help' for usage.", r.stderr
        assert len(lines) == 2, r.stderr


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
