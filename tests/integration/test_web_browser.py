"""The web client in headless Chromium: two users register, become
friends and chat in real time through nginx in front of chatd, with
MariaDB, Redis and RabbitMQ started on loopback (ports 25100-25130).
The browser side is tests/browser/chat.test.mjs (playwright-core)."""

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

TOP = pathlib.Path(__file__).resolve().parents[2]
BROWSER = TOP / "tests" / "browser"
sys.path.insert(0, str(BROWSER))

import webstack as stack  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
BASE_PORT = 25100


def need_tools():
    for path, why in ((CHROMIUM, "chromium (Debian package) is not installed"),
                      (shutil.which("node"), "node is not installed"),
                      (shutil.which("npm"), "npm is not installed")):
        if not path or not os.access(path, os.X_OK):
            pytest.skip(why)


def npm_ready():
    """Installs playwright-core from package-lock.json if it is missing."""
    if (BROWSER / "node_modules" / "playwright-core").is_dir():
        return
    r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BROWSER,
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        pytest.skip(f"npm ci failed (registry unreachable?): {r.stderr[-300:]}")


@pytest.fixture(scope="module")
def chat_stack():
    need_tools()
    missing = stack.missing_binaries(with_chatd=True)
    if missing:
        pytest.skip(f"cannot start the chat stack, missing: {', '.join(missing)}")
    npm_ready()
    s = stack.Stack(BASE_PORT)
    try:
        s.start()
    except stack.StackError as e:
        s.stop()
        pytest.skip(f"the chat stack did not start: {e}")
    yield s
    s.stop()


def test_web_two_users_chat_in_real_time(chat_stack, tmp_path):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "HOME": str(tmp_path), "CHAT_URL": chat_stack.url,
           "ARTIFACTS": str(tmp_path)}
    r = subprocess.run(["node", "chat.test.mjs"], cwd=BROWSER, env=env,
                       capture_output=True, text=True, timeout=300)
    print(r.stdout)
    print(r.stderr)
    if r.returncode != 0:
        for name in ("chatd1", "nginx"):
            print(f"--- {name} log ---\n{chat_stack.log(name)}")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "all steps passed" in r.stdout
