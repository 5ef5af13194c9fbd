"""chat-bench's own promises that need no server: loopback only, a usage
error for bad options, a --help that says what it does."""

import os
import pathlib
import subprocess

import pytest

TOP = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("BUILD", TOP / "build"))
BENCH = BUILD / "chat-bench"


@pytest.fixture
def bench():
    if not os.access(BENCH, os.X_OK):
        pytest.fail(f"{BENCH} is not built; run make first")
    return str(BENCH)


def run(bench, *args):
    return subprocess.run([bench, *args], capture_output=True, text=True,
                          timeout=30)


@pytest.mark.parametrize("url", ["http://10.1.2.3:8081", "http://192.168.0.1",
                                 "http://[2001:db8::1]:80"])
def test_web_bench_refuses_non_loopback_addresses(bench, url):
    r = run(bench, "--url", url)
    assert r.returncode == 2
    assert "not a loopback address" in r.stderr


def test_web_bench_refuses_https_and_paths(bench):
    assert run(bench, "--url", "https://127.0.0.1:443").returncode == 2
    r = run(bench, "--url", "http://127.0.0.1:8081/api")
    assert r.returncode == 2 and "no path" in r.stderr


def test_web_bench_rejects_bad_options(bench):
    r = run(bench, "--url", "http://127.0.0.1:1", "--mode", "storm")
    assert r.returncode == 2 and "idle, direct or group" in r.stderr
    r = run(bench, "--url", "http://127.0.0.1:1", "--users", "3")
    assert r.returncode == 2 and "even" in r.stderr
    r = run(bench, "--url", "http://127.0.0.1:1", "--duration", "99999")
    assert r.returncode == 2


def test_web_bench_help_describes_limits_and_figures(bench):
    r = run(bench, "--help")
    assert r.returncode == 0
    for words in ("loopback", "--rate", "--duration", "lost", "p99",
                  "Exit status"):
        assert words in r.stdout


def test_web_bench_reports_connection_failure(bench):
    # Nothing listens on this port of the web engineer's range.
    r = run(bench, "--url", "http://127.0.0.1:25999", "--users", "2",
            "--duration", "1")
    assert r.returncode == 1
    assert "cannot register a user" in r.stderr
